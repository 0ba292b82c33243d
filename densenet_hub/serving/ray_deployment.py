"""Serving on Ray Serve: the app `create_app` makes, run in several replicas
across a Ray cluster behind Serve's HTTP proxy, so one endpoint scales past
one process and one machine.

Each replica builds the same Starlette app as `densenet-hub serve` (the same
model loading, micro-batcher, limits, metrics and routes) as the ASGI
ingress of a Serve deployment, and marks its answers with its replica id and
process id (`x-densenet-hub-replica`, `x-densenet-hub-pid`). Needs the `ray`
extra besides `serve` (`pip install 'densenet-hub[serve,ray]'`).
"""

import contextlib
import importlib
import os
import pathlib
import re
import shutil
import signal
import socket
import tempfile
import threading
import uuid

from densenet_hub.base.optional import import_optional
from densenet_hub.presets.inspection import inspect
from densenet_hub.serving.app import check_limits
from densenet_hub.serving.app import create_app
from densenet_hub.serving.model import served_name
from densenet_hub.serving.server import warn_if_exposed
from densenet_hub.serving.settings import DEFAULT_HOST
from densenet_hub.serving.settings import DEFAULT_MAX_BATCH
from densenet_hub.serving.settings import DEFAULT_MAX_QUEUE
from densenet_hub.serving.settings import DEFAULT_PORT
from densenet_hub.serving.settings import DEFAULT_TIMEOUT_S
from densenet_hub.serving.settings import SHUTDOWN_GRACE_S

REPLICA_HEADER = "x-densenet-hub-replica"
PID_HEADER = "x-densenet-hub-pid"
# The options of create_app a replica takes; the model comes as a preset.
APP_OPTIONS = ("runtime", "precision", "labels", "max_batch", "max_wait_ms", "max_queue",
               "timeout_s", "max_body_bytes", "max_pixels", "warm_up")  # fmt: skip
# The closing line of a Python traceback, e.g. "ValueError: the preset ...".
_EXCEPTION_LINE = re.compile(r"^(?:\w+\.)*\w+(?:Error|Exception): .*(?:\n(?!\s*File ).*)*",
                             re.MULTILINE)  # fmt: skip
_LIMITS = ("max_batch", "max_wait_ms", "max_queue", "timeout_s", "max_body_bytes", "max_pixels")


def deploy_on_ray(preset, *, replicas=2, address=None, host=DEFAULT_HOST, port=DEFAULT_PORT,
                  name=None, num_cpus=1.0, **app_options):  # fmt: skip
    """Serves a classifier preset from `replicas` Ray Serve replicas, each
    running the app `create_app` makes, behind Serve's HTTP proxy on
    `http://host:port`; returns once every replica answers.

    With no `address` (and no `RAY_ADDRESS` in the environment) it starts
    a private Ray on this machine, on 127.0.0.1 with its own temporary
    folder and no dashboard, which `shutdown()` stops and deletes. With an
    address it joins that cluster and `shutdown()` removes only this
    application. The replicas run under this process's Keras backend
    (`KERAS_BACKEND` is passed to them) and need densenet_hub installed and
    the preset readable where they run (a built-in name or handle is
    downloaded by each node).

    Args:
        preset: a classifier preset (built-in name, handle or folder) or a
            folder `densenet-hub quantize` wrote; a model in memory is
            saved with `save_to_preset` first, so that replicas on other
            machines can load it.
        replicas: how many replicas to run.
        address: `None` (a private local Ray), `"auto"` (the Ray this
            machine runs) or a cluster's `host:port`.
        host, port: where Serve's HTTP proxy listens; port 0 picks a free
            one (on a cluster where Serve already runs, its own host and
            port stay as they are).
        name: the model's name in the URLs; default the preset's folder
            name, as `densenet-hub serve` names it.
        num_cpus: CPUs Ray reserves for each replica (a fraction shares
            CPUs between replicas).
        **app_options: `create_app`'s options (`runtime`, `precision`,
            `labels`, `max_batch`, `max_wait_ms`, `max_queue`, `timeout_s`,
            `max_body_bytes`, `max_pixels`, `warm_up`), applied in each
            replica.

    Returns:
        A `RayDeployment`; use it as a context manager, or call
        `shutdown()`.

    Raises:
        ValueError: a bad option, a preset that is not a path or name, or
            more CPUs asked of a private Ray than this machine has.
        RuntimeError: the replicas failed to start (Ray's error says why).

    Example:
    ```python
    from densenet_hub.serving.ray_deployment import deploy_on_ray

    # Starts a private Ray and two replicas (tens of seconds), then e.g.
    # with deploy_on_ray("densenet_121_imagenet", replicas=2, port=8000) as deployment:
    #     httpx.post(f"{deployment.url}/classify", content=jpeg_bytes).json()
    try:
        deploy_on_ray("densenet_121_imagenet", replicas=0)
    except ValueError as error:
        assert "replicas must be a positive integer, got 0" in str(error)
    ```
    """
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
        raise ValueError(f"deploy_on_ray: replicas must be a positive integer, got {replicas!r}.")
    if not isinstance(num_cpus, (int, float)) or not 0 <= num_cpus < float("inf"):
        raise ValueError(f"deploy_on_ray: num_cpus must be a number >= 0, got {num_cpus!r}.")
    unknown = sorted(set(app_options) - set(APP_OPTIONS))
    if unknown:
        raise ValueError(
            f"deploy_on_ray: unknown option(s) {', '.join(unknown)}; it takes "
            f"create_app's {', '.join(APP_OPTIONS)}."
        )
    check_limits(**{key: app_options[key] for key in _LIMITS if key in app_options})
    preset = _preset_for_replicas(preset)
    name = served_name(preset, name)
    warn_if_exposed(host)
    ray, serve = _ray()
    deployment = RayDeployment(name)
    try:
        deployment._connect(ray, address, replicas * num_cpus)
        port = port or _free_port(host)
        serve.start(http_options={"host": host, "port": port})
        shown_host = f"[{host}]" if ":" in host else host
        deployment.url = f"http://{shown_host}:{port}"
        if name in serve.status().applications:
            raise ValueError(
                f"an application named {name!r} already runs on this Ray cluster's "
                "Serve; pass another `name` (--name), or delete that one first."
            )
        deployment._deployed = True
        try:
            serve.run(
                _deployment(serve, preset, name, replicas, num_cpus, app_options).bind(),
                name=name, route_prefix="/",
            )  # fmt: skip
        except RuntimeError as error:
            raise ReplicaStartError(
                f"the Ray Serve replicas of {name!r} failed to start: "
                f"{_replica_error(serve, name) or error}"
            ) from error
    except BaseException:
        deployment.shutdown()
        raise
    return deployment


