"""Peak memory and time of one DenseNet SGD training step, by depth, with and
without `memory_efficient`, and torchvision's DenseNet beside it.

Every measurement runs in a fresh subprocess: build the model, run one
warm-up step (compilation), reset the peak-RSS counter where Linux allows
(`/proc/self/clear_refs`), then time `--steps` steps. Peak RSS is the
process' VmHWM, so it includes the framework, the weights and the
optimizer state, as a user would see it.

    python benchmarks/bench_train_memory.py --backend jax            # 32 x 224
    python benchmarks/bench_train_memory.py --backend torch --batch 2 --size 64 --depths 121 169

The table gives, per row, median step seconds (and the spread over steps),
peak RSS of the timed steps, RSS after the warm-up and the process peak up
to the end of the warm-up (compilation included); below it, the growth of peak RSS per added depth between
consecutive depths. Linear growth in depth means a roughly constant
MB-per-layer figure; the normal DenseNet's grows with depth instead.
"""

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import time

# torch and torchvision (when installed) before densenet_hub, whose Keras
# imports TensorFlow under that backend: the other order crashes.
if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401
if importlib.util.find_spec("torchvision") is not None:
    import torchvision  # noqa: F401

from densenet_hub.profiling.configs import DEPTHS  # noqa: E402


def _status_mb(field):
    with open("/proc/self/status") as status:
        return int(re.search(rf"{field}:\s+(\d+)", status.read()).group(1)) / 1024


