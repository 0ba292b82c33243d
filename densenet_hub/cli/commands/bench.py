"""`densenet-hub bench inference|startup`: densenet_hub against its peers on
this machine, alternating in one run, with medians, spreads and ratios.

Peers that are not installed (KerasHub, torchvision, ONNX Runtime, OpenVINO)
are named as skipped. Results are for random weights; record them with the
command, versions and machine in BENCHMARKS.md.
"""

import json
import pathlib

from densenet_hub.profiling import inference
from densenet_hub.profiling import startup
from densenet_hub.profiling.configs import DEPTHS
from densenet_hub.cli import shell


def register(subparsers):
    """Adds the `bench` command to `subparsers`."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark inference speed and start-up against peers",
        description="Benchmarks densenet_hub against KerasHub (same Keras "
        "backend), keras.applications, ONNX Runtime and OpenVINO on our ONNX "
        "export, and torchvision when installed. Candidates run alternately "
        "after warm-up; medians and spreads are printed with ratios.",
    )
    modes = parser.add_subparsers(title="modes", metavar="MODE", required=True)

    infer = modes.add_parser("inference", help="images/s at each depth, size and batch")
    _add_common(infer)
    infer.add_argument("--sizes", type=shell.positive_int, nargs="+", default=[224])
    infer.add_argument("--batches", type=shell.positive_int, nargs="+", default=[1, 16])
    infer.add_argument(
        "--candidates",
        nargs="+",
        choices=inference.CANDIDATES,
        default=list(inference.CANDIDATES),
        help="what to run (default: all)",
    )
    infer.add_argument("--rounds", type=shell.positive_int, default=5)
    infer.add_argument(
        "--min-seconds",
        type=shell.positive_float,
        default=2.0,
        help="each timing repeats calls for at least this long (default 2)",
    )
    infer.set_defaults(run=_run_inference)

    start = modes.add_parser("startup", help="import + build + first prediction")
    _add_common(start)
    start.add_argument("--size", type=shell.positive_int, default=224)
    start.add_argument(
        "--candidates",
        nargs="+",
        choices=startup.CANDIDATES,
        default=list(startup.CANDIDATES),
    )
    start.add_argument("--repeats", type=shell.positive_int, default=3)
    start.set_defaults(run=_run_startup)


def _add_common(parser):
    parser.add_argument(
        "--depths",
        type=int,
        nargs="+",
        choices=sorted(DEPTHS),
        default=[121],
        help="DenseNet depths (default 121)",
    )
    parser.add_argument("--json", default=None, help="also write the results to this file")


def _run_inference(args):
    results = inference.run(
        args.depths, args.sizes, args.batches, args.candidates, args.rounds, args.min_seconds
    )
    _write_json(args.json, results)
    return 0


def _run_startup(args):
    results = {}
    for depth in args.depths:
        results[depth] = startup.run(args.candidates, depth, args.size, args.repeats)
    _write_json(args.json, results)
    return 0


def _write_json(path, results):
    if path:
        pathlib.Path(path).write_text(json.dumps(results, indent=2) + "\n")
