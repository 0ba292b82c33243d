"""`densenet-hub demo`: the whole system end to end, offline.

It turns scikit-learn's bundled handwritten digits (1,797 real 8x8 scans,
no download) into a labelled image folder, fine-tunes a small DenseNet on it
with `train`, loads the saved preset back through `from_preset` to evaluate
it on held-out digits, then predicts and explains a few of them.
"""

import pathlib
import shutil
import time

import numpy as np
import PIL.Image

from densenet_hub.cli import arguments
from densenet_hub.cli.errors import CliError
from densenet_hub.cli.evaluate import evaluate_folder
from densenet_hub.cli.evaluate import format_report
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor

DIGIT_SIZE = 32
DIGIT_MAX = 16  # scikit-learn's digits are grey levels 0..16
TEST_FRACTION = 0.2
CHANCE = 0.1
# Below this the demo reports a failure: it must clearly beat chance.
MIN_ACCURACY = 0.5
EXPLAINED_IMAGES = 3
# What the demo writes inside --out; --overwrite replaces only these.
OUTPUTS = (
    "digits",
    "base_preset",
    "digits_preset",
    "digits_preset.checkpoints",
    "explain",
    "confusion_matrix.png",
)


def register(subparsers):
    """Adds the `demo` command to `subparsers`."""
    parser = subparsers.add_parser(
        "demo",
        help="fine-tune, evaluate and explain a small DenseNet on digits, offline",
        description="Runs the whole workflow offline in a few minutes: builds a "
        "labelled folder of handwritten digits from scikit-learn, trains a "
        "small DenseNet on it with `train`, reloads the preset, evaluates it "
        "on held-out digits, predicts and explains a few of them.",
    )
    parser.add_argument(
        "--out", default="densenet_hub_demo", help="output folder (default densenet_hub_demo)"
    )
    parser.add_argument(
        "--epochs",
        type=arguments.positive_int,
        default=10,
        help="training epochs (default 10)",
    )
    parser.add_argument(
        "--images-per-class",
        type=arguments.positive_int,
        default=None,
        help="use at most this many digits per class (default: all, about 180)",
    )
    parser.add_argument(
        "--min-accuracy",
        type=arguments.unit_interval,
        default=MIN_ACCURACY,
        help=f"fail (exit status 1) below this test accuracy (default {MIN_ACCURACY})",
    )
    parser.add_argument(
        "--seed",
        type=arguments.non_negative_int,
        default=0,
        help="seed of the split and the training (default 0)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the outputs of an earlier demo in --out"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args):
    started = time.monotonic()
    out = pathlib.Path(args.out)
    _prepare_output(out, args.overwrite)
    train_dir, test_dir = write_digit_folders(out / "digits", args.images_per_class, args.seed)
    _step(f"wrote digit images to {train_dir} and {test_dir}")
    base = out / "base_preset"
    tiny_classifier().save_to_preset(str(base))
    _step(f"saved the untrained architecture to {base}")

    preset = out / "digits_preset"
    _command(
        args.parser,
        "train", str(train_dir), "--preset", str(base), "--out", str(preset),
        # No warm-up of the head alone: it protects pretrained features from
        # a random head's gradients, and this backbone is as random as the
        # head (a frozen random backbone left the head at chance).
        "--no-pretrained", "--warmup-epochs", "0", "--epochs", str(args.epochs),
        "--learning-rate", "3e-3",
        "--patience", "4", "--augment", "rotate,zoom,translate",
        "--seed", str(args.seed), *(["--quiet"] if args.quiet else []),
    )  # fmt: skip
    _step(f"evaluating {preset} on the held-out digits in {test_dir}")
    metrics = evaluate_folder(
        str(preset), str(test_dir), out / "confusion_matrix.png", progress=not args.quiet
    )
    print(format_report(metrics))

    examples = _examples(test_dir)
    _step("predicting a few held-out digits")
    _command(
        args.parser, "predict", str(preset), *map(str, examples), "--top-k", "3", "--quiet"
    )
    _step("explaining them with Grad-CAM")
    for path in examples[:EXPLAINED_IMAGES]:
        heat = out / "explain" / f"{path.parent.name}_{path.stem}.png"
        heat.parent.mkdir(exist_ok=True)
        _command(args.parser, "explain", str(preset), str(path), "--out", str(heat))

    _summary(out, preset, metrics, time.monotonic() - started)
    if metrics["accuracy"] < args.min_accuracy:
        raise CliError(
            f"the demo reached an accuracy of {metrics['accuracy']:.4f}, below "
            f"--min-accuracy {args.min_accuracy} (chance is {CHANCE}); train "
            "longer with --epochs."
        )
    return 0


