"""Inference throughput of densenet_hub and its peers on one machine, in one
process: every candidate is warmed up, then all are timed in alternating
rounds, and each row's median images/s is compared with KerasHub and with
ONNX Runtime on the same export."""

import keras
import numpy as np

from densenet_hub.bench import peers
from densenet_hub.bench.timing import alternate
from densenet_hub.bench.timing import summary

CANDIDATES = (
    "densenet_hub",
    "densenet_hub+onnxruntime",
    "densenet_hub+openvino",
    "densenet_hub+openvino-bf16",
    "keras_hub",
    "keras.applications",
    "onnxruntime-default",
    "openvino-default",
    "torchvision",
)
# Rows the others are divided by, when they ran.
BASELINES = ("keras_hub", "onnxruntime-default", "openvino-default")
WARMUP_CALLS = 2


def build(names, depth, size):
    """Builds the named candidates; returns (runners, unavailable reasons)."""
    model, keras_run = peers.ours_keras(depth, size)
    builders = {
        "densenet_hub": lambda: keras_run,
        "densenet_hub+onnxruntime": lambda: peers.ours_accelerated(model, "onnxruntime", "float32"),
        "densenet_hub+openvino": lambda: peers.ours_accelerated(model, "openvino", "float32"),
        "densenet_hub+openvino-bf16": lambda: peers.ours_accelerated(model, "openvino", "bfloat16"),
        "keras_hub": lambda: peers.keras_hub(depth, size),
        "keras.applications": lambda: peers.keras_applications(depth, size),
        "onnxruntime-default": lambda: peers.onnxruntime_default(model),
        "openvino-default": lambda: peers.openvino_default(model),
        "torchvision": lambda: peers.torchvision_eager(depth, size),
    }
    runners, missing = {}, {}
    for name in names:
        try:
            runners[name] = builders[name]()
        except peers.Unavailable as reason:
            missing[name] = str(reason)
    return runners, missing, keras_run


def run(depths, sizes, batches, names, rounds, min_seconds, print_fn=print):
    """Runs the grid and prints one table per (depth, size, batch).

    Returns:
        list of dicts, one per candidate and configuration: depth, size,
        batch, candidate, images_per_second (median), spread, max_abs_diff
        (vs densenet_hub's Keras outputs, for our accelerated rows).
    """
    print_fn(f"Keras {keras.__version__}, backend {keras.backend.backend()}")
    results = []
    for depth in depths:
        for size in sizes:
            runners, missing, keras_run = build(names, depth, size)
            for name, reason in missing.items():
                print_fn(f"  skipped {name}: {reason}")
            for batch in batches:
                images = peers.random_batch(batch, size)
                reference = np.asarray(keras_run(images))
                diffs = {}
                for name, runner in runners.items():
                    for _ in range(WARMUP_CALLS):
                        outputs = runner(images)
                    if name.startswith("densenet_hub"):
                        diffs[name] = float(np.abs(np.asarray(outputs) - reference).max())
                seconds = alternate(
                    {name: (lambda r=r: r(images)) for name, r in runners.items()},
                    rounds,
                    min_seconds,
                )
                rows = _rows(depth, size, batch, seconds, diffs)
                _print_table(print_fn, depth, size, batch, rows, rounds)
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


def _print_table(print_fn, depth, size, batch, rows, rounds):
    speed = {row["candidate"]: row["images_per_second"] for row in rows}
    baselines = [name for name in BASELINES if name in speed]
    print_fn(f"\nDenseNet-{depth}, {size}x{size}, batch {batch}, median of {rounds} rounds")
    header = f"{'candidate':28s} {'img/s':>8s} {'spread':>7s}"
    header += "".join(f" {'x ' + name:>22s}" for name in baselines)
    header += f" {'max|diff|':>10s}"
    print_fn(header)
    for row in rows:
        line = f"{row['candidate']:28s} {row['images_per_second']:8.2f} {row['spread']:6.0%} "
        line += "".join(
            f" {row['images_per_second'] / speed[name]:22.2f}" for name in baselines
        )
        diff = row["max_abs_diff"]
        line += f" {diff:10.2e}" if diff is not None else f" {'':>10s}"
        print_fn(line)
