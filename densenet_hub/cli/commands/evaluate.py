"""`densenet-hub evaluate PRESET DATA`: on a class folder, accuracy, top-5
accuracy, per-class precision and recall, and a confusion matrix picture; on
a multi-label table, per-finding AUROC, average precision, sensitivity and
specificity at the preset's thresholds, and ROC curves. The metrics and
pictures come from `densenet_hub.evaluation`. PRESET may be a folder
`densenet-hub quantize` wrote: its int8 model is then the one measured
(`densenet_hub.runtime.model_folders.load_scoring_model`). `--predictions`
and `--report` write the per-image CSV and the HTML report
(`densenet_hub.evaluation.predictions`, `.report`, `.subgroups`). Every file
goes into `--out DIR` unless named by an absolute path."""

import json
import math
import pathlib
import sys

from densenet_hub.base.publish import check_target
from densenet_hub.base.publish import publish_json
from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import DATA_HELP
from densenet_hub.cli.shell import add_label_table_options
from densenet_hub.cli.shell import find_labelled_images
from densenet_hub.cli.shell import image_progress
from densenet_hub.cli.shell import is_label_table
from densenet_hub.cli.shell import warn


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
        "as a PNG. Either kind: --predictions writes each image's results as "
        "CSV and --report the whole evaluation as one self-contained HTML "
        "file with its numbers as JSON. Every file goes into --out (default: "
        "the current folder), and each one's path is printed (on stderr with "
        "--json, whose stdout holds only the metrics).",
    )
    parser.add_argument(
        "preset",
        help="classifier preset (built-in name, handle or folder), or a folder "
        "written by `densenet-hub quantize` (its int8 model is evaluated)",
    )
    parser.add_argument("data_dir", metavar="DATA", help=DATA_HELP)
    parser.add_argument(
        "--confusion-matrix",
        default="confusion_matrix.png",
        help="class folders: where to write the confusion matrix PNG "
        "(default confusion_matrix.png)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the metrics as JSON on stdout (the notes and the paths written go "
        "to stderr); --metrics-json FILE writes the same document to a file",
    )
    parser.add_argument(
        "--metrics-json",
        metavar="FILE",
        default=None,
        help="also write the metrics to this JSON file (the document --json prints)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=".",
        help="the folder for every file evaluate writes (created if missing; default "
        "the current folder): relative names given to --confusion-matrix, --roc, "
        "--metrics-json, --predictions, --report and --report-json go inside it, "
        "absolute paths stay as given",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that exist (the confusion matrix or ROC picture, "
        "--metrics-json, --predictions, --report, --report-json); without it an "
        "existing one stops the run before any work",
    )
    shell.add_batch_options(parser)
    shell.add_tta_option(parser)
    add_label_table_options(parser, preset_policies=True)
    group = parser.add_argument_group("multi-label metrics (when DATA is a table)")
    group.add_argument(
        "--roc",
        default="roc_curves.png",
        help="where to write the ROC curves PNG (default roc_curves.png)",
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
    _add_report_options(parser)
    parser.add_argument(
        "--fit-temperature",
        action="store_true",
        help="fit temperature scaling on DATA (held-out labels, e.g. the validation "
        "split: one temperature per finding, or one for a softmax head, minimising "
        "the negative log likelihood), print the NLL and ECE before and after, and "
        "save it in the preset folder (temperature.json), which predict, evaluate "
        "and from-folder loading then apply",
    )
    parser.set_defaults(run=run)


# With --report and no --bootstrap, the report's AUROC intervals use this many resamples.
REPORT_BOOTSTRAP = 1000
# Options that name where outputs go, not how the evaluation ran: left out
# of the report's settings.
NOT_SETTINGS = ("run", "preset", "data_dir", "confusion_matrix", "json", "roc", "metrics_json",
                "predictions", "report", "report_json", "quiet", "overwrite", "out")  # fmt: skip
# The options naming files evaluate writes, placed in --out, with what each holds.
OUTPUT_OPTIONS = {
    "confusion_matrix": "confusion matrix",
    "roc": "ROC curves",
    "metrics_json": "metrics (JSON)",
    "predictions": "per-image predictions (CSV)",
    "report": "report (HTML)",
    "report_json": "report numbers (JSON)",
}


def _place_outputs(args):
    """Puts the output files given by relative names into `--out`, and the
    report's JSON beside the report unless it is named."""
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(
            f"--out {args.out} is a file, but --out names the folder for every file evaluate "
            "writes; pass a folder (it is created if missing)."
        )
    for name in OUTPUT_OPTIONS:
        path = getattr(args, name)
        if path is not None:
            # An absolute path stays as given: `out / path` is then `path`.
            setattr(args, name, str(out / path))
    if args.report is not None and args.report_json is None:
        args.report_json = str(pathlib.Path(args.report).with_suffix(".json"))


def _outputs(args):
    """The files this run writes: (option, path), in the order written."""
    picture = "roc" if is_label_table(args.data_dir) else "confusion_matrix"
    names = (picture, "metrics_json", "predictions", "report", "report_json")
    return [(name, getattr(args, name)) for name in names if getattr(args, name) is not None]


def _check_outputs(args):
    """Refuses, before any work, to replace an existing output file without
    --overwrite (the pictures have default names, easily written twice), or
    to write two outputs to one path; then makes the folders they go in."""
    outputs = _outputs(args)
    taken = {}
    for name, path in outputs:
        key = pathlib.Path(path).resolve()
        if key in taken:
            raise CliError(
                f"--{taken[key].replace('_', '-')} and --{name.replace('_', '-')} both name "
                f"{path}; give them different paths."
            )
        taken[key] = name
    for _, path in outputs:
        check_target(path, args.overwrite)
    for _, path in outputs:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)


def _add_report_options(parser):
    group = parser.add_argument_group("per-image output and the report (folders and tables)")
    group.add_argument(
        "--predictions",
        metavar="CSV",
        default=None,
        help="write each image's results: on a table, path then per finding its label "
        "(empty where the policy leaves it out), weight, probability and decision at the "
        "threshold; on a class folder, path, true class, predicted class, probability "
        "and correct (0: misclassified)",
    )
    group.add_argument(
        "--report",
        metavar="HTML",
        default=None,
        help="write the evaluation report as one self-contained HTML file (pictures "
        "inline, no network): what was evaluated, metrics with bootstrap intervals "
        f"(--bootstrap, default {REPORT_BOOTSTRAP} here), calibration, curves, "
        "subgroups and Grad-CAM pictures of the most confident mistakes",
    )
    group.add_argument(
        "--report-json",
        metavar="JSON",
        default=None,
        help="write the report's numbers as JSON (default with --report: beside it, "
        "same name with .json)",
    )
    group.add_argument(
        "--subgroups",
        metavar="COLUMNS",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=None,
        help="tables: per-finding AUROC by the values of these comma-separated columns, "
        "e.g. 'Patient Gender,View Position'; numeric columns (age) are binned",
    )
    group.add_argument(
        "--age-bins",
        metavar="EDGES",
        default=None,
        help="edges of the bins of numeric subgroup columns, e.g. 0,40,60,80,200 "
        "(bins [0, 40), [40, 60), ...; default: decades)",
    )
    group.add_argument(
        "--report-examples",
        type=shell.non_negative_int,
        default=2,
        metavar="N",
        help="Grad-CAM pictures in the report per finding and kind of mistake (false "
        "positive, false negative), or of misclassified images (default 2; 0: none)",
    )


def run(args):
    if args.report is not None and args.bootstrap == 0:
        args.bootstrap = REPORT_BOOTSTRAP
    _place_outputs(args)
    _check_subgroup_options(args)
    if args.fit_temperature and not pathlib.Path(args.preset).is_dir():
        raise CliError(
            f"--fit-temperature saves into the preset folder, but {args.preset!r} is no "
            "folder; pass a preset folder (e.g. one `densenet-hub train` or `convert` wrote)."
        )
    _check_outputs(args)
    if is_label_table(args.data_dir):
        report = _evaluate_table(args)
    else:
        report = _evaluate_folder(args)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.table())
    _note(args, "\nwrote:\n" + "\n".join(
        f"  {OUTPUT_OPTIONS[name]}: {path}" for name, path in _outputs(args)))  # fmt: skip
    return 0


