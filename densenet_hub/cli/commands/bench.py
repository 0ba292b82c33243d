"""`densenet-hub bench inference|startup`: densenet_hub against its peers on
this machine, alternating in one run, with medians, spreads and ratios.

Peers this machine or install cannot run (KerasHub, torchvision, ONNX
Runtime or OpenVINO not installed; bfloat16 without bfloat16 instructions)
are listed as skipped, with the reason. Results are for random weights;
record them with the command, versions and machine in BENCHMARKS.md.
"""

import functools
import json
import sys

from densenet_hub.base.choices import BENCH_DEPTHS
from densenet_hub.base.choices import BENCH_INFERENCE_CANDIDATES
from densenet_hub.base.choices import BENCH_STARTUP_CANDIDATES
from densenet_hub.base.publish import check_target
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file
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

    infer = modes.add_parser(
        "inference",
        help="images/s at each depth, size and batch",
        description="Times each candidate's inference on random images, in "
        "its own worker process, alternating over --rounds rounds; prints one "
        "table per depth, size and batch size, with ratios to KerasHub and "
        "to ONNX Runtime and OpenVINO on our export.",
    )
    _add_common(infer)
    infer.add_argument(
        "--sizes", type=shell.positive_int, nargs="+", default=[224],
        help="image sizes in pixels, square (default 224)",
    )  # fmt: skip
    infer.add_argument(
        "--batches", type=shell.positive_int, nargs="+", default=[1, 16],
        help="batch sizes (default 1 16)",
    )  # fmt: skip
    infer.add_argument(
        "--candidates",
        nargs="+",
        choices=BENCH_INFERENCE_CANDIDATES,
        default=list(BENCH_INFERENCE_CANDIDATES),
        help="what to run (default: all)",
    )
    infer.add_argument(
        "--rounds", type=shell.positive_int, default=5,
        help="timing rounds over all candidates; medians are taken over them (default 5)",
    )  # fmt: skip
    infer.add_argument(
        "--min-seconds",
        type=shell.positive_float,
        default=2.0,
        help="each timing repeats calls for at least this long (default 2)",
    )
    infer.set_defaults(run=_run_inference)

    start = modes.add_parser(
        "startup",
        help="import + build + first prediction",
        description="Measures import, build and first prediction of each "
        "candidate in fresh processes, alternating; prints the medians in "
        "seconds.",
    )
    _add_common(start)
    start.add_argument(
        "--size", type=shell.positive_int, default=224,
        help="the image size in pixels, square (default 224)",
    )  # fmt: skip
    start.add_argument(
        "--candidates",
        nargs="+",
        choices=BENCH_STARTUP_CANDIDATES,
        default=list(BENCH_STARTUP_CANDIDATES),
        help="what to run (default: all)",
    )
    start.add_argument(
        "--repeats", type=shell.positive_int, default=3,
        help="fresh processes per candidate; medians are taken over them (default 3)",
    )  # fmt: skip
    start.set_defaults(run=_run_startup)


def _add_common(parser):
    parser.add_argument(
        "--depths",
        type=int,
        nargs="+",
        choices=BENCH_DEPTHS,
        default=[121],
        help="DenseNet depths (default 121)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the results as JSON on stdout (the tables go to stderr)",
    )
    parser.add_argument("--out", default=None, help="also write the results as JSON to this file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def _run_inference(args):
    from densenet_hub.profiling import inference

    _check_out(args)
    results = inference.run(
        args.depths, args.sizes, args.batches, args.candidates, args.rounds, args.min_seconds,
        print_fn=_tables_printer(args),
    )  # fmt: skip
    return _report(args, results)


def _run_startup(args):
    from densenet_hub.profiling import startup

    _check_out(args)
    results = {}
    for depth in args.depths:
        results[depth] = startup.run(
            args.candidates, depth, args.size, args.repeats, print_fn=_tables_printer(args)
        )
    return _report(args, results)


def _check_out(args):
    # Before the run, which takes minutes.
    if args.out is not None:
        check_target(args.out, args.overwrite)


def _tables_printer(args):
    """Where the tables go: stdout, or stderr when stdout holds the JSON."""
    return functools.partial(print, file=sys.stderr) if args.json else print


def _report(args, results):
    text = json.dumps(results, indent=2)
    if args.json:
        print(text)
    if args.out is not None:
        with published(args.out, args.overwrite) as staging:
            write_file(staging, (text + "\n").encode("utf-8"))
    return 0
