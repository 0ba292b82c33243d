"""The evaluation report a paper needs, as ONE self-contained HTML file and
a JSON file with the same numbers.

The HTML holds no link to anything outside it: the CSS is inline, there is
no script, and every picture (ROC, precision-recall and reliability
curves, the confusion matrix, Grad-CAM maps) is an inline base64 PNG, so
it opens offline, attached to an e-mail or in a review system. Text is
escaped with the standard library's `html.escape`; no template engine.

What a report states:
- what was evaluated (`evaluation_context`): the preset, the data file and
  the table's SHA-256, the package, Keras, backend, NumPy and scikit-learn
  versions, the date, and a `settings` mapping the caller passes (filters,
  label policies, test-time augmentation, bootstrap, ...) shown as given;
- multi-label: per finding AUROC with its bootstrap interval, average
  precision, the threshold with sensitivity and specificity, the expected
  calibration error (`CALIBRATION_BINS` equal-width bins, see
  `calibration`), the subgroup AUROCs (`subgroups`), and Grad-CAM pictures
  of the most confident false positives (negatives with the highest
  probability at or above the threshold) and false negatives (positives
  with the lowest probability below it), the threshold being 0.5 when the
  report has none;
- single-label: accuracy, per-class precision and recall, the confusion
  matrix, the misclassified images (most confident first) and Grad-CAM
  pictures of the most confident ones.

Every number in the HTML carries its exact value in a `data-value`
attribute, so a test or a script can compare the page with the JSON.
"""

import base64
import datetime
import hashlib
import html
import io
import json
import math
import pathlib
import platform
import warnings

import numpy as np

from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file
from densenet_hub.evaluation.calibration import reliability_curves
from densenet_hub.evaluation.plots import draw_confusion_matrix
from densenet_hub.evaluation.plots import draw_pr_curves
from densenet_hub.evaluation.plots import draw_reliability_diagram
from densenet_hub.evaluation.plots import draw_roc_curves
from densenet_hub.version import __version__

# Guo et al. (2017, "On calibration of modern neural networks") bin in 15.
CALIBRATION_BINS = 15
# Grad-CAM pictures per finding and kind of mistake (false positive, false
# negative), or of misclassified images in a single-label report.
EXAMPLES = 2
DEFAULT_THRESHOLD = 0.5
# Misclassified images listed in the HTML (the JSON lists all of them).
LISTED_MISTAKES = 100
READ_CHUNK_BYTES = 1 << 20


