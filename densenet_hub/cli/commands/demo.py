"""`densenet-hub demo`: the whole system end to end, offline.

It turns scikit-learn's bundled handwritten digits (1,797 real 8x8 scans,
no download) into a labelled image folder, fine-tunes a small DenseNet on it
with `train`, loads the saved preset back through `from_preset` to evaluate
it on held-out digits, then predicts and explains a few of them. With
`--multi-label`: the same workflow on mosaics of several digits, as chest
X-ray studies train and measure (see `densenet_hub.demos.mosaics`).

The data and the model come from `densenet_hub.demos`; each step runs as the
real command would, printed as the shell line that does the same.
"""

import json
import pathlib
import shlex
import time

from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import ProgressBar
from densenet_hub.cli.shell import find_labelled_images
from densenet_hub.cli.shell import skipped_images_as_warnings

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

MULTI_LABEL_EPOCHS = 15
MULTI_LABEL_OUT = "densenet_hub_demo_multilabel"
# Below this the multi-label demo reports a failure: chance is 0.5.
MIN_AUROC = 0.9
PREDICTED_MOSAICS = 4
EXPLAINED_MOSAICS = 3
MULTI_LABEL_OUTPUTS = (
    "mosaics",
    "base_preset",
    "mosaics_preset",
    "mosaics_preset.checkpoints",
    "explain",
    "roc_curves.png",
    "metrics.json",
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
        help=f"output folder (default {OUT}; {MULTI_LABEL_OUT} with --multi-label)",
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
        help=f"training epochs (default {EPOCHS}; {MULTI_LABEL_EPOCHS} "
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
        default=MIN_AUROC,
        help=f"with --multi-label: fail (exit status 1) below this mean test "
        f"AUROC (default {MIN_AUROC}; chance is 0.5)",
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
    """Runs the demo `args` asks for; returns the exit status (a `CliError`
    below `--min-accuracy` or `--min-auroc`)."""
    if args.multi_label:
        return _run_mosaics(args)
    return _run_digits(args)


def _run_digits(args):
    from densenet_hub import demos
    from densenet_hub.evaluation import draw_confusion_matrix

    started = time.monotonic()
    out = pathlib.Path(args.out or OUT)
    demos.prepare_demo_folder(out, args.overwrite, OUTPUTS)
    train_dir, test_dir = demos.write_digit_folders(
        out / "digits", args.images_per_class, args.seed
    )
    step(f"wrote digit images to {train_dir} and {test_dir}")
    base = out / "base_preset"
    demos.tiny_classifier().save_to_preset(str(base))
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
    report = _evaluate_digits(preset, test_dir, args.quiet)
    confusion = out / "confusion_matrix.png"
    draw_confusion_matrix(confusion, report)
    print(f"{report.table()}\n\nconfusion matrix: {confusion}")

    examples = demos.digit_examples(test_dir)
    step("predicting a few held-out digits")
    command(
        args.parser, "predict", str(preset), *map(str, examples), "--top-k", "3", "--quiet"
    )
    step("explaining them with Grad-CAM")
    for path in examples[:EXPLAINED_IMAGES]:
        heat = out / "explain" / f"{path.parent.name}_{path.stem}.png"
        heat.parent.mkdir(exist_ok=True)
        command(args.parser, "explain", str(preset), str(path), "--out", str(heat))

    print(
        f"\n== demo finished in {time.monotonic() - started:.0f} s\n"
        f"accuracy on {report.images} held-out digits: {report.accuracy:.4f} "
        f"(chance: {CHANCE:.2f}), top-{report.top_k}: {report.top_k_accuracy:.4f}\n"
        f"outputs in {out}:\n"
        f"  fine-tuned preset:  {preset}\n"
        f"  confusion matrix:   {confusion}\n"
        f"  Grad-CAM heat maps: {out / 'explain'}\n"
        f"  digit images:       {out / 'digits'}\n"
        f"try: densenet-hub predict {preset} {out / 'digits' / 'test' / '7'}"
    )
    if report.accuracy < args.min_accuracy:
        raise CliError(
            f"the demo reached an accuracy of {report.accuracy:.4f}, below "
            f"--min-accuracy {args.min_accuracy} (chance is {CHANCE}); train "
            "longer with --epochs."
        )
    return 0


def _evaluate_digits(preset, test_dir, quiet):
    """The `SingleLabelReport` of the trained preset on the held-out digits,
    measured by the objective it was trained for."""
    from densenet_hub import training
    from densenet_hub.inference import load_classifier

    paths, labels, class_names = find_labelled_images(test_dir)
    classifier, _ = load_classifier(str(preset))
    objective = training.SingleLabelObjective(labels, class_names)
    bar = ProgressBar(len(paths), "images", enabled=not quiet)
    try:
        with skipped_images_as_warnings():
            return objective.evaluate(classifier, paths, on_batch=bar.advance)
    finally:
        bar.close()


def _run_mosaics(args):
    from densenet_hub import demos

    started = time.monotonic()
    out = pathlib.Path(args.out or MULTI_LABEL_OUT)
    demos.prepare_demo_folder(out, args.overwrite, MULTI_LABEL_OUTPUTS)
    train, test = demos.write_mosaic_tables(out / "mosaics", args.images_per_class, args.seed)
    step(
        f"wrote {len(train.truth)} training mosaics of {len(set(train.patients))} "
        f"patients to {train.table} ({train.uncertain} labels uncertain, "
        f"{train.unmentioned} unmentioned) and {len(test.truth)} held-out mosaics "
        f"of {len(set(test.patients))} patients with other scans to {test.table}"
    )
    base = out / "base_preset"
    demos.tiny_classifier().save_to_preset(str(base))
    step(f"saved the untrained architecture to {base}")

    preset = out / "mosaics_preset"
    quiet = ["--quiet"] if args.quiet else []
    command(
        args.parser,
        "train", str(train.table), "--preset", str(base), "--out", str(preset),
        "--group-column", demos.GROUP_COLUMN, "--uncertainty", "ignore",
        "--unmentioned", "ignore",
        # As in the single-label demo: the backbone is as random as the head,
        # so there is nothing for a head-only warm-up to protect.
        "--no-pretrained", "--warmup-epochs", "0",
        "--epochs", str(MULTI_LABEL_EPOCHS if args.epochs is None else args.epochs),
        "--learning-rate", "3e-3", "--patience", "4",
        # No flips: a mirrored digit is another shape (or none).
        "--augment", "rotate,zoom,translate", "--seed", str(args.seed), *quiet,
    )  # fmt: skip
    step(f"evaluating {preset} on the held-out mosaics in {test.table}")
    metrics_file = out / "metrics.json"
    command(
        args.parser,
        "evaluate", str(preset), str(test.table),
        "--roc", str(out / "roc_curves.png"), "--metrics-json", str(metrics_file), *quiet,
    )  # fmt: skip
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))

    examples = test.first_mosaics(PREDICTED_MOSAICS)
    step("predicting a few held-out mosaics")
    command(args.parser, "predict", str(preset), *map(str, examples), "--top-k", "4", "--quiet")
    step("explaining every digit found in a few of them with Grad-CAM")
    (out / "explain").mkdir()
    for path in examples[:EXPLAINED_MOSAICS]:
        # Without --class: a map per finding at or above its threshold.
        command(args.parser, "explain", str(preset), str(path),
                "--out", str(out / "explain" / path.name))  # fmt: skip

    finding = demos.FINDINGS[0]
    print(
        f"\n== demo finished in {time.monotonic() - started:.0f} s\n"
        f"mean AUROC on {metrics['images']} held-out mosaics of "
        f"{len(set(test.patients))} unseen patients: {metrics['mean_auroc']:.4f} "
        f"(chance: 0.5), mean average precision: {metrics['mean_average_precision']:.4f}\n"
        f"outputs in {out}:\n"
        f"  fine-tuned preset:  {preset}\n"
        f"  metrics (JSON):     {out / 'metrics.json'}\n"
        f"  ROC curves:         {out / 'roc_curves.png'}\n"
        f"  Grad-CAM heat maps: {out / 'explain'}\n"
        f"  mosaics and tables: {out / 'mosaics'} (train.csv, test.csv)\n"
        f"try: densenet-hub predict {preset} {test.table}\n"
        f"     densenet-hub explain {preset} {examples[0]} --class {finding} "
        f"--out {finding}.png"
    )
    if metrics["mean_auroc"] < args.min_auroc:
        raise CliError(
            f"the demo reached a mean AUROC of {metrics['mean_auroc']:.4f} on the held-out "
            f"mosaics, below --min-auroc {args.min_auroc} (chance is 0.5); train "
            "longer with --epochs, or on more scans (leave out --images-per-class)."
        )
    return 0


def command(parser, *argv):
    """Runs one `densenet-hub` command with `parser`, as the shell would,
    after printing it quoted for the shell."""
    print(f"\n$ densenet-hub {shlex.join(argv)}", flush=True)
    args = parser.parse_args(argv)
    status = args.run(args)
    if status != 0:
        raise CliError(f"the demo's `{argv[0]}` step ended with status {status}.")


def step(message):
    """Prints a step's headline."""
    print(f"\n== {message}", flush=True)
