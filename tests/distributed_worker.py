"""Trains a tiny DenseNet classifier for a few steps, on one device or with
`densenet_hub.distribution`, and writes its per-step losses and every
variable to an .npz file. `tests/test_distribution.py` runs it in fresh
processes (the CPU device count is fixed when JAX starts) and compares the
runs.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \\
        python tests/distributed_worker.py OUT_DIR dp2=data_parallel mp2=model_parallel

writes OUT_DIR/dp2.npz and OUT_DIR/mp2.npz (process N > 0 of a multi-process
run: NAME.processN.npz). Every run sees the same global batches in the same
order, so a distributed run must reproduce the single-device run
(`NAME=one_device`) up to float32 rounding.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from densenet_hub import distribution  # noqa: E402
from densenet_hub.models.densenet.densenet_backbone import DenseNetBackbone  # noqa: E402
from densenet_hub.models.densenet.densenet_image_classifier import DenseNetImageClassifier  # noqa: E402

SEED = 7
NUM_CLASSES = 3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="where the .npz files go")
    parser.add_argument(
        "runs",
        nargs="+",
        type=lambda text: tuple(text.split("=", 1)),
        help="NAME=one_device, NAME=data_parallel or NAME=model_parallel, run in turn",
    )
    parser.add_argument("--model-devices", type=int, default=2)
    parser.add_argument("--coordinator-address")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    return parser.parse_args()


class BatchLosses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def main():
    args = parse_args()
    if args.coordinator_address:
        distribution.initialize(args.coordinator_address, args.num_processes, args.process_id)
    for name, layout in args.runs:
        keras.distribution.set_distribution(None)
        keras.backend.clear_session()
        train(args, name, layout)


def train(args, name, layout):
    if layout == "data_parallel":
        distribution.data_parallel(auto_shard_dataset=False)
    elif layout == "model_parallel":
        distribution.model_parallel(args.model_devices, auto_shard_dataset=False)
    elif layout != "one_device":
        raise SystemExit(f"unknown run {name}={layout}")
    distribution.check_global_batch(args.batch_size)

    keras.utils.set_random_seed(SEED)
    backbone = DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    classifier = DenseNetImageClassifier(backbone, num_classes=NUM_CLASSES)
    classifier.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    rng = np.random.default_rng(SEED)
    rows = args.steps * args.batch_size
    images = rng.normal(size=(rows, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, size=rows)
    # This process's rows of every global batch, in batch order.
    mine = distribution.local_batch_rows(args.batch_size)
    local = np.concatenate(
        [np.arange(start, start + args.batch_size)[mine] for start in range(0, rows, args.batch_size)]
    )
    losses = BatchLosses()
    classifier.fit(
        images[local],
        labels[local],
        batch_size=len(local) // args.steps,
        epochs=args.epochs,
        shuffle=False,
        callbacks=[losses],
        verbose=0,
    )

    weights = {v.path: keras.ops.convert_to_numpy(v.value) for v in classifier.variables}
    # How a bottleneck kernel is laid out: its shape on one device.
    kernel = backbone.get_layer("stack1_block1_1_conv").kernel
    devices = kernel.value.sharding.device_set
    suffix = "" if distribution.is_chief() else f".process{distribution.process_index()}"
    np.savez(
        os.path.join(args.out_dir, f"{name}{suffix}.npz"),
        losses=np.array(losses.losses),
        devices=np.array(len(devices)),
        bottleneck_shard_shape=np.array(kernel.value.sharding.shard_shape(kernel.shape)),
        **{f"weight:{path}": value for path, value in weights.items()},
    )


if __name__ == "__main__":
    main()
