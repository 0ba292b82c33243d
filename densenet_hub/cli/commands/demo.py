"""`densenet-hub demo`: the whole system end to end, offline.

It turns scikit-learn's bundled handwritten digits (1,797 real 8x8 scans,
no download) into a labelled image folder, fine-tunes a small DenseNet on it
with `train`, loads the saved preset back through `from_preset` to evaluate
it on held-out digits, then predicts and explains a few of them. With
`--multi-label` it runs `demo_multilabel` instead: the same workflow on
mosaics of several digits, as chest X-ray studies train and measure.
"""

import pathlib
import time

import numpy as np
import PIL.Image

from densenet_hub.cli import shell
from densenet_hub.cli.commands import demo_multilabel
from densenet_hub.cli.commands.demo_steps import IMAGE_SIZE
from densenet_hub.cli.commands.demo_steps import command
from densenet_hub.cli.commands.demo_steps import prepare_output
from densenet_hub.cli.commands.demo_steps import split_digit_scans
from densenet_hub.cli.commands.demo_steps import step
from densenet_hub.cli.commands.demo_steps import tiny_classifier
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.commands.evaluate import evaluate_folder
from densenet_hub.cli.commands.evaluate import format_report

DIGIT_MAX = 16  # scikit-learn's digits are grey levels 0..16
TEST_FRACTION = 0.2
CHANCE = 0.1
EPOCHS = 10
OUT = "densenet_hub_demo"
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
        "on held-out digits, predicts and explains a few of them. With "
        "--multi-label: the same on mosaics of 2-4 digits labelled by the "
        "digits present, with patient ids and uncertain labels in a CSV, "
        "scored by per-finding AUROC as chest X-ray models are.",
    )
    parser.add_argument(
        "--out",
        default=None,
        help=f"output folder (default {OUT}; {demo_multilabel.OUT} with --multi-label)",
    )
    parser.add_argument(
        "--multi-label",
        action="store_true",
        help="multi-label instead: 32x32 mosaics of 2-4 digits whose findings "
        "are the digits present (a sigmoid head, one probability per digit), "
        "CheXpert-style CSV labels with some marked uncertain (-1) or left "
        "empty, patients kept on one side of the split, scored by mean AUROC "
        "on mosaics of unseen scans",
    )
    parser.add_argument(
        "--epochs",
        type=shell.positive_int,
        default=None,
        help=f"training epochs (default {EPOCHS}; {demo_multilabel.EPOCHS} "
        "with --multi-label)",
    )
    parser.add_argument(
        "--images-per-class",
        type=shell.positive_int,
        default=None,
        help="use at most this many digits per class (default: all, about "
        "180); with --multi-label, the source scans per digit the mosaics "
        "are made of (fewer than about 15 can leave a digit without "
        "validation positives)",
    )
    parser.add_argument(
        "--min-accuracy",
        type=shell.unit_interval,
        default=MIN_ACCURACY,
        help=f"fail (exit status 1) below this test accuracy (default "
        f"{MIN_ACCURACY}; not with --multi-label)",
    )
    parser.add_argument(
        "--min-auroc",
        type=shell.unit_interval,
        default=demo_multilabel.MIN_AUROC,
        help=f"with --multi-label: fail (exit status 1) below this mean test "
        f"AUROC (default {demo_multilabel.MIN_AUROC}; chance is 0.5)",
    )
    parser.add_argument(
        "--seed",
        type=shell.non_negative_int,
        default=0,
        help="seed of the split and the training (default 0)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the outputs of an earlier demo in --out"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args):
    if args.multi_label:
        return demo_multilabel.run(args)
    started = time.monotonic()
    out = pathlib.Path(args.out or OUT)
    prepare_output(out, args.overwrite, OUTPUTS)
    train_dir, test_dir = write_digit_folders(out / "digits", args.images_per_class, args.seed)
    step(f"wrote digit images to {train_dir} and {test_dir}")
    base = out / "base_preset"
    tiny_classifier().save_to_preset(str(base))
    step(f"saved the untrained architecture to {base}")

    preset = out / "digits_preset"
    epochs = EPOCHS if args.epochs is None else args.epochs
    command(
        args.parser,
        "train", str(train_dir), "--preset", str(base), "--out", str(preset),
        # No warm-up of the head alone: it protects pretrained features from
        # a random head's gradients, and this backbone is as random as the
        # head (a frozen random backbone left the head at chance).
        "--no-pretrained", "--warmup-epochs", "0", "--epochs", str(epochs),
        "--learning-rate", "3e-3",
        "--patience", "4", "--augment", "rotate,zoom,translate",
        "--seed", str(args.seed), *(["--quiet"] if args.quiet else []),
    )  # fmt: skip
    step(f"evaluating {preset} on the held-out digits in {test_dir}")
    metrics = evaluate_folder(
        str(preset), str(test_dir), out / "confusion_matrix.png", progress=not args.quiet
    )
    print(format_report(metrics))

    examples = _examples(test_dir)
    step("predicting a few held-out digits")
    command(
        args.parser, "predict", str(preset), *map(str, examples), "--top-k", "3", "--quiet"
    )
    step("explaining them with Grad-CAM")
    for path in examples[:EXPLAINED_IMAGES]:
        heat = out / "explain" / f"{path.parent.name}_{path.stem}.png"
        heat.parent.mkdir(exist_ok=True)
        command(args.parser, "explain", str(preset), str(path), "--out", str(heat))

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
    rng = np.random.default_rng(seed)
    digits, splits = split_digit_scans(images_per_class, rng, TEST_FRACTION)
    for digit, (test_rows, train_rows) in enumerate(splits):
        for split, chosen in (("test", test_rows), ("train", train_rows)):
            target = folder / split / str(digit)
            target.mkdir(parents=True, exist_ok=True)
            for row in chosen:
                _digit_picture(digits.images[row]).save(target / f"{row:04d}.png")
    return folder / "train", folder / "test"


def _digit_picture(grey_levels):
    pixels = np.round(grey_levels * (255 / DIGIT_MAX)).astype("uint8")
    return PIL.Image.fromarray(pixels).resize((IMAGE_SIZE, IMAGE_SIZE), PIL.Image.BICUBIC)


def _examples(test_dir):
    """One held-out image of each of the first few digits."""
    return [sorted((test_dir / str(digit)).glob("*.png"))[0] for digit in range(5)]


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
