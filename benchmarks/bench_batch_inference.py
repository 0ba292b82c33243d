"""Batch inference throughput: DenseNet-121 at 224x224 (random weights:
only speed is measured) on the fastest float32 runtime installed, three ways
on the same machine in one run:

1. the runtime alone, on preloaded, preprocessed arrays (the ceiling);
2. `batch_predict` locally, JPEG files -> Parquet (decoding and resizing in
   the thread pool, overlapped with the network): target >= 80% of (1);
3. `batch_predict(engine="ray")` on a Ray started on this machine: target
   >= 90% of (2).

The images are generated JPEGs of a photo's size (500x375 by default).
Each engine's figure is its steady rate: the rows done after its first
batch (local) or shard (Ray; a shard is one batch here) over the time since,
so that model export and Ray's start leave it out; the total time, those
included, is printed beside it.

    KERAS_BACKEND=jax python benchmarks/bench_batch_inference.py
    KERAS_BACKEND=jax python benchmarks/bench_batch_inference.py --images 384 --workers 2
"""

import argparse
import os
import pathlib
import tempfile
import time

import numpy as np
import PIL.Image

import densenet_hub
from densenet_hub.batch import batch_predict
from densenet_hub.presets.builtin import find_builtin
from densenet_hub.runtime import accelerate


def make_images(folder, count, size, seed=0):
    """`count` JPEGs of `size` (width, height): smooth noise, so that they
    compress about as photos do."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        small = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype="uint8")
        image = PIL.Image.fromarray(small).resize(size, PIL.Image.BILINEAR)
        path = folder / f"{index:05d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def runtime_rate(fast, batch, batch_size, repeats):
    """Images per second of the engine alone on one preprocessed batch."""
    fast.engine.run(batch)
    start = time.perf_counter()
    for _ in range(repeats):
        fast.engine.run(batch)
    return repeats * batch_size / (time.perf_counter() - start)


def job_rate(run):
    """`(steady images/s, total seconds)` of a batch job; `run(on_batch)`."""
    marks = []
    start = time.perf_counter()
    run(lambda done, total: marks.append((time.perf_counter(), done)))
    total = time.perf_counter() - start
    (first_time, first_done), (last_time, last_done) = marks[0], marks[-1]
    return (last_done - first_done) / (last_time - first_time), total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", default="500x375", help="WIDTHxHEIGHT of the JPEGs")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--runtime", default="onnxruntime", choices=("onnxruntime", "openvino"))
    parser.add_argument("--workers", type=int, default=None, help="Ray actors (default: CPUs)")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.size.split("x"))

    config = find_builtin("densenet_121_imagenet").config
    classifier = densenet_hub.models.DenseNetImageClassifier(
        densenet_hub.models.DenseNetBackbone(**config, image_shape=(224, 224, 3)),
        num_classes=1000,
        preprocessor=densenet_hub.inference.default_preprocessor((224, 224)),
    )
    folder = pathlib.Path(tempfile.mkdtemp(prefix="bench_batch_"))
    preset = folder / "preset"
    classifier.save_to_preset(str(preset))
    paths = make_images(folder, args.images, size)
    # One batch per shard: Ray's rate is read from shard completions, so it
    # needs many of them.
    shard_size = args.batch_size

    fast = accelerate(classifier, runtime=args.runtime)
    images = [np.asarray(PIL.Image.open(path).convert("RGB")) for path in paths[: args.batch_size]]
    batch = fast.network_input(images)
    ceiling = runtime_rate(fast, batch, args.batch_size, max(3, args.images // args.batch_size))
    del fast

    options = {"runtime": args.runtime, "batch_size": args.batch_size, "shard_size": shard_size}
    local, local_total = job_rate(lambda on_batch: batch_predict(
        str(preset), paths, folder / "local", on_batch=on_batch, **options))  # fmt: skip
    on_ray, ray_total = job_rate(lambda on_batch: batch_predict(
        str(preset), paths, folder / "ray", engine="ray", workers=args.workers,
        on_batch=on_batch, **options))  # fmt: skip

    print(f"DenseNet-121 224x224, {args.runtime} float32, batch {args.batch_size}, "
          f"{args.images} JPEGs of {size[0]}x{size[1]}, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"(1) runtime on preloaded arrays: {ceiling:.1f} images/s")
    print(f"(2) local files -> Parquet:      {local:.1f} images/s "
          f"({local / ceiling:.0%} of (1); total {local_total:.1f} s)")  # fmt: skip
    print(f"(3) Ray on this machine:         {on_ray:.1f} images/s "
          f"({on_ray / local:.0%} of (2); total {ray_total:.1f} s)")  # fmt: skip
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