def _evaluate_folder(args):
    """Evaluates `args.preset` on the class folder `args.data_dir`; writes
    the confusion matrix and the files asked for; returns the
    `SingleLabelReport`."""
    from densenet_hub.evaluation import draw_confusion_matrix
    from densenet_hub.evaluation.labelled_files import evaluate_images_scored
    from densenet_hub.runtime.model_folders import load_scoring_model

    paths, labels, class_names = find_labelled_images(args.data_dir, args.on_error)
    classifier, output_labels = load_scoring_model(args.preset, args.image_size)
    with image_progress(len(paths), args.quiet) as on_batch:
        report, probabilities, kept, outputs = evaluate_images_scored(
            classifier, paths, labels, class_names, output_labels.names,
            batch_size=args.batch_size, on_error=args.on_error, on_batch=on_batch,
            tta=args.tta,
        )  # fmt: skip
    draw_confusion_matrix(args.confusion_matrix, report)
    if args.fit_temperature:
        _fit_temperature(args, output_labels, probabilities,
                         [int(outputs[labels[i]]) for i in kept], None, None)  # fmt: skip
    _save_metrics(args, report)
    _write_folder_outputs(args, classifier, report, [paths[i] for i in kept],
                          [labels[i] for i in kept], class_names, probabilities,
                          output_labels.names, outputs)  # fmt: skip
    return report


