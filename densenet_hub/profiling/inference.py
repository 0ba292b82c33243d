"""Inference throughput of densenet_hub and its peers on one machine, in one
run: each candidate is built once in its own worker process and warmed up,
then all are timed in alternating rounds, and each row's median images/s is
compared with KerasHub and with ONNX Runtime and OpenVINO on the same export.

The int8 rows quantize our graph with `accelerate(precision="int8")`,
calibrated on uniform-noise images of the benchmarked size (speed does not
depend on what the calibration images show; accuracy is measured on trained
models by `benchmarks/int8_accuracy.py`)."""

import keras
import numpy as np

from densenet_hub.profiling import peers
from densenet_hub.profiling.timing import summary
from densenet_hub.profiling.workers import Worker
from densenet_hub.base.choices import BENCH_INFERENCE_CANDIDATES as CANDIDATES

# Rows the others are divided by, when they ran.
BASELINES = ("keras_hub", "onnxruntime-default", "openvino-default")
WARMUP_CALLS = 2
SEED = 0
# A candidate's name after "densenet_hub+": runtime, then "-" and a precision.
PRECISIONS = {"": "float32", "bf16": "bfloat16", "int8": "int8"}


def same_weights(name):
    """Whether candidate `name` runs the backbone `keras.utils.set_random_seed(SEED)`
    gives our weights: ours, and the runtimes' defaults on our export."""
    return name.startswith("densenet_hub") or name.endswith("-default")


def build_one(name, depth, size):
    """Builds one candidate: a function from a float32 NHWC batch to outputs.

    densenet_hub's candidates and the ONNX peers all use a backbone built
    after `keras.utils.set_random_seed(SEED)`, so in every worker process
    they hold the same weights and their outputs can be compared. Besides
    `CANDIDATES`, any `densenet_hub+RUNTIME-PRECISION` name is built (e.g.
    `densenet_hub+onnxruntime-bf16`, which no CPU can run).
    """
    if not same_weights(name):
        builder = {
            "keras_hub": peers.keras_hub,
            "keras.applications": peers.keras_applications,
            "torchvision": peers.torchvision_eager,
        }[name]
        return builder(depth, size)
    keras.utils.set_random_seed(SEED)
    model, keras_run = peers.ours_keras(depth, size)
    if name == "densenet_hub":
        return keras_run
    if name == "onnxruntime-default":
        return peers.onnxruntime_default(model)
    if name == "openvino-default":
        return peers.openvino_default(model)
    runtime, _, precision = name.split("+", 1)[1].partition("-")
    return peers.ours_accelerated(model, runtime, PRECISIONS[precision])


def run(depths, sizes, batches, names, rounds, min_seconds, print_fn=print):
    """Runs the grid and prints one table per (depth, size, batch).

    A candidate that cannot run here (a package not installed, a precision
    this CPU or runtime lacks, such as bfloat16 without bfloat16
    instructions) is listed in each table as skipped, with the reason; the
    others still run.

    Returns:
        list of dicts, one per candidate and configuration: depth, size,
        batch, candidate, images_per_second (median), spread, max_abs_diff
        (vs densenet_hub's Keras outputs, for the rows built from our model).
    """
    print_fn(f"Keras {keras.__version__}, backend {keras.backend.backend()}")
    results = []
    for depth in depths:
        for size in sizes:
            workers = {name: Worker(name, depth, size) for name in names}
            try:
                results.extend(
                    _run_workers(workers, depth, size, batches, rounds, min_seconds, print_fn)
                )
            finally:
                for worker in workers.values():
                    worker.stop()
    return results


def _run_workers(workers, depth, size, batches, rounds, min_seconds, print_fn):
    skipped = {name: worker.reason for name, worker in workers.items() if not worker.available}
    workers = {name: worker for name, worker in workers.items() if worker.available}
    results = []
    for batch in batches:
        outputs = {name: worker.outputs(batch) for name, worker in workers.items()}
        diffs = {}
        if "densenet_hub" in outputs:
            reference = outputs["densenet_hub"]
            for name, output in outputs.items():
                if name != "densenet_hub" and same_weights(name):
                    diffs[name] = float(np.abs(output - reference).max())
        seconds = {name: [] for name in workers}
        for _ in range(rounds):
            for name, worker in workers.items():
                seconds[name].append(worker.seconds_per_call(batch, min_seconds))
        rows = _rows(depth, size, batch, seconds, diffs)
        _print_table(print_fn, depth, size, batch, rows, rounds, skipped)
        results.extend(rows)
    return results


def _rows(depth, size, batch, seconds, diffs):
    rows = []
    for name, samples in seconds.items():
        median, spread = summary([batch / s for s in samples])
        rows.append(
            {
                "depth": depth,
                "size": size,
                "batch": batch,
                "candidate": name,
                "images_per_second": median,
                "spread": spread,
                "max_abs_diff": diffs.get(name),
            }
        )
    return rows


def _print_table(print_fn, depth, size, batch, rows, rounds, skipped):
    """One table: a row per candidate timed, then one per candidate this
    machine or install cannot run, with the reason."""
    speed = {row["candidate"]: row["images_per_second"] for row in rows}
    baselines = [name for name in BASELINES if name in speed]
    print_fn(f"\nDenseNet-{depth}, {size}x{size}, batch {batch}, median of {rounds} rounds")
    header = f"{'candidate':30s} {'img/s':>8s} {'spread':>7s}"
    header += "".join(f" {'x ' + name:>22s}" for name in baselines)
    header += f" {'max|diff|':>10s}"
    print_fn(header)
    for row in rows:
        line = f"{row['candidate']:30s} {row['images_per_second']:8.2f} {row['spread']:6.0%} "
        line += "".join(
            f" {row['images_per_second'] / speed[name]:22.2f}" for name in baselines
        )
        diff = row["max_abs_diff"]
        line += f" {diff:10.2e}" if diff is not None else f" {'':>10s}"
        print_fn(line)
    for name, reason in skipped.items():
        print_fn(f"{name:30s} skipped: {reason}")