def evaluation_context(preset, data, settings=None):
    """What was evaluated: the record at the top of a report.

    Args:
        preset: the evaluated preset (name, handle or folder).
        data: the evaluated table file or image folder.
        settings: a JSON-able mapping of the run's options as the caller
            names them (e.g. `{"where": [...], "uncertainty": "ones",
            "tta": "flip"}`), shown as given.

    Returns:
        A dict: `preset`, `data`, `table_sha256` (None for a folder),
        `versions`, `date` (UTC, ISO 8601) and `settings`.

    Example:
    ```python
    import pathlib, tempfile
    from densenet_hub.evaluation.report import evaluation_context

    table = pathlib.Path(tempfile.mkdtemp()) / "test.csv"
    table.write_bytes(b"Path,Edema\\na.png,1\\n")
    context = evaluation_context("my_preset", table, {"where": ["Sex=Female"]})
    assert context["table_sha256"].startswith("a9f0ecc4")
    assert context["settings"] == {"where": ["Sex=Female"]}
    ```
    """
    import keras

    versions = {
        "densenet_hub": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    try:
        import sklearn

        versions["scikit-learn"] = sklearn.__version__
    except ImportError:
        pass
    digest = None
    if data is not None and _is_file(data):
        hasher = hashlib.sha256()
        with open(data, "rb") as file:
            for chunk in iter(lambda: file.read(READ_CHUNK_BYTES), b""):
                hasher.update(chunk)
        digest = hasher.hexdigest()
    return {
        "preset": str(preset),
        "data": None if data is None else str(data),
        "table_sha256": digest,
        "versions": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": _plain(dict(settings or {})),
    }


def confident_mistakes(targets, probabilities, weights, thresholds, per_kind=EXAMPLES):
    """Per finding, the most confident false positives and false negatives.

    Args:
        targets, probabilities, weights: `(images, findings)` arrays (weight
            above 0: the entry counts).
        thresholds: one threshold per finding, or None (0.5 for all).
        per_kind: how many of each kind per finding.

    Returns:
        A list of `(finding column, row, kind)` with kind `"false
        positive"` (most probable first) or `"false negative"` (least
        probable first), finding by finding.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation.report import confident_mistakes

    targets = np.array([[0], [0], [1], [1]])
    probabilities = np.array([[0.7], [0.9], [0.2], [0.8]])
    assert confident_mistakes(targets, probabilities, np.ones((4, 1)), [0.5]) == [
        (0, 1, "false positive"), (0, 0, "false positive"), (0, 2, "false negative")
    ]
    ```
    """
    targets = np.asarray(targets)
    probabilities = np.asarray(probabilities, dtype="float64")
    counted = np.asarray(weights) > 0
    found = []
    for column in range(probabilities.shape[1]):
        threshold = DEFAULT_THRESHOLD if thresholds is None else thresholds[column]
        score = probabilities[:, column]
        wrong_positive = np.flatnonzero(counted[:, column] & (targets[:, column] == 0)
                                        & (score >= threshold))  # fmt: skip
        wrong_negative = np.flatnonzero(counted[:, column] & (targets[:, column] == 1)
                                        & (score < threshold))  # fmt: skip
        ranked = wrong_positive[np.argsort(-score[wrong_positive], kind="stable")]
        found += [(column, int(row), "false positive") for row in ranked[:per_kind]]
        ranked = wrong_negative[np.argsort(score[wrong_negative], kind="stable")]
        found += [(column, int(row), "false negative") for row in ranked[:per_kind]]
    return found


def multi_label_document(
    report, image_paths, targets, probabilities, weights, context, subgroups=None,
    calibration_bins=CALIBRATION_BINS, examples=(), findings=None,
):  # fmt: skip
    """The JSON document of a multi-label report: the same numbers as the
    HTML.

    Args:
        report: the `MultiLabelReport`.
        image_paths: each row's image path.
        targets, probabilities, weights: the `(images, findings)` arrays the
            report was computed from.
        context: `evaluation_context(...)`.
        subgroups: None, or `SubgroupMetrics` rows (`subgroup_aurocs`).
        calibration_bins: the reliability curves' equal-width bins.
        examples: `confident_mistakes(...)`, the Grad-CAM examples.
        findings: the findings of the arrays' columns; by default the
            report's (which may also list findings without labels, as n/a).

    Returns:
        A JSON-able dict: `kind`, `context`, `metrics`
        (`MultiLabelReport.to_json()`), `calibration` (binning and, per
        finding, the ECE and the curve), `subgroups`, `examples`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import multilabel_report
    from densenet_hub.evaluation.report import multi_label_document

    targets, probabilities = np.array([[0], [1], [1]]), np.array([[0.2], [0.9], [0.4]])
    report = multilabel_report(targets, probabilities, ["Edema"])
    document = multi_label_document(report, ["a", "b", "c"], targets, probabilities,
                                    np.ones((3, 1)), {"preset": "p"}, calibration_bins=2)
    assert document["metrics"]["findings"][0]["auroc"] == 1.0
    assert document["calibration"]["findings"][0]["counts"] == [2, 1]
    ```
    """
    if findings is None:
        findings = [finding.name for finding in report.findings]
    curves = reliability_curves(targets, probabilities, findings, weights, calibration_bins)
    return _plain({
        "kind": "multi_label",
        "context": context,
        "metrics": report.to_json(),
        "calibration": {
            "bins": int(calibration_bins),
            "binning": (
                f"{calibration_bins} equal-width bins of [0, 1], bin k holding "
                f"probabilities in (k/{calibration_bins}, (k+1)/{calibration_bins}] "
                "(the first also 0); ECE: the bins' |share of positives - mean "
                "probability| weighted by their entries"
            ),
            "findings": [
                {
                    "name": curve.name,
                    "ece": curve.expected_calibration_error,
                    "counts": curve.counts.tolist(),
                    "mean_probabilities": curve.mean_probabilities.tolist(),
                    "positive_fractions": curve.positive_fractions.tolist(),
                }
                for curve in curves
            ],
        },
        "subgroups": None if subgroups is None else [row.to_json() for row in subgroups],
        "examples": [
            {
                "finding": findings[column],
                "kind": kind,
                "path": str(image_paths[row]),
                "probability": float(probabilities[row][column]),
            }
            for column, row, kind in examples
        ],
    })  # fmt: skip


def single_label_document(report, rows, context, examples=()):
    """The JSON document of a single-label report.

    Args:
        report: the `SingleLabelReport`.
        rows: `predictions.single_label_rows(...)` of the evaluated images.
        context: `evaluation_context(...)`.
        examples: indices into `rows` of the Grad-CAM examples.

    Returns:
        A JSON-able dict: `kind`, `context`, `metrics`
        (`SingleLabelReport.to_json()` plus the confusion matrix and its
        columns' names), `misclassified` (path, true and predicted class,
        probability; most confident first) and `examples`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import single_label_report
    from densenet_hub.evaluation.predictions import single_label_rows
    from densenet_hub.evaluation.report import single_label_document

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2]])
    report = single_label_report([0, 1], probabilities, ["cat", "dog"])
    rows = single_label_rows(["a.png", "b.png"], [0, 1], ["cat", "dog"], probabilities,
                             ["cat", "dog"])
    document = single_label_document(report, rows, {"preset": "p"})
    assert document["misclassified"] == [
        {"path": "b.png", "true": "dog", "predicted": "cat", "probability": 0.8}
    ]
    ```
    """
    metrics = report.to_json()
    metrics["confusion_matrix"] = np.asarray(report.confusion_matrix).tolist()
    metrics["predicted_names"] = list(report.predicted_names)
    return _plain({
        "kind": "single_label",
        "context": context,
        "metrics": metrics,
        "misclassified": [_mistake(rows[index]) for index in misclassified(rows)],
        "examples": [_mistake(rows[index]) for index in examples],
    })  # fmt: skip


def misclassified(rows):
    """The indices of the misclassified rows of `single_label_rows`, most
    confident (highest probability of the wrong class) first.

    Example:
    ```python
    from densenet_hub.evaluation.report import misclassified

    rows = [["a", "cat", "dog", "0.6", "0"], ["b", "cat", "cat", "0.9", "1"],
            ["c", "dog", "cat", "0.8", "0"]]
    assert misclassified(rows) == [2, 0]
    ```
    """
    wrong = [index for index, row in enumerate(rows) if row[4] == "0"]
    return sorted(wrong, key=lambda index: -float(rows[index][3]))


def grad_cam_pictures(classifier, image_paths, wanted):
    """The Grad-CAM picture (PNG bytes) of each `(path index, output,
    title)` in `wanted`, via `densenet_hub.explain`.

    Args:
        classifier: the evaluated `ImageClassifier`.
        image_paths: the evaluated images' paths.
        wanted: `(index into image_paths, classifier output, class name)`.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.evaluation.report import grad_cam_pictures

    path = f"{tempfile.mkdtemp()}/a.png"
    PIL.Image.fromarray(np.full((32, 32, 3), 90, "uint8")).save(path)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=2, activation="sigmoid",
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    (picture,) = grad_cam_pictures(classifier, [path], [(0, 1, "Edema")])
    assert picture.startswith(b"\\x89PNG")
    ```
    """
    from densenet_hub.data.images import read_image
    from densenet_hub.explain import draw_explanation
    from densenet_hub.explain import explain_image

    pictures = []
    for index, output, name in wanted:
        image = read_image(image_paths[index])
        (explanation,) = explain_image(classifier, image, class_index=int(output))
        buffer = io.BytesIO()
        draw_explanation(buffer, explanation.image, explanation.heat, name,
                         explanation.probability)  # fmt: skip
        pictures.append(buffer.getvalue())
    return pictures


def write_multi_label_report(
    report, image_paths, targets, probabilities, weights, context, *, html_path=None,
    json_path=None, subgroups=None, classifier=None, outputs=None, examples=EXAMPLES,
    calibration_bins=CALIBRATION_BINS, findings=None, overwrite=False,
):  # fmt: skip
    """Writes a multi-label evaluation's report: the HTML (`html_path`) and
    the JSON (`json_path`), each atomically; either may be None.

    Args:
        report: the `MultiLabelReport` (with bootstrap intervals when it
            was made with them).
        image_paths: each row's image path.
        targets, probabilities, weights: the `(images, findings)` arrays the
            report was computed from (e.g. `table.targets[kept]`).
        context: `evaluation_context(...)`.
        html_path, json_path: the files to write.
        subgroups: None, or `subgroup_aurocs(...)` rows.
        classifier: the evaluated `ImageClassifier`, for the Grad-CAM
            pictures; None leaves them out (an accelerated model too, with a
            warning).
        outputs: the classifier output of each finding (None: finding i is
            output i).
        examples: Grad-CAM pictures per finding and kind of mistake.
        calibration_bins: the reliability curves' equal-width bins.
        findings: the findings of the arrays' columns; by default the
            report's (which may also list findings without labels, as n/a).
        overwrite: replace existing files.

    Returns:
        The JSON document (`multi_label_document`).

    Example:
    ```python
    import json, pathlib, tempfile
    import numpy as np
    from densenet_hub.evaluation import multilabel_report
    from densenet_hub.evaluation.report import write_multi_label_report

    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, (40, 2))
    probabilities = np.clip(0.3 * targets + 0.7 * rng.random((40, 2)), 0, 1)
    report = multilabel_report(targets, probabilities, ["Edema", "Mass"], bootstrap=50)
    folder = pathlib.Path(tempfile.mkdtemp())
    write_multi_label_report(
        report, [f"{i}.png" for i in range(40)], targets, probabilities, np.ones((40, 2)),
        {"preset": "tiny"}, html_path=folder / "report.html", json_path=folder / "report.json",
    )
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "http" not in page
    assert json.loads((folder / "report.json").read_text())["metrics"]["images"] == 40
    ```
    """
    if findings is None:
        findings = [finding.name for finding in report.findings]
    saved = {finding.name: finding.threshold for finding in report.findings}
    thresholds = [saved.get(name) for name in findings]
    if any(threshold is None for threshold in thresholds):
        thresholds = None
    mistakes = []
    if _explainable(classifier):
        mistakes = confident_mistakes(targets, probabilities, weights, thresholds, examples)
    document = multi_label_document(
        report, image_paths, targets, probabilities, weights, context, subgroups,
        calibration_bins, mistakes, findings,
    )  # fmt: skip
    if html_path is not None:
        curves = reliability_curves(targets, probabilities, findings, weights, calibration_bins)
        pictures = {
            "ROC curves": _png(draw_roc_curves, report),
            "Precision-recall curves": _png(draw_pr_curves, report),
            "Reliability diagram": _png(draw_reliability_diagram, curves),
        }
        cams = []
        if mistakes:
            outputs = list(range(len(findings))) if outputs is None else list(outputs)
            cams = grad_cam_pictures(
                classifier, image_paths,
                [(row, outputs[column], findings[column]) for column, row, _ in mistakes],
            )  # fmt: skip
        page = _multi_label_page(document, pictures, cams)
        _publish(html_path, page, overwrite)
    if json_path is not None:
        _publish(json_path, json.dumps(document, indent=2, allow_nan=False) + "\n", overwrite)
    return document


def write_single_label_report(
    report, rows, context, *, html_path=None, json_path=None, classifier=None,
    image_paths=None, output_names=None, examples=EXAMPLES, overwrite=False,
):  # fmt: skip
    """Writes a single-label evaluation's report: the HTML (`html_path`) and
    the JSON (`json_path`), each atomically; either may be None.

    Args:
        report: the `SingleLabelReport`.
        rows: `predictions.single_label_rows(...)` of the evaluated images.
        context: `evaluation_context(...)`.
        html_path, json_path: the files to write.
        classifier: the evaluated `ImageClassifier`, for Grad-CAM pictures
            of the most confident misclassified images (of the predicted
            class); None leaves them out (an accelerated model too, with a
            warning).
        image_paths: the images of `rows` as read (default: the rows' paths).
        output_names: the classifier's output names (to find the predicted
            class's output).
        examples: how many misclassified images get a Grad-CAM picture.
        overwrite: replace existing files.

    Returns:
        The JSON document (`single_label_document`).

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    from densenet_hub.evaluation import single_label_report
    from densenet_hub.evaluation.predictions import single_label_rows
    from densenet_hub.evaluation.report import write_single_label_report

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    report = single_label_report([0, 1, 1], probabilities, ["cat", "dog"])
    rows = single_label_rows(["a.png", "b.png", "c.png"], [0, 1, 1], ["cat", "dog"],
                             probabilities, ["cat", "dog"])
    path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    write_single_label_report(report, rows, {"preset": "tiny"}, html_path=path)
    assert "b.png" in path.read_text()
    ```
    """
    chosen = misclassified(rows)[:examples] if _explainable(classifier) else []
    document = single_label_document(report, rows, context, chosen)
    if html_path is not None:
        confusion = _png(draw_confusion_matrix, report)
        cams = []
        if chosen:
            image_paths = [row[0] for row in rows] if image_paths is None else image_paths
            position = {name: index for index, name in enumerate(output_names)}
            cams = grad_cam_pictures(
                classifier, image_paths,
                [(index, position[rows[index][2]], rows[index][2]) for index in chosen],
            )  # fmt: skip
        _publish(html_path, _single_label_page(document, confusion, cams), overwrite)
    if json_path is not None:
        _publish(json_path, json.dumps(document, indent=2, allow_nan=False) + "\n", overwrite)
    return document


# === HTML ===

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, .text { text-align: left; }
th { background: #f2f2f2; }
td.na { color: #999; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; }
.gallery figure { width: 520px; }
code { font-size: 0.9em; }
"""


def _multi_label_page(document, pictures, cams):
    metrics, context = document["metrics"], document["context"]
    confidence = metrics["confidence"]
    parts = [_head("Multi-label evaluation"), _context_section(context)]
    header = ["finding", "positives", "negatives", "AUROC"]
    if metrics["bootstrap"]:
        header.append(f"{confidence:.0%} CI")
    header += ["AP", "threshold", "sensitivity", "specificity", "ECE"]
    eces = {entry["name"]: entry["ece"] for entry in document["calibration"]["findings"]}
    rows = []
    for finding in metrics["findings"]:
        name = finding["name"]
        cells = [_text(name), _count(finding["positives"]), _count(finding["negatives"]),
                 _value(finding["auroc"], "auroc", name)]  # fmt: skip
        if metrics["bootstrap"]:
            interval = finding["auroc_ci"]
            cells.append(
                _td("n/a", "na") if interval is None
                else _td(f"{interval[0]:.4f}-{interval[1]:.4f}", None,
                         {"data-low": repr(interval[0]), "data-high": repr(interval[1])})
            )  # fmt: skip
        cells += [
            _value(finding["average_precision"], "average_precision", name),
            _value(finding["threshold"], "threshold", name),
            _value(finding["sensitivity"], "sensitivity", name),
            _value(finding["specificity"], "specificity", name),
            _value(eces.get(name), "ece", name),
        ]
        rows.append(cells)
    mean = [_text(f"mean ({metrics['findings_in_mean']} of {len(metrics['findings'])})"),
            _td(""), _td(""), _value(metrics["mean_auroc"], "mean_auroc", "mean")]  # fmt: skip
    if metrics["bootstrap"]:
        mean.append(_td(""))
    mean += [_value(metrics["mean_average_precision"], "mean_average_precision", "mean")]
    mean += [_td("")] * 4
    rows.append(mean)
    notes = [
        f"{metrics['images']} images; each finding over its entries with weight above 0 "
        "(labels left out by the policy do not count). AUROC and AP: scikit-learn.",
        "Sensitivity and specificity count probabilities at or above the threshold as positive.",
        f"ECE: {document['calibration']['binning']}.",
    ]
    if metrics["bootstrap"]:
        notes.append(
            f"CI: percentile bootstrap over {metrics['bootstrap']} resamples of the images "
            f"(seed {metrics['seed']})."
        )
    undefined = [f for f in metrics["findings"] if f["auroc"] is None]
    for finding in undefined:
        missing = "positive" if finding["positives"] == 0 else "negative"
        notes.append(f"n/a: {finding['name']} has no {missing} entry; left out of the means.")
    parts.append(_section("Per-finding metrics", _table(header, rows, "metrics") + _notes(notes)))
    parts.append(_section("Curves", "".join(
        _figure(png, title) for title, png in pictures.items()
    )))  # fmt: skip
    if document["subgroups"] is not None:
        parts.append(_section("Subgroups", _subgroup_table(document["subgroups"])))
    if document["examples"]:
        figures = [
            _figure(png, f"{example['kind']} of {example['finding']}: {example['path']} "
                         f"(probability {example['probability']:.4f})")
            for example, png in zip(document["examples"], cams)
        ]  # fmt: skip
        parts.append(_section(
            "Most confident mistakes (Grad-CAM)",
            _notes(["False positives: negatives with the highest probability at or above "
                    "the threshold; false negatives: positives with the lowest below it."])
            + f'<div class="gallery">{"".join(figures)}</div>',
        ))  # fmt: skip
    return _page(parts)


def _single_label_page(document, confusion, cams):
    metrics = document["metrics"]
    parts = [_head("Single-label evaluation"), _context_section(document["context"])]
    summary = [
        [_text("images"), _count(metrics["images"])],
        [_text("accuracy"), _value(metrics["accuracy"], "accuracy", "all")],
        [_text(f"top-{metrics['top_k']} accuracy"),
         _value(metrics["top_k_accuracy"], "top_k_accuracy", "all")],
    ]  # fmt: skip
    classes = [
        [_text(name), _value(entry["precision"], "precision", name),
         _value(entry["recall"], "recall", name), _count(entry["images"])]
        for name, entry in metrics["classes"].items()
    ]  # fmt: skip
    parts.append(_section(
        "Metrics",
        _table(["", "value"], summary, "summary")
        + _table(["class", "precision", "recall", "images"], classes, "classes")
        + _figure(confusion, "Confusion matrix (rows: true class; columns: predicted)"),
    ))  # fmt: skip
    listed = document["misclassified"][:LISTED_MISTAKES]
    rows = [
        [_text(entry["path"]), _text(entry["true"]), _text(entry["predicted"]),
         _value(entry["probability"], "probability", entry["path"])]
        for entry in listed
    ]  # fmt: skip
    total = len(document["misclassified"])
    note = f"{total} misclassified images, most confident first"
    shortened = total > len(listed)
    note += f"; the first {LISTED_MISTAKES} listed (the JSON has all)." if shortened else "."
    body = _notes([note]) + (
        _table(["image", "true class", "predicted class", "probability"], rows, "mistakes")
        if rows else ""
    )  # fmt: skip
    if cams:
        figures = [
            _figure(png, f"{entry['path']}: {entry['true']} predicted as {entry['predicted']}")
            for entry, png in zip(document["examples"], cams)
        ]  # fmt: skip
        body += f'<div class="gallery">{"".join(figures)}</div>'
    parts.append(_section("Misclassified images", body))
    return _page(parts)


def _subgroup_table(rows):
    findings = list(dict.fromkeys(row["finding"] for row in rows))
    groups = list(dict.fromkeys((row["column"], row["value"]) for row in rows))
    by_key = {(row["column"], row["value"], row["finding"]): row for row in rows}
    body = []
    for column, value in groups:
        images = by_key[(column, value, findings[0])]["images"]
        cells = [_text(column), _text(value), _count(images)]
        for finding in findings:
            row = by_key[(column, value, finding)]
            counts = f" ({row['positives']}+ / {row['negatives']}-)"
            attributes = {"data-finding": finding, "data-column": column, "data-group": value,
                          "data-positives": str(row["positives"]),
                          "data-negatives": str(row["negatives"])}  # fmt: skip
            if row["auroc"] is None:
                cells.append(_td(f"n/a: {row['reason']}{counts}", "na subgroup", attributes))
            else:
                attributes["data-value"] = repr(row["auroc"])
                cells.append(_td(f"{row['auroc']:.4f}{counts}", "subgroup", attributes))
        body.append(cells)
    return _table(["column", "subgroup", "images", *findings], body, "subgroups") + _notes(
        ["Per cell: AUROC (positives+ / negatives-) over the subgroup's entries with "
         "weight above 0; n/a when a subgroup lacks a positive or a negative. Numeric "
         "columns are binned [low, high)."]
    )  # fmt: skip


def _context_section(context):
    rows = [[_text("preset"), _text(context.get("preset"))],
            [_text("data"), _text(context.get("data"))],
            [_text("table SHA-256"), _text(context.get("table_sha256") or "(a folder)")],
            [_text("date (UTC)"), _text(context.get("date"))]]  # fmt: skip
    for name, version in (context.get("versions") or {}).items():
        rows.append([_text(name), _text(version)])
    for name, value in (context.get("settings") or {}).items():
        rows.append([_text(f"setting: {name}"), _text(json.dumps(value))])
    return _section("What was evaluated", _table(["item", "value"], rows, "context"))


def _head(title):
    return f"<h1>{html.escape(title)}</h1>"


def _page(parts):
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        # An empty inline icon: otherwise the browser asks for /favicon.ico.
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>densenet_hub evaluation report</title><style>{STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


def _section(title, body):
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def _table(header, rows, name):
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f'<table id="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _notes(lines):
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def _figure(png, caption):
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _td(text, css=None, attributes=None):
    attributes = dict(attributes or {})
    if css:
        attributes["class"] = css
    extra = "".join(f' {key}="{html.escape(str(value))}"' for key, value in attributes.items())
    return f"<td{extra}>{html.escape(str(text))}</td>"


def _text(value):
    return _td("" if value is None else value, "text")


def _count(value):
    return _td(str(int(value)))


def _value(value, metric, owner):
    """A number cell: 4 decimals shown, the exact value in `data-value`."""
    attributes = {"data-metric": metric, "data-owner": owner}
    if value is None:
        return _td("n/a", "na", attributes)
    attributes["data-value"] = repr(float(value))
    return _td(f"{value:.4f}", None, attributes)


# === files and values ===


def _png(draw, value):
    buffer = io.BytesIO()
    draw(buffer, value)
    return buffer.getvalue()


def _publish(path, text, overwrite):
    with published(path, overwrite) as staging:
        write_file(staging, text.encode("utf-8"))


def _mistake(row):
    return {"path": row[0], "true": row[1], "predicted": row[2], "probability": float(row[3])}


def _explainable(classifier):
    """Whether Grad-CAM pictures can be drawn: an accelerated (e.g. int8)
    model has no gradients to follow, so its report goes without them, with
    a warning."""
    from densenet_hub.models.image_classifier import ImageClassifier

    if classifier is None:
        return False
    if not isinstance(classifier, ImageClassifier):
        warnings.warn(
            f"the report has no Grad-CAM pictures: the evaluated model is a "
            f"{type(classifier).__name__}, which has no gradients; evaluate the "
            "Keras preset it was made from for them."
        )
        return False
    return True


def _is_file(path):
    return pathlib.Path(path).is_file()


def _plain(value):
    """`value` with numpy numbers as Python ones and NaN as None, for JSON."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)