def _evaluate_table(args):
    """Evaluates `args.preset` on the label table `args.data_dir` as the
    options say; writes the ROC curves (and the JSON); returns the
    `MultiLabelReport`. The preset's findings, their order and the label
    policies it was trained with are the defaults; a policy given that
    differs is applied with a warning."""
    from densenet_hub.cli.shell import read_table_for_model
    from densenet_hub.evaluation import draw_roc_curves
    from densenet_hub.evaluation import evaluate_table
    from densenet_hub.runtime.model_folders import load_scoring_model
    from densenet_hub.presets.class_labels import default_class_names

    classifier, labels = load_scoring_model(args.preset, args.image_size, multi_label=True)
    unnamed = labels.names == default_class_names(classifier.num_classes)
    if unnamed:
        warn(
            "the preset stores no class names; taking the table's findings as "
            "its outputs in order."
        )
    policies, overridden = labels.label_policies(args.uncertainty, args.unmentioned)
    for name, given, saved in overridden:
        warn(f"--{name} {given} overrides the preset's {name} policy {saved!r}.")
    args.uncertainty, args.unmentioned = policies["uncertainty"], policies["unmentioned"]
    table, unlabelled = read_table_for_model(args, args.data_dir, None if unnamed else labels.names)
    if labels.thresholds is None:
        warn(
            "the preset stores no decision thresholds (only `densenet-hub "
            "train` on a table saves them); sensitivity and specificity are left out."
        )
    with image_progress(len(table.paths), args.quiet) as on_batch:
        report, probabilities, kept = evaluate_table(
            classifier, table, None if unnamed else labels.names, labels.thresholds,
            batch_size=args.batch_size, on_error=args.on_error,
            bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed,
            on_batch=on_batch, tta=args.tta,
        )  # fmt: skip
    if unlabelled:
        report.findings = _with_unlabelled(report.findings, labels, unlabelled)
    if args.fit_temperature:
        names = table.findings if unnamed else labels.names
        _fit_temperature(args, labels, probabilities, table.targets[kept], table.weights[kept],
                         [names.index(name) for name in table.findings])  # fmt: skip
    draw_roc_curves(args.roc, report)
    _save_metrics(args, report)
    _write_table_outputs(args, classifier, table, None if unnamed else labels.names, report,
                         probabilities, kept)  # fmt: skip
    return report


def _save_metrics(args, report):
    """--metrics-json: the document --json prints, complete or absent."""
    if args.metrics_json is not None:
        publish_json(args.metrics_json, report.to_json(), overwrite=True)


def _check_subgroup_options(args):
    """Refuses subgroup options that cannot apply before any image is scored."""
    from densenet_hub.evaluation.subgroups import parse_bins

    if args.subgroups and not is_label_table(args.data_dir):
        raise CliError(
            f"--subgroups needs a label table with those columns, but {args.data_dir} is "
            "an image folder; pass a CSV table (e.g. CheXpert's valid.csv) or leave "
            "--subgroups out."
        )
    if args.age_bins is not None:
        try:
            parse_bins(args.age_bins)
        except ValueError as error:
            raise CliError(f"--age-bins: {error}") from None


def _settings(args):
    """The run's options for the report's record: every option but the
    output paths, so that a new option shows without a change here."""
    plain = (str, int, float, bool, list, tuple, type(None))
    return {name: value for name, value in sorted(vars(args).items())
            if name not in NOT_SETTINGS and isinstance(value, plain)}  # fmt: skip


