"""`densenet-hub evaluate PRESET DATA`: on a class folder, accuracy, top-5
accuracy, per-class precision and recall, and a confusion matrix picture; on
a multi-label table, per-finding AUROC, average precision, sensitivity and
specificity at the preset's thresholds, and ROC curves. The metrics and
pictures come from `densenet_hub.evaluation`."""

import json
import pathlib

from densenet_hub.cli import shell
from densenet_hub.cli.shell import DATA_HELP
from densenet_hub.cli.shell import add_label_table_options
from densenet_hub.cli.shell import find_labelled_images
from densenet_hub.cli.shell import image_progress
from densenet_hub.cli.shell import is_label_table
from densenet_hub.cli.shell import read_table
from densenet_hub.cli.shell import warn
from densenet_hub.evaluation import draw_confusion_matrix
from densenet_hub.evaluation import draw_roc_curves
from densenet_hub.evaluation import evaluate_images
from densenet_hub.evaluation import evaluate_table
from densenet_hub.inference import load_classifier
from densenet_hub.presets.class_labels import default_class_names


def register(subparsers):
    """Adds the `evaluate` command to `subparsers`."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure a classifier on a labelled image folder or a multi-label table",
        description="Classifies every image of DATA. A class folder (one "
        "sub-folder per class, named as the preset's classes): reports "
        "accuracy, top-5 accuracy, per-class precision and recall, and writes "
        "the confusion matrix as a PNG. A multi-label table: reports each "
        "finding's AUROC and average precision (scikit-learn), their means, "
        "sensitivity and specificity at the preset's saved thresholds and, "
        "with --bootstrap, AUROC confidence intervals; draws the ROC curves "
        "as a PNG.",
    )
    parser.add_argument("preset", help="classifier preset: built-in name, handle or folder")
    parser.add_argument("data_dir", metavar="DATA", help=DATA_HELP)
    parser.add_argument(
        "--confusion-matrix",
        default="confusion_matrix.png",
        help="class folders: where to write the confusion matrix PNG "
        "(default confusion_matrix.png)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    shell.add_batch_options(parser)
    add_label_table_options(parser)
    group = parser.add_argument_group("multi-label metrics (when DATA is a table)")
    group.add_argument(
        "--roc",
        default="roc_curves.png",
        help="where to write the ROC curves PNG (default roc_curves.png)",
    )
    group.add_argument(
        "--metrics-json",
        default=None,
        help="also write the metrics to this JSON file",
    )
    group.add_argument(
        "--bootstrap",
        type=shell.non_negative_int,
        default=0,
        help="resamples for AUROC confidence intervals, e.g. 1000 (default 0: none)",
    )
    group.add_argument(
        "--confidence",
        type=shell.fraction,
        default=0.95,
        help="level of the bootstrap intervals (default 0.95)",
    )
    group.add_argument(
        "--seed",
        type=shell.non_negative_int,
        default=0,
        help="seed of the bootstrap resamples (default 0)",
    )
    parser.set_defaults(run=run)


def run(args):
    if is_label_table(args.data_dir):
        report = _evaluate_table(args)
        print(json.dumps(report.to_json(), indent=2) if args.json else report.table())
        if not args.json:
            print(f"\nROC curves: {args.roc}")
        return 0
    paths, labels, class_names = find_labelled_images(args.data_dir, args.on_error)
    classifier, output_labels = load_classifier(args.preset, args.image_size)
    with image_progress(len(paths), args.quiet) as on_batch:
        report = evaluate_images(
            classifier, paths, labels, class_names, output_labels.names,
            batch_size=args.batch_size, on_error=args.on_error, on_batch=on_batch,
        )  # fmt: skip
    draw_confusion_matrix(args.confusion_matrix, report)
    if args.json:
        print(json.dumps({**report.to_json(), "confusion_matrix": str(args.confusion_matrix)},
                         indent=2))  # fmt: skip
    else:
        print(f"{report.table()}\n\nconfusion matrix: {pathlib.Path(args.confusion_matrix)}")
    return 0


def _evaluate_table(args):
    """Evaluates `args.preset` on the label table `args.data_dir` as the
    options say; writes the ROC curves (and the JSON); returns the
    `MultiLabelReport`."""
    table = read_table(args, args.data_dir)
    classifier, labels = load_classifier(args.preset, args.image_size, multi_label=True)
    unnamed = labels.names == default_class_names(classifier.num_classes)
    if unnamed:
        warn(
            "the preset stores no class names; taking the table's findings as "
            "its outputs in order."
        )
    if labels.thresholds is None:
        warn(
            "the preset stores no decision thresholds (only `densenet-hub "
            "train` on a table saves them); sensitivity and specificity are left out."
        )
    with image_progress(len(table.paths), args.quiet) as on_batch:
        report, _, _ = evaluate_table(
            classifier, table, None if unnamed else labels.names, labels.thresholds,
            batch_size=args.batch_size, on_error=args.on_error,
            bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed,
            on_batch=on_batch,
        )  # fmt: skip
    draw_roc_curves(args.roc, report)
    if args.metrics_json is not None:
        report.save_json(args.metrics_json, overwrite=True)
    return report

