"""`densenet-hub evaluate PRESET DATA`: on a class folder, accuracy, top-5
accuracy, per-class precision and recall, and a confusion matrix picture; on
a multi-label table, per-finding AUROC, average precision, sensitivity and
specificity at the preset's thresholds, and ROC curves."""

import json
import pathlib

import numpy as np

from densenet_hub.cli import shell
from densenet_hub.cli.shell import format_table
from densenet_hub.cli.shell import warn
from densenet_hub.cli.drawing import draw_roc_curves
from densenet_hub.cli.drawing import save_confusion_matrix
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import find_labelled_images
from densenet_hub.cli.shell import skipped_images_as_warnings
from densenet_hub.cli.shell import DATA_HELP
from densenet_hub.cli.shell import add_label_table_options
from densenet_hub.cli.shell import is_label_table
from densenet_hub.cli.shell import read_table
from densenet_hub.inference import load_classifier
from densenet_hub.cli.shell import ProgressBar
from densenet_hub.evaluation import evaluate_table
from densenet_hub.presets.class_labels import default_class_names
from densenet_hub.cli.commands.predict import classify_files

TOP_K = 5
OTHER_CLASSES = "(other)"


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
        report = evaluate_label_table(args)
        print(json.dumps(report.to_json(), indent=2) if args.json else report.table())
        if not args.json:
            print(f"\nROC curves: {args.roc}")
        return 0
    metrics = evaluate_folder(
        args.preset,
        args.data_dir,
        args.confusion_matrix,
        batch_size=args.batch_size,
        image_size=args.image_size,
        on_error=args.on_error,
        progress=not args.quiet,
    )
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(format_report(metrics))
    return 0


def evaluate_folder(
    preset, data_dir, confusion_matrix_path, batch_size=32, image_size=None, on_error="skip",
    progress=True,
):
    """Evaluates a classifier preset on a labelled folder.

    Returns:
        A JSON-able dict: `images`, `accuracy`, `top_k`, `top_k_accuracy`,
        `classes` (per-class `precision`, `recall`, `images`) and
        `confusion_matrix` (the PNG's path).
    """
    paths, folder_labels, folder_names = find_labelled_images(data_dir, on_error)
    classifier, labels = load_classifier(preset, image_size)
    class_indices = _class_indices(folder_names, labels.names)
    probabilities, kept = classify_files(classifier, paths, batch_size, on_error, progress)
    row_of = {path: row for row, path in enumerate(paths)}
    truth = class_indices[folder_labels[[row_of[path] for path in kept]]]
    predicted = np.argmax(probabilities, axis=-1)
    top_k = min(TOP_K, probabilities.shape[1])
    ranked = np.argsort(-probabilities, axis=-1, kind="stable")[:, :top_k]
    metrics = {
        "images": len(kept),
        "accuracy": float(np.mean(predicted == truth)),
        "top_k": top_k,
        "top_k_accuracy": float(np.mean(np.any(ranked == truth[:, None], axis=-1))),
        "classes": _per_class(truth, predicted, class_indices, folder_names),
        "confusion_matrix": str(confusion_matrix_path),
    }
    matrix, column_names = _confusion_matrix(truth, predicted, class_indices, folder_names)
    save_confusion_matrix(
        confusion_matrix_path, matrix, folder_names, column_names, metrics["accuracy"]
    )
    return metrics


def evaluate_label_table(args, progress=None):
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
    bar = ProgressBar(len(table.paths), "images", enabled=not args.quiet)
    try:
        with skipped_images_as_warnings():
            report, _, _ = evaluate_table(
                classifier, table, None if unnamed else labels.names, labels.thresholds,
                batch_size=args.batch_size, on_error=args.on_error,
                bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed,
                on_batch=bar.advance,
            )  # fmt: skip
    finally:
        bar.close()
    draw_roc_curves(args.roc, report)
    if args.metrics_json is not None:
        report.save_json(args.metrics_json, overwrite=True)
    return report


def _class_indices(folder_names, class_names):
    """The model's class index of each class folder, matched by name.

    A preset without stored names (`class_0`, ...) is matched by the
    folders' sorted order, with a warning.
    """
    position = {name: index for index, name in enumerate(class_names)}
    unknown = [name for name in folder_names if name not in position]
    if not unknown:
        return np.asarray([position[name] for name in folder_names])
    generic = class_names == [f"class_{i}" for i in range(len(class_names))]
    if generic and len(folder_names) <= len(class_names):
        warn(
            "the preset stores no class names; matching the class folders to "
            "class indices 0, 1, ... in sorted order."
        )
        return np.arange(len(folder_names))
    shown = ", ".join(map(repr, class_names[:10])) + (", ..." if len(class_names) > 10 else "")
    raise CliError(
        f"class folder(s) {', '.join(map(repr, unknown[:10]))} are not classes of "
        f"the preset, which has {len(class_names)} classes ({shown}); name the "
        "sub-folders after the preset's classes."
    )


def _per_class(truth, predicted, class_indices, folder_names):
    classes = {}
    for name, index in zip(folder_names, class_indices):
        hits = int(np.sum((predicted == index) & (truth == index)))
        predicted_count = int(np.sum(predicted == index))
        actual_count = int(np.sum(truth == index))
        classes[name] = {
            "precision": hits / predicted_count if predicted_count else None,
            "recall": hits / actual_count if actual_count else None,
            "images": actual_count,
        }
    return classes


def _confusion_matrix(truth, predicted, class_indices, folder_names):
    """Counts over the folders' classes; predictions of any other class of
    the model go to one extra column."""
    column_of = {index: column for column, index in enumerate(class_indices)}
    other = len(class_indices)
    columns = np.asarray([column_of.get(index, other) for index in predicted], dtype="int64")
    rows = np.asarray([column_of[index] for index in truth], dtype="int64")
    matrix = np.zeros((len(class_indices), len(class_indices) + 1), dtype="int64")
    np.add.at(matrix, (rows, columns), 1)
    if matrix[:, other].any():
        return matrix, [*folder_names, OTHER_CLASSES]
    return matrix[:, :other], list(folder_names)


def format_report(metrics):
    """The metrics of `evaluate_folder` as text: totals, then a per-class table."""
    rows = [
        [name, _fraction(values["precision"]), _fraction(values["recall"]), values["images"]]
        for name, values in metrics["classes"].items()
    ]
    return "\n".join(
        [
            f"images: {metrics['images']}",
            f"accuracy: {metrics['accuracy']:.4f}",
            f"top-{metrics['top_k']} accuracy: {metrics['top_k_accuracy']:.4f}",
            "",
            format_table(["class", "precision", "recall", "images"], rows),
            "",
            f"confusion matrix: {pathlib.Path(metrics['confusion_matrix'])}",
        ]
    )


def _fraction(value):
    return "n/a" if value is None else f"{value:.4f}"
