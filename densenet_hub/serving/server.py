"""Running the app under uvicorn: in the foreground until Ctrl-C or SIGTERM
(`serve`), or in a background thread of this process (`ServerThread`, for
notebooks, tests and benchmarks). Both finish the requests in flight before
they stop."""

import ipaddress
import socket
import threading
import time
import warnings

from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional
from densenet_hub.serving.app import create_app
from densenet_hub.serving.settings import DEFAULT_HOST
from densenet_hub.serving.settings import DEFAULT_PORT
from densenet_hub.serving.settings import SHUTDOWN_GRACE_S



class ExposedServerWarning(UserWarning):
    """The server listens on an address other machines can reach."""


def serve(app_or_model, host=DEFAULT_HOST, port=DEFAULT_PORT, *, log_level="info",
          access_log=True, **app_options):  # fmt: skip
    """Serves `app_or_model` over HTTP until Ctrl-C or SIGTERM, then stops
    taking connections, finishes the requests in flight and returns.

    Args:
        app_or_model: an app `create_app` made, or what it takes (a preset,
            an accelerated folder, a model).
        host: the address to listen on; the default, 127.0.0.1, is reached
            from this machine only. Another address warns
            (`ExposedServerWarning`): the server has no authentication.
        port: the TCP port; 0 for any free one.
        log_level: uvicorn's log level.
        access_log: log one line per request.
        **app_options: `create_app`'s options when `app_or_model` is not an
            app yet.

    Example:
    ```python
    from densenet_hub.serving import serve

    # Blocks until Ctrl-C; ServerThread runs the same in the background.
    # serve("densenet_121_imagenet", port=8000, max_batch=16, max_wait_ms=5)
    ```
    """
    uvicorn = _uvicorn()
    app = _app(app_or_model, app_options)
    warn_if_exposed(host)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=access_log,
        timeout_graceful_shutdown=_grace(app),
    )  # fmt: skip
    uvicorn.Server(config).run()


class ServerThread:
    """An app served by uvicorn in a background thread of this process, on
    127.0.0.1 and a free port unless told otherwise.

    Args:
        app_or_model: as for `serve`.
        host: the address to listen on.
        port: the port; 0 (default) for a free one, chosen before start.
        **app_options: `create_app`'s options.

    Attributes:
        url: `http://host:port`, once started.
        app: the app served.

    Example:
    ```python
    import httpx
    import densenet_hub
    from densenet_hub.serving import ServerThread

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    with ServerThread(classifier, name="tiny") as server:
        answer = httpx.get(f"{server.url}/v2/models/tiny").json()
    assert answer["outputs"][0]["shape"] == [-1, 3]
    ```
    """

    def __init__(self, app_or_model, host=DEFAULT_HOST, port=0, **app_options):
        uvicorn = _uvicorn()
        self.app = _app(app_or_model, app_options)
        warn_if_exposed(host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Bound here, so that the port is known and cannot be taken between
        # choosing and listening.
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        bound_port = self._socket.getsockname()[1]
        shown_host = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"http://{shown_host}:{bound_port}"
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False,
            timeout_graceful_shutdown=_grace(self.app),
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]},
            name=f"densenet-hub-server-{bound_port}", daemon=True,
        )  # fmt: skip

    def start(self, timeout_s=60.0):
        """Starts serving; returns once the server takes requests.

        Raises:
            RuntimeError: the server did not start within `timeout_s`.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server on {self.url} did not start within {timeout_s:g} s; "
                    "see the log above for why."
                )
            time.sleep(0.01)
        return self

    def stop(self, timeout_s=None):
        """Stops as SIGTERM would: no new connections, the requests in
        flight finish, then the thread ends (waits at most `timeout_s`)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._socket.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def _uvicorn():
    return import_optional("uvicorn", extra_fix("serve"), "Serving")


def _app(app_or_model, app_options):
    if hasattr(app_or_model, "state") and hasattr(app_or_model.state, "served_model"):
        if app_options:
            raise ValueError(
                f"the app is already made; give {sorted(app_options)} to create_app "
                "instead, or pass the model here."
            )
        return app_or_model
    return create_app(app_or_model, **app_options)


def _grace(app):
    return int(app.state.timeout_s + SHUTDOWN_GRACE_S)


def warn_if_exposed(host):
    """Warns (`ExposedServerWarning`) when `host` is an address other
    machines may reach: the server has no authentication or TLS.

    Example:
    ```python
    import warnings
    from densenet_hub.serving.server import ExposedServerWarning, warn_if_exposed

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_exposed("127.0.0.1")
        warn_if_exposed("0.0.0.0")
    assert [type(w.message) for w in caught] == [ExposedServerWarning]
    ```
    """
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        warnings.warn(
            ExposedServerWarning(
                f"listening on {host}, which other machines may reach; the server "
                "has no authentication or TLS: put it behind a proxy that has, or "
                "bind 127.0.0.1."
            ),
            stacklevel=3,
        )