def serve_on_ray(preset, *, on_ready=None, **options):
    """Serves `preset` as `deploy_on_ray(preset, **options)` does until
    Ctrl-C or SIGTERM, then shuts down (the replicas finish the requests in
    flight) and returns the signal's number; a signal while the replicas
    start stops them as cleanly. Call from the main thread: it handles
    SIGINT and SIGTERM meanwhile.

    Args:
        preset: as for `deploy_on_ray`.
        on_ready: `None`, or called with the `RayDeployment` once every
            replica answers (e.g. to print its URL).
        **options: `deploy_on_ray`'s options.

    Example:
    ```python
    from densenet_hub.serving.ray_deployment import serve_on_ray

    # Blocks until Ctrl-C, as `densenet-hub serve PRESET --ray-replicas 2` does:
    # serve_on_ray("densenet_121_imagenet", replicas=2, on_ready=lambda d: print(d.url))
    try:
        serve_on_ray("densenet_121_imagenet", replicas=2, max_wait_ms=-1)
    except ValueError as error:
        assert "`max_wait_ms` must be a number >= 0, got -1" in str(error)
    ```
    """
    received = []
    stopped = threading.Event()
    starting = threading.Event()
    starting.set()

    def on_signal(signum, frame):
        received.append(signum)
        stopped.set()
        if starting.is_set():
            raise _Stopped()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    deployment = None
    try:
        deployment = deploy_on_ray(preset, **options)
        starting.clear()
        if on_ready is not None:
            on_ready(deployment)
        while not stopped.wait(1.0):
            pass
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if deployment is not None:
            deployment.shutdown()
    return received[0]


class _Stopped(BaseException):
    """A signal arrived while the replicas started (a BaseException, as
    KeyboardInterrupt, so that no `except Exception` on the way keeps it)."""


class ReplicaStartError(RuntimeError):
    """The Ray Serve replicas could not start; the message ends with the
    replica's own error (e.g. a preset without a classification head)."""


class RayDeployment:
    """A classifier served by Ray Serve replicas, as `deploy_on_ray` left it.

    Attributes:
        name: the model's name in the URLs, and the Serve application's.
        url: `http://host:port` of Serve's HTTP proxy.
        temp_dir: the private Ray's folder (its logs), or `None` when it
            joined a cluster.
    """

    def __init__(self, name):
        self.name = name
        self.url = None
        self.temp_dir = None
        self._own_ray = False
        self._connected = False
        self._deployed = False

    def _connect(self, ray, address, cpus_needed):
        if ray.is_initialized():
            raise RuntimeError(
                "this process is already connected to Ray; call ray.shutdown() first, "
                "or pass that cluster's address to deploy_on_ray instead."
            )
        address = address or os.environ.get("RAY_ADDRESS") or None
        namespace = f"densenet-hub-{uuid.uuid4().hex[:12]}"
        if address is None:
            # Short, as Ray's socket paths under it must stay under 108 bytes.
            self.temp_dir = tempfile.mkdtemp(prefix="dh-ray-", dir="/tmp")
            with _single_machine_ray(), _keeping_sigterm():
                ray.init(
                    address="local", namespace=namespace, include_dashboard=False,
                    _node_ip_address="127.0.0.1", _temp_dir=self.temp_dir,
                    log_to_driver=False,
                )  # fmt: skip
            self._own_ray = True
        else:
            # A cluster on this machine's loopback runs in single-machine
            # mode, or its processes could not be reached there.
            loopback = address.split(":")[0] in ("127.0.0.1", "localhost")
            with _single_machine_ray() if loopback else contextlib.nullcontext(), _keeping_sigterm():
                ray.init(address=address, namespace=namespace, log_to_driver=False)
        self._connected = True
        available = ray.cluster_resources().get("CPU", 0)
        if self._own_ray and cpus_needed > available:
            raise ValueError(
                f"the replicas need {cpus_needed:g} CPUs but this machine's Ray has "
                f"{available:g}; ask for fewer replicas, or a smaller num_cpus each "
                "(e.g. 0.5 to share a CPU between two)."
            )

    def shutdown(self):
        """Stops the replicas (they finish the requests in flight) and, for
        a private Ray, Ray itself, deleting its folder; on a joined cluster
        only this application goes."""
        ray, serve = _ray()
        if self._connected:
            if self._own_ray:
                serve.shutdown()
            elif self._deployed:
                serve.delete(self.name)
            ray.shutdown()
            self._connected = False
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.shutdown()


