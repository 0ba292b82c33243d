"""`densenet-hub serve PRESET`: serves a classifier over HTTP (the Open
Inference Protocol v2, an image-upload route with Grad-CAM, metrics and a web
page) until Ctrl-C or SIGTERM, which finish the requests in flight.
PRESET may also be a folder `densenet-hub quantize` wrote. `--ray-replicas N`
serves it from N Ray Serve replicas instead."""

import argparse
import os
import signal

from densenet_hub.cli import shell
from densenet_hub.base.choices import PRECISIONS
from densenet_hub.base.choices import RUNTIMES
from densenet_hub.serving import settings


def register(subparsers):
    """Adds the `serve` command to `subparsers`."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a classifier over HTTP (Open Inference Protocol v2, web page)",
        description="Serves a classifier preset, or a folder written by "
        "`densenet-hub quantize`, on http://HOST:PORT: the Open Inference "
        "Protocol v2 (GET /v2/health/ready, GET /v2/models/NAME, POST "
        "/v2/models/NAME/infer, callable by KServe and Triton clients), POST "
        "/classify for an image file (top classes or findings with their "
        "thresholds; Grad-CAM with ?grad_cam=true), GET /metrics (Prometheus) "
        "and a web page at /. Concurrent requests are run together in "
        "batches. Listens on 127.0.0.1 (this machine only) unless --host says "
        "otherwise; the server has no authentication. Ctrl-C or SIGTERM stop "
        "it after the requests in flight. Needs pip install 'densenet-hub[serve]'. "
        "With --ray-replicas N the same server runs as N replicas on Ray Serve "
        "(a private Ray on this machine, or a cluster with --ray-address), each "
        "answer naming its replica in the x-densenet-hub-replica header.",
    )
    parser.add_argument(
        "preset",
        help="classifier preset (built-in name, handle or folder), or a folder "
        "written by `densenet-hub quantize`",
    )
    parser.add_argument(
        "--host", default=settings.DEFAULT_HOST,
        help=f"address to listen on (default {settings.DEFAULT_HOST}, this machine only)",
    )  # fmt: skip
    parser.add_argument(
        "--port", type=shell.non_negative_int, default=settings.DEFAULT_PORT,
        help=f"TCP port (default {settings.DEFAULT_PORT}; 0 for any free one)",
    )  # fmt: skip
    parser.add_argument(
        "--name", default=None,
        help="the model's name in the URLs (default: the preset's or folder's name)",
    )  # fmt: skip
    parser.add_argument(
        "--max-batch", type=shell.positive_int, default=settings.DEFAULT_MAX_BATCH,
        help=f"most images run together (default {settings.DEFAULT_MAX_BATCH})",
    )  # fmt: skip
    parser.add_argument(
        "--max-wait-ms", type=_non_negative_float, default=settings.DEFAULT_MAX_WAIT_MS,
        help="how long a batch's first image waits for others, in milliseconds "
        f"(default {settings.DEFAULT_MAX_WAIT_MS:g})",
    )  # fmt: skip
    parser.add_argument(
        "--max-queue", type=shell.positive_int, default=settings.DEFAULT_MAX_QUEUE,
        help="most images waiting for a batch; more get 503 (default "
        f"{settings.DEFAULT_MAX_QUEUE})",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=shell.positive_float, default=settings.DEFAULT_TIMEOUT_S,
        help="seconds a request may take; later ones get 504 (default "
        f"{settings.DEFAULT_TIMEOUT_S:g})",
    )  # fmt: skip
    parser.add_argument(
        "--max-body-mb", type=shell.positive_float,
        default=settings.DEFAULT_MAX_BODY_BYTES / 2**20,
        help="largest request body in MiB; larger ones get 413 (default "
        f"{settings.DEFAULT_MAX_BODY_BYTES / 2**20:g})",
    )  # fmt: skip
    parser.add_argument(
        "--max-pixels", type=shell.positive_int, default=settings.DEFAULT_MAX_PIXELS,
        help="most pixels (height x width) of an image; larger ones get 400 "
        f"(default {settings.DEFAULT_MAX_PIXELS:,})",
    )  # fmt: skip
    parser.add_argument(
        "--runtime", choices=RUNTIMES, default=None,
        help="run a preset on ONNX Runtime or OpenVINO (about twice as fast on "
        "a CPU; Grad-CAM still uses Keras); a quantized folder runs on its own",
    )  # fmt: skip
    parser.add_argument(
        "--precision", choices=[p for p in PRECISIONS if p != "int8"], default="float32",
        help="float32 (default), or bfloat16 with --runtime openvino; for int8 "
        "serve a folder `densenet-hub quantize` wrote",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    parser.add_argument(
        "--ray-replicas", type=shell.positive_int, default=None, metavar="N",
        help="serve from N replicas on Ray Serve behind its HTTP proxy on --host "
        "and --port, each running this same server (needs pip install "
        "'densenet-hub[serve,ray]'); without --ray-address a private Ray starts "
        "on this machine (127.0.0.1) and stops with the server",
    )  # fmt: skip
    parser.add_argument(
        "--ray-address", default=None, metavar="ADDRESS",
        help="with --ray-replicas: join this Ray cluster ('auto', or the head's "
        "host:port) instead of starting one; the preset must be readable on its nodes",
    )  # fmt: skip
    parser.add_argument(
        "--ray-cpus", type=_non_negative_float, default=1.0, metavar="CPUS",
        help="with --ray-replicas: CPUs Ray reserves for each replica (default 1; "
        "0.5 lets two share one)",
    )  # fmt: skip
    parser.set_defaults(run=run)


def run(args):
    # The serve extra is imported only when serving, so that the other
    # commands work without it.
    from densenet_hub.serving import create_app
    from densenet_hub.serving import serve

    options = {
        "name": args.name,
        "runtime": args.runtime,
        "precision": args.precision,
        "max_batch": args.max_batch,
        "max_wait_ms": args.max_wait_ms,
        "max_queue": args.max_queue,
        "timeout_s": args.timeout,
        "max_body_bytes": int(args.max_body_mb * 2**20),
        "max_pixels": args.max_pixels,
    }
    if args.ray_replicas is not None:
        return _run_on_ray(args, options)
    if args.ray_address is not None:
        raise shell.CliError(
            "--ray-address joins a Ray cluster to serve from replicas there; "
            "add --ray-replicas N, or drop --ray-address."
        )
    app = create_app(args.preset, **options)
    model = app.state.served_model
    print(
        f"serving {model.name!r} ({model.num_classes} classes, {model.platform}): "
        f"POST /v2/models/{model.name}/infer, POST /classify, GET /metrics, "
        "the web page at /; Ctrl-C stops",
        flush=True,
    )
    serve(app, args.host, args.port, access_log=not args.quiet)
    return 0


def _run_on_ray(args, options):
    from densenet_hub.serving.ray_deployment import ReplicaStartError
    from densenet_hub.serving.ray_deployment import serve_on_ray

    def announce(deployment):
        logs = f"; Ray's logs in {deployment.temp_dir}" if deployment.temp_dir else ""
        print(
            f"serving {deployment.name!r} from {args.ray_replicas} Ray Serve replicas on "
            f"{deployment.url}: POST /v2/models/{deployment.name}/infer, POST /classify, "
            f"GET /metrics, the web page at /{logs}; Ctrl-C stops",
            flush=True,
        )

    try:
        received = serve_on_ray(
            args.preset, on_ready=announce, replicas=args.ray_replicas,
            address=args.ray_address, host=args.host, port=args.port,
            num_cpus=args.ray_cpus, **options,
        )  # fmt: skip
    except ReplicaStartError as error:
        raise shell.CliError(str(error)) from None
    # Ends by the signal, as the plain server does, so a supervisor sees why.
    signal.signal(received, signal.SIG_DFL)
    os.kill(os.getpid(), received)
    return 0


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value