def write_digit_folders(folder, images_per_class=None, seed=0):
    """Writes scikit-learn's digits as 32x32 PNGs in `train/<digit>/` and
    `test/<digit>/` under `folder`; returns the two folders."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise CliError(
            "the demo needs scikit-learn for its bundled digits; install it "
            "with `pip install scikit-learn`."
        ) from None
    digits = load_digits()
    rng = np.random.default_rng(seed)
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(digits.target == digit))[:images_per_class]
        test_count = max(1, round(len(rows) * TEST_FRACTION))
        for split, chosen in (("test", rows[:test_count]), ("train", rows[test_count:])):
            target = folder / split / str(digit)
            target.mkdir(parents=True, exist_ok=True)
            for row in chosen:
                _digit_picture(digits.images[row]).save(target / f"{row:04d}.png")
    return folder / "train", folder / "test"


def tiny_classifier():
    """An untrained 10-class DenseNet small enough to train on 2 CPU cores in
    minutes, with 32x32 inputs scaled to [0, 1].

    Its stem uses KerasHub's "same" padding, so KerasHub loads its presets.
    """
    backbone = DenseNetBackbone(
        stackwise_num_repeats=[2, 2, 2], growth_rate=16, stem_padding="same"
    )
    converter = DenseNetImageConverter(image_size=(DIGIT_SIZE, DIGIT_SIZE), scale=1 / 255)
    return DenseNetImageClassifier(
        backbone,
        num_classes=10,
        preprocessor=DenseNetImageClassifierPreprocessor(converter),
    )


def _digit_picture(grey_levels):
    pixels = np.round(grey_levels * (255 / DIGIT_MAX)).astype("uint8")
    return PIL.Image.fromarray(pixels).resize((DIGIT_SIZE, DIGIT_SIZE), PIL.Image.BICUBIC)


def _prepare_output(out, overwrite):
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {str(out)!r} is a file; pass a folder path.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise CliError(
                f"the demo folder {str(out)!r} is not empty; pass --overwrite "
                "to replace an earlier demo's outputs, or choose another --out."
            )
        for name in OUTPUTS:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _command(parser, *argv):
    """Runs one `densenet-hub` command with `parser`, as the shell would."""
    print(f"\n$ densenet-hub {' '.join(argv)}", flush=True)
    args = parser.parse_args(argv)
    status = args.run(args)
    if status != 0:
        raise CliError(f"the demo's `{argv[0]}` step ended with status {status}.")


def _examples(test_dir):
    """One held-out image of each of the first few digits."""
    return [sorted((test_dir / str(digit)).glob("*.png"))[0] for digit in range(5)]


def _step(message):
    print(f"\n== {message}", flush=True)


def _summary(out, preset, metrics, seconds):
    print(
        f"\n== demo finished in {seconds:.0f} s\n"
        f"accuracy on {metrics['images']} held-out digits: {metrics['accuracy']:.4f} "
        f"(chance: {CHANCE:.2f}), top-{metrics['top_k']}: {metrics['top_k_accuracy']:.4f}\n"
        f"outputs in {out}:\n"
        f"  fine-tuned preset:  {preset}\n"
        f"  confusion matrix:   {metrics['confusion_matrix']}\n"
        f"  Grad-CAM heat maps: {out / 'explain'}\n"
        f"  digit images:       {out / 'digits'}\n"
        f"try: densenet-hub predict {preset} {out / 'digits' / 'test' / '7'}"
    )