def _write_table_outputs(args, classifier, table, class_names, report, probabilities, kept):
    """The per-image CSV and the report of a table's evaluation, as asked."""
    from densenet_hub.evaluation import predictions
    from densenet_hub.evaluation import report as reports
    from densenet_hub.evaluation import subgroups

    paths = [str(table.paths[i]) for i in kept]
    targets, weights = table.targets[kept], table.weights[kept]
    if args.predictions is not None:
        thresholds = {finding.name: finding.threshold for finding in report.findings}
        wanted = [thresholds.get(name) for name in table.findings]
        predictions.write_multilabel_predictions(
            args.predictions, paths, table.findings, targets, probabilities, weights,
            None if None in wanted else wanted, overwrite=True,
        )  # fmt: skip
    rows = None
    if args.subgroups:
        bins = None if args.age_bins is None else subgroups.parse_bins(args.age_bins)
        cells = subgroups.table_columns(table, args.subgroups, args.path_column)
        cells = {name: [values[i] for i in kept] for name, values in cells.items()}
        rows = subgroups.subgroup_aurocs(targets, probabilities, table.findings, cells,
                                         weights, bins)  # fmt: skip
        _note(args, subgroups.subgroup_table(rows) + "\n")
    if args.report is not None or args.report_json is not None:
        outputs = None
        if class_names is not None:
            outputs = [list(class_names).index(name) for name in table.findings]
        reports.write_multi_label_report(
            report, paths, targets, probabilities, weights,
            reports.evaluation_context(args.preset, args.data_dir, _settings(args)),
            html_path=args.report, json_path=args.report_json, subgroups=rows,
            classifier=classifier, outputs=outputs, examples=args.report_examples,
            findings=table.findings, overwrite=True,
        )  # fmt: skip


def _write_folder_outputs(args, classifier, report, paths, labels, class_names, probabilities,
                          output_names, outputs):  # fmt: skip
    """The per-image CSV and the report of a class folder's evaluation, as asked."""
    from densenet_hub.evaluation import predictions
    from densenet_hub.evaluation import report as reports

    if args.predictions is None and args.report is None and args.report_json is None:
        return
    rows = predictions.single_label_rows(paths, labels, class_names, probabilities,
                                         output_names, outputs)  # fmt: skip
    if args.predictions is not None:
        predictions.write_single_label_predictions(
            args.predictions, paths, labels, class_names, probabilities, output_names,
            outputs, overwrite=True,
        )  # fmt: skip
        wrong = sum(row[4] == "0" for row in rows)
        _note(args, f"{wrong} of {len(rows)} images misclassified (correct 0 in "
                    f"{args.predictions})")  # fmt: skip
    if args.report is not None or args.report_json is not None:
        reports.write_single_label_report(
            report, rows, reports.evaluation_context(args.preset, args.data_dir, _settings(args)),
            html_path=args.report, json_path=args.report_json, classifier=classifier,
            output_names=list(output_names), examples=args.report_examples, overwrite=True,
        )  # fmt: skip


def _note(args, text):
    """Prints `text`, on stderr when stdout holds the metrics as JSON."""
    print(text, file=sys.stderr if args.json else sys.stdout)


def _with_unlabelled(findings, labels, unlabelled):
    """The report's findings in the model's order, a model finding the
    table holds no labels for kept as an n/a row (no positive and no
    negative entry) rather than left out."""
    from densenet_hub.evaluation import FindingMetrics

    measured = {finding.name: finding for finding in findings}
    rows = []
    for index, name in enumerate(labels.names):
        if name in measured:
            rows.append(measured[name])
        elif name in unlabelled:
            threshold = None if labels.thresholds is None else labels.thresholds[index]
            undefined = None if threshold is None else math.nan
            rows.append(FindingMetrics(name, 0, 0, math.nan, math.nan, threshold,
                                       undefined, undefined))  # fmt: skip
    return rows


def _fit_temperature(args, labels, probabilities, targets, weights, columns):
    """Fits temperature scaling to the evaluated images and saves it in the
    preset folder. `columns`: the output of each column of a multi-label
    `probabilities`; `None` for a softmax head (one temperature, targets
    are output indices). The probabilities already carry the preset's
    earlier temperatures, so the new ones multiply them."""
    from densenet_hub.evaluation.temperature import fit_temperature
    from densenet_hub.presets.class_labels import save_temperatures

    multi_label = columns is not None
    fit = fit_temperature(probabilities, targets, weights, multi_label=multi_label)
    count = len(labels.names) if multi_label else 1
    old = labels.temperatures or [1.0]
    temperatures = [old[i] if len(old) > 1 else old[0] for i in range(count)]
    for position, value in enumerate(fit.temperatures):
        output = columns[position] if multi_label else position
        temperatures[output] *= value
    facts = {"images": fit.images, "nll_before": fit.nll_before, "nll_after": fit.nll_after,
             "ece_before": fit.ece_before, "ece_after": fit.ece_after,
             "data": str(args.data_dir)}  # fmt: skip
    save_temperatures(args.preset, temperatures, facts)
    named = [labels.names[c] for c in columns] if multi_label else None
    _note(args, fit.text(named))
    _note(args, f"saved {pathlib.Path(args.preset) / 'temperature.json'}")