def _reset_peak():
    """Resets VmHWM to the current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _keras_step_function(depth, memory_efficient, batch, size):
    from densenet_hub.models import DenseNetBackbone
    from densenet_hub.models import DenseNetImageClassifier

    backbone = DenseNetBackbone(
        DEPTHS[depth], image_shape=(size, size, 3), memory_efficient=memory_efficient
    )
    return _keras_sgd_step(DenseNetImageClassifier(backbone, num_classes=1000), batch, size)


def _keras_hub_step_function(depth, memory_efficient, batch, size):
    import keras_hub

    backbone = keras_hub.models.DenseNetBackbone(
        stackwise_num_repeats=DEPTHS[depth], image_shape=(size, size, 3)
    )
    classifier = keras_hub.models.ImageClassifier(backbone=backbone, num_classes=1000)
    return _keras_sgd_step(classifier, batch, size)


def _keras_sgd_step(model, batch, size):
    """One `train_on_batch` of SGD on a fixed random batch, as a function."""
    import keras
    import numpy as np

    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch, size, size, 3)).astype("float32")
    labels = rng.integers(0, 1000, size=(batch,))

    def step():
        model.train_on_batch(images, labels)

    return step


def _torchvision_step_function(depth, memory_efficient, batch, size):
    import torch
    import torchvision

    block_config = tuple(DEPTHS[depth])
    model = torchvision.models.DenseNet(
        growth_rate=32,
        block_config=block_config,
        num_init_features=64,
        memory_efficient=memory_efficient,
    )
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, 1000, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    return step


def measure(spec):
    """Runs in the subprocess: one row of the table, as a dict."""
    if importlib.util.find_spec("torch") is not None:
        # torch before TensorFlow in one process: the other order crashes here.
        import torch  # noqa: F401
    builder = {
        "densenet_hub": _keras_step_function,
        "keras_hub": _keras_hub_step_function,
        "torchvision": _torchvision_step_function,
    }[spec["framework"]]
    step = builder(spec["depth"], spec["memory_efficient"], spec["batch"], spec["size"])
    step()  # warm-up: compilation, allocator growth
    first_step_peak_mb = _status_mb("VmHWM")
    settled_mb = _status_mb("VmRSS")
    reset = _reset_peak()
    times = []
    for _ in range(spec["steps"]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {
        **spec,
        "seconds": times,
        "peak_rss_mb": _status_mb("VmHWM"),
        # Process peak up to the end of the first step, compilation included.
        "first_step_peak_rss_mb": first_step_peak_mb,
        # What the steps themselves add on top of the program, weights and
        # compiled code (on JAX, XLA keeps GBs after compiling).
        "rss_after_warmup_mb": settled_mb,
        "peak_reset_after_warmup": reset,
    }


def _run_in_subprocess(spec, backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [sys.executable, __file__, "--child", json.dumps(spec)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        return {**spec, "error": f"exit {done.returncode}: {tail}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _label(row):
    if row["framework"] == "torchvision":
        name = "torchvision"
    else:
        name = f"{row['framework']} ({row['backend']})"
    return name + (" memory_efficient" if row["memory_efficient"] else "")


def _print_table(rows, depths):
    print(
        f"{'model':<40} {'depth':>5} {'s/step (median)':>16} {'spread':>8} "
        f"{'peak RSS MB':>12} {'RSS after warm-up':>18} {'peak incl. warm-up':>19}"
    )
    for row in rows:
        if "error" in row:
            print(f"{_label(row):<40} {row['depth']:>5} failed: {row['error']}")
            continue
        times = row["seconds"]
        spread = max(times) - min(times)
        print(
            f"{_label(row):<40} {row['depth']:>5} {statistics.median(times):>16.3f} "
            f"{spread:>8.3f} {row['peak_rss_mb']:>12.0f} {row['rss_after_warmup_mb']:>18.0f} "
            f"{row['first_step_peak_rss_mb']:>19.0f}"
        )
    print()
    print("peak RSS growth per added depth (MB per layer of depth) between consecutive depths:")
    by_label = {}
    for row in rows:
        if "error" not in row:
            by_label.setdefault(_label(row), []).append(row)
    for label, group in by_label.items():
        group.sort(key=lambda r: r["depth"])
        slopes = [
            (b["peak_rss_mb"] - a["peak_rss_mb"]) / (b["depth"] - a["depth"])
            for a, b in zip(group, group[1:])
        ]
        text = ", ".join(
            f"{a['depth']}->{b['depth']}: {s:.1f}" for a, b, s in zip(group, group[1:], slopes)
        )
        print(f"  {label:<40} {text or '(one depth)'}")
    print("  (roughly equal numbers: linear in depth; rising numbers: faster than linear)")
    by_depth = {}
    for row in rows:
        if "error" not in row:
            by_depth.setdefault(row["depth"], {})[_label(row)] = row["peak_rss_mb"]
    print()
    print("peak RSS ratio, memory_efficient / normal, same run:")
    for depth in depths:
        labels = by_depth.get(depth, {})
        for label, value in sorted(labels.items()):
            if label.endswith(" memory_efficient"):
                base = labels.get(label[: -len(" memory_efficient")])
                if base:
                    print(f"  {label:<40} depth {depth}: {value / base:.2f}")


def _torchvision_available():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"),
                        choices=("jax", "torch", "tensorflow"))
    parser.add_argument("--depths", type=int, nargs="+", default=sorted(DEPTHS),
                        choices=sorted(DEPTHS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up")
    parser.add_argument(
        "--frameworks",
        nargs="+",
        default=["densenet_hub", "keras_hub", "torchvision"],
        choices=("densenet_hub", "keras_hub", "torchvision"),
        help="what to measure (torchvision is left out when not installed)",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["normal", "memory_efficient"],
        choices=("normal", "memory_efficient"),
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return
    frameworks = list(args.frameworks)
    if "torchvision" in frameworks and not _torchvision_available():
        print("torchvision is not installed: its rows are left out", file=sys.stderr)
        frameworks.remove("torchvision")
    print(
        f"one SGD step, batch {args.batch}, {args.size}x{args.size}, float32, "
        f"{args.steps} timed steps after 1 warm-up; Keras backend {args.backend}; "
        f"each row a fresh process"
    )
    rows = []
    for depth in args.depths:
        for framework in frameworks:
            for mode in args.modes:
                memory_efficient = mode == "memory_efficient"
                if memory_efficient and framework == "keras_hub":
                    continue  # KerasHub has no such mode
                spec = {
                    "framework": framework,
                    "backend": "torch" if framework == "torchvision" else args.backend,
                    "depth": depth,
                    "memory_efficient": memory_efficient,
                    "batch": args.batch,
                    "size": args.size,
                    "steps": args.steps,
                }
                rows.append(_run_in_subprocess(spec, args.backend))
                print(f"  done: {_label(rows[-1])} depth {depth}", file=sys.stderr, flush=True)
    _print_table(rows, args.depths)


if __name__ == "__main__":
    main()
