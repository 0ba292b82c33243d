"""int8 against float32 on trained models: top-1 agreement, accuracy drop and
mean AUROC drop on held-out images, calibrated on training images only.

Three models, each trained here unless its folder under `--work` already
holds it (then it is reused):

1. the digits classifier of `densenet-hub demo` (a small DenseNet, 32x32);
2. a DenseNet-121 (DenseNet-121's built-in architecture, no weights) trained
   from random initialisation on the same digits with `densenet-hub train`,
   at `--size` (the digits' 32x32 PNGs upscaled by its preprocessor);
3. the multi-label classifier of `densenet-hub demo --multi-label`, scored by
   mean AUROC over the ten findings (skipped, with the reason, if that demo
   fails).

Each is quantized by `densenet_hub.runtime.accelerate(model,
runtime=..., precision="int8", calibration=<training image files>,
min_agreement=0)` (the guard is switched off so that every result is
printed) and its predictions on the held-out images are compared with the
Keras float32 model's. Targets (project issue 16): top-1 agreement >= 99%,
accuracy drop <= 0.5 points, mean AUROC drop <= 0.005.

    KERAS_BACKEND=jax python benchmarks/int8_accuracy.py --work /tmp/int8 \
        --size 64 --epochs 12
"""

import argparse
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

from densenet_hub.data import read_images
from densenet_hub.data import read_label_table
from densenet_hub.evaluation import multilabel_report
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier
from densenet_hub.presets.builtin import find_builtin
from densenet_hub.runtime import accelerate

AGREEMENT_TARGET = 0.99
ACCURACY_DROP_TARGET = 0.005
AUROC_DROP_TARGET = 0.005


def densenet_hub(*argv):
    """Runs a `densenet-hub` command in a fresh interpreter, echoing it."""
    print(f"$ densenet-hub {' '.join(argv)}", flush=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "densenet_hub", *argv], check=True)
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)


def labelled_files(folder):
    """The PNGs under `folder/<class>/` and their class indices."""
    paths = sorted(pathlib.Path(folder).rglob("*.png"))
    classes = sorted({path.parent.name for path in paths})
    return paths, np.array([classes.index(path.parent.name) for path in paths])


def quantized(classifier, runtime, calibration):
    """`(int8 AcceleratedModel, seconds)`; the guard is off (min_agreement=0)."""
    started = time.monotonic()
    model = accelerate(
        classifier, runtime=runtime, precision="int8", calibration=calibration, min_agreement=0.0
    )
    return model, time.monotonic() - started


def single_label(title, preset, train_dir, test_dir, runtimes):
    """Prints int8 vs float32 agreement and accuracy on `test_dir`; returns
    whether every runtime met the targets."""
    classifier = ImageClassifier.from_preset(str(preset))
    calibration = [str(path) for path in labelled_files(train_dir)[0]]
    test_paths, labels = labelled_files(test_dir)
    images = np.stack(read_images(test_paths)[0])
    full = classifier.predict(images, batch_size=64, verbose=0)
    full_accuracy = np.mean(full.argmax(-1) == labels)
    print(f"\n{title}")
    print(
        f"  {len(calibration)} training images to calibrate on, {len(test_paths)} held-out "
        f"test images; float32 (Keras) accuracy {full_accuracy:.4f}"
    )
    met = True
    for runtime in runtimes:
        model, seconds = quantized(classifier, runtime, calibration)
        low = model.predict(images, batch_size=64)
        agreement = np.mean(low.argmax(-1) == full.argmax(-1))
        drop = full_accuracy - np.mean(low.argmax(-1) == labels)
        ok = agreement >= AGREEMENT_TARGET and drop <= ACCURACY_DROP_TARGET
        met = met and ok
        report = model.quantization
        print(
            f"  int8 {runtime:11s}: top-1 agreement {agreement:.4f}, accuracy "
            f"{full_accuracy - drop:.4f} (drop {100 * drop:+.2f} points), max |output change| "
            f"{np.abs(low - full).max():.4f} (outputs up to {np.abs(full).max():.2f}); "
            f"{'meets' if ok else 'MISSES'} the targets"
        )
        print(
            f"    quantized in {seconds:.0f} s on {report.calibration_size} images; "
            f"accelerate's own check on {report.held_out_size} held-out training images: "
            f"{report.measure} {report.agreement:.4f}"
        )
    return met


