"""Data-parallel training throughput and memory on 1, 2 and 4 devices.

Each device count runs in a fresh process (the CPU device count is fixed
when JAX starts; simulated with XLA_FLAGS on a CPU machine) that builds a
DenseNet classifier with `densenet_hub.distribution.data_parallel`, compiles
the train step on one global batch, runs one more untimed step, then times `--steps` steps of that same
global batch. Prints per device count the median samples/s, the spread
(min-max over the steps), the ratio to one device measured in the same run,
the process's peak RSS and, where JAX reports it, each device's peak memory.

    KERAS_BACKEND=jax python benchmarks/bench_distributed.py            # DenseNet-121, 64 px
    KERAS_BACKEND=jax python benchmarks/bench_distributed.py --blocks 2,2 \\
        --growth-rate 4 --image-size 32 --batch-size 8 --steps 3       # seconds

Simulated CPU devices share the same cores, so on a CPU machine the ratios
show the overhead of splitting the batch, not a speed-up; on GPUs or TPUs
each device is real hardware.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from densenet_hub.profiling.configs import DEPTHS

NUM_CLASSES = 10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="1,2,4", help="device counts (default 1,2,4)")
    parser.add_argument("--depth", type=int, choices=sorted(DEPTHS), default=121)
    parser.add_argument("--blocks", help="dense layers per block, e.g. 2,2 (overrides --depth)")
    parser.add_argument("--growth-rate", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16, help="global batch (default 16)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def measure(args):
    """Runs in the child: one device count; prints one JSON line."""
    import keras
    import numpy as np

    from densenet_hub import distribution
    from densenet_hub.models.densenet.densenet_backbone import DenseNetBackbone
    from densenet_hub.models.densenet.densenet_image_classifier import DenseNetImageClassifier

    layout = distribution.data_parallel(devices=args.child, auto_shard_dataset=False)
    distribution.check_global_batch(args.batch_size)
    blocks = [int(n) for n in args.blocks.split(",")] if args.blocks else DEPTHS[args.depth]
    keras.utils.set_random_seed(0)
    backbone = DenseNetBackbone(
        stackwise_num_repeats=blocks,
        growth_rate=args.growth_rate,
        image_shape=(args.image_size, args.image_size, 3),
    )
    classifier = DenseNetImageClassifier(backbone, num_classes=NUM_CLASSES)
    classifier.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    images = rng.normal(size=(args.batch_size, args.image_size, args.image_size, 3))
    images = images.astype("float32")
    labels = rng.integers(0, NUM_CLASSES, size=args.batch_size)
    start = time.perf_counter()
    classifier.train_on_batch(images, labels)  # compiles
    compile_s = time.perf_counter() - start
    # The second call still pays one-off costs (buffer donation set-up).
    classifier.train_on_batch(images, labels)
    rates = []
    for _ in range(args.steps):
        start = time.perf_counter()
        logs = classifier.train_on_batch(images, labels, return_dict=True)
        float(logs["loss"])  # waits for the step to finish
        rates.append(args.batch_size / (time.perf_counter() - start))
    print(
        json.dumps(
            {
                "devices": int(layout.device_mesh.devices.size),
                "rates": rates,
                "compile_s": compile_s,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "device_peak_mb": device_peaks(),
            }
        )
    )


def device_peaks():
    """Each device's peak memory in MB as JAX reports it, or `None` where the
    platform reports none (CPU devices do not)."""
    import jax

    peaks = []
    for device in jax.local_devices():
        stats = device.memory_stats() or {}
        if "peak_bytes_in_use" not in stats:
            return None
        peaks.append(stats["peak_bytes_in_use"] / 2**20)
    return peaks


def run_child(args, devices):
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="3",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
    )
    command = [sys.executable, __file__, "--child", str(devices)]
    for option in ("depth", "blocks", "growth_rate", "image_size", "batch_size", "steps"):
        value = getattr(args, option)
        if value is not None:
            command += [f"--{option.replace('_', '-')}", str(value)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"{devices} device(s) failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


def report(args, results):
    model = f"blocks {args.blocks}" if args.blocks else f"DenseNet-{args.depth}"
    print(
        f"{model}, growth {args.growth_rate}, {args.image_size}x{args.image_size}, "
        f"global batch {args.batch_size}, {args.steps} timed steps, float32, data parallel"
    )
    header = ("devices", "samples/s median", "spread (min-max)", "vs 1 device",
              "compile s", "peak RSS MB (process)", "peak MB per device")  # fmt: skip
    print(" | ".join(header))
    baseline = None
    for result in results:
        median = statistics.median(result["rates"])
        baseline = baseline or median
        per_device = result["device_peak_mb"]
        per_device = (
            ", ".join(f"{mb:.0f}" for mb in per_device)
            if per_device
            else "n/a: CPU devices report none; see process RSS"
        )
        print(
            f"{result['devices']} | {median:.2f} | {min(result['rates']):.2f}-"
            f"{max(result['rates']):.2f} | {median / baseline:.2f}x | "
            f"{result['compile_s']:.1f} | {result['peak_rss_mb']:.0f} | {per_device}"
        )


def main():
    args = parse_args()
    if args.child is not None:
        measure(args)
        return
    counts = [int(n) for n in args.devices.split(",")]
    report(args, [run_child(args, devices) for devices in counts])


if __name__ == "__main__":
    main()