class _ReplicaHeaders:
    """The app, answering with the replica's id and process id in headers,
    so that a client (or a test) sees which replica served it."""

    def __init__(self, app, replica):
        self.app = app
        self.state = app.state
        self._headers = [(REPLICA_HEADER.encode(), replica.encode()),
                         (PID_HEADER.encode(), str(os.getpid()).encode())]  # fmt: skip

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_marked(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self._headers]}
            await send(message)

        await self.app(scope, receive, send_marked)


def _replica_app(preset, name, app_options):
    """What each replica runs: the app of the preset, marked with the
    replica's id."""
    _, serve = _ray()
    replica_id = serve.get_replica_context().replica_id
    app = create_app(preset, name=name, **app_options)
    return _ReplicaHeaders(app, str(getattr(replica_id, "unique_id", replica_id)))


def _deployment(serve, preset, name, replicas, num_cpus, app_options):
    import keras

    def build_app():
        return _replica_app(preset, name, app_options)

    max_batch = app_options.get("max_batch", DEFAULT_MAX_BATCH)
    max_queue = app_options.get("max_queue", DEFAULT_MAX_QUEUE)
    timeout_s = app_options.get("timeout_s", DEFAULT_TIMEOUT_S)
    return serve.deployment(
        serve.ingress(build_app)(),
        name=name,
        num_replicas=replicas,
        # Serve's own cap (5 by default) would keep batches below max_batch;
        # with room for a running batch and a full queue, the app's 503
        # answers an overload as it does without Ray.
        max_ongoing_requests=max_batch + max_queue,
        graceful_shutdown_timeout_s=timeout_s + SHUTDOWN_GRACE_S,
        ray_actor_options={
            "num_cpus": num_cpus,
            "runtime_env": {"env_vars": {"KERAS_BACKEND": keras.config.backend()}},
        },
    )


def _preset_for_replicas(preset):
    """The preset as the replicas load it: a local folder as an absolute
    path (a replica's working folder is not this one's)."""
    if not isinstance(preset, (str, os.PathLike)):
        raise ValueError(
            f"deploy_on_ray serves a preset (a built-in name, a handle or a folder), "
            f"got a {type(preset).__name__}; save the model with "
            "`save_to_preset(folder)` and pass the folder, which every replica loads."
        )
    found = inspect(preset, download=False)
    if found.kind is None and found.builtin is None and "://" not in str(preset):
        # An unknown name or a missing folder: refused here with the
        # loader's message (nothing to download), not in every replica.
        inspect(preset)
    if pathlib.Path(preset).is_dir():
        return str(pathlib.Path(preset).resolve())
    return str(preset)


@contextlib.contextmanager
def _keeping_sigterm():
    """Gives SIGTERM back to this process's handler once Ray has started:
    Ray installs its crash handler for it, which dumps a stack and aborts
    where a server should shut down. (A SIGTERM while `ray.init` runs
    still meets Ray's handler; Ray's processes die with this one.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def _single_machine_ray():
    """Ray's single-machine mode (its default on macOS and Windows) while a
    private Ray starts: without it Ray turns 127.0.0.1 into this machine's
    outward address and its processes talk over that. The switch is read
    by this process when Ray starts, and by Ray's processes (which inherit
    the environment) for their lifetime."""
    constants = importlib.import_module("ray._private.ray_constants")
    variable = constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    saved = constants.ENABLE_RAY_CLUSTER, os.environ.get(variable)
    constants.ENABLE_RAY_CLUSTER = False
    os.environ[variable] = "0"
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = saved[0]
        if saved[1] is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = saved[1]


def _replica_error(serve, name):
    """The last exception of the failed replicas' traceback, as Serve's
    status reports it, or `None`."""
    try:
        message = serve.status().applications[name].deployments[name].message
    except (KeyError, AttributeError):
        return None
    found = _EXCEPTION_LINE.findall(message or "")
    return found[-1].strip() if found else None


def _free_port(host):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _ray():
    fix = "pip install 'densenet-hub[serve,ray]'"
    return (import_optional("ray", fix, "Serving on Ray"),
            import_optional("ray.serve", fix, "Serving on Ray"))  # fmt: skip