def multi_label(preset, train_table, test_table, runtimes):
    """Prints the mean AUROC of float32 and int8 on `test_table`; returns
    whether every runtime met the target."""
    classifier = ImageClassifier.from_preset(str(preset))
    calibration = [str(path) for path in read_label_table(train_table).paths]
    test = read_label_table(test_table)
    images = np.stack(read_images(test.paths)[0])
    full = classifier.predict(images, batch_size=64, verbose=0)

    def mean_auroc(scores):
        return multilabel_report(test.targets, scores, test.findings, test.weights).mean_auroc

    full_auroc = mean_auroc(full)
    print("\n(c) multi-label demo classifier (densenet-hub demo --multi-label)")
    print(
        f"  {len(calibration)} training mosaics to calibrate on, {len(images)} held-out test "
        f"mosaics; float32 (Keras) mean AUROC {full_auroc:.4f}"
    )
    met = True
    for runtime in runtimes:
        model, seconds = quantized(classifier, runtime, calibration)
        low = model.predict(images, batch_size=64)
        drop = full_auroc - mean_auroc(low)
        ok = drop <= AUROC_DROP_TARGET
        met = met and ok
        print(
            f"  int8 {runtime:11s}: mean AUROC {full_auroc - drop:.4f} (drop {drop:+.4f}), "
            f"max |output change| {np.abs(low - full).max():.4f}, quantized in "
            f"{seconds:.0f} s; {'meets' if ok else 'MISSES'} the target"
        )
    return met


def densenet121_base(folder, size):
    """Saves an untrained 10-class DenseNet-121 taking `size`x`size` images
    scaled to [0, 1], as the demo's small model does."""
    config = find_builtin("densenet_121_imagenet").config
    backbone = DenseNetBackbone(**config, image_shape=(size, size, 3))
    converter = DenseNetImageConverter(image_size=(size, size), scale=1 / 255)
    classifier = DenseNetImageClassifier(
        backbone, num_classes=10, preprocessor=DenseNetImageClassifierPreprocessor(converter)
    )
    classifier.save_to_preset(str(folder))


def load():
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="folder for the demos and trained models")
    parser.add_argument("--size", type=int, default=64, help="DenseNet-121's image size")
    parser.add_argument("--epochs", type=int, default=12, help="DenseNet-121's training epochs")
    parser.add_argument(
        "--runtimes", nargs="+", default=["openvino", "onnxruntime"],
        choices=["openvino", "onnxruntime"],
    )  # fmt: skip
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["digits", "densenet121", "multilabel"],
        help="leave these models out",
    )  # fmt: skip
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    print(f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '(default)')}, load average {load()}")
    results = {}

    demo = work / "digits_demo"
    if "digits" not in args.skip or "densenet121" not in args.skip:
        if not (demo / "digits_preset").is_dir():
            densenet_hub("demo", "--out", str(demo), "--quiet", "--overwrite")
    digits = demo / "digits"
    if "digits" not in args.skip:
        results["(a) digits demo"] = single_label(
            "(a) digits demo classifier (densenet-hub demo, 32x32)",
            demo / "digits_preset", digits / "train", digits / "test", args.runtimes,
        )  # fmt: skip

    if "densenet121" not in args.skip:
        preset = work / f"densenet121_{args.size}_preset"
        if not preset.is_dir():
            base = work / f"densenet121_{args.size}_base"
            if not base.is_dir():
                densenet121_base(base, args.size)
            densenet_hub(
                "train", str(digits / "train"), "--preset", str(base), "--out", str(preset),
                "--no-pretrained", "--warmup-epochs", "0", "--epochs", str(args.epochs),
                "--learning-rate", "3e-3", "--patience", "4",
                "--augment", "rotate,zoom,translate", "--seed", "0", "--overwrite",
            )  # fmt: skip
        results["(b) DenseNet-121"] = single_label(
            f"(b) DenseNet-121 trained from random initialisation on the digits at "
            f"{args.size}x{args.size}",
            preset, digits / "train", digits / "test", args.runtimes,
        )  # fmt: skip

    if "multilabel" not in args.skip:
        ml_demo = work / "multilabel_demo"
        try:
            if not (ml_demo / "mosaics_preset").is_dir():
                densenet_hub(
                    "demo", "--multi-label", "--out", str(ml_demo), "--quiet", "--overwrite"
                )  # fmt: skip
        except subprocess.CalledProcessError as error:
            print(f"\n(c) multi-label demo skipped: it failed ({error})")
        else:
            results["(c) multi-label demo"] = multi_label(
                ml_demo / "mosaics_preset", ml_demo / "mosaics" / "train.csv",
                ml_demo / "mosaics" / "test.csv", args.runtimes,
            )  # fmt: skip

    print(f"\nload average {load()}")
    for name, met in results.items():
        print(f"{name}: {'all targets met' if met else 'a target MISSED'}")


if __name__ == "__main__":
    main()
