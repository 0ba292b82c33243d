"""Per-image results of an evaluation as CSV files, so that any number in a
report can be recomputed from them (with scikit-learn, a spreadsheet or R).

Multi-label: one row per image, `path`, then per finding four columns
`<finding> label` (0 or 1 after the label policies; empty where the entry
is left out), `<finding> weight` (1, or 0 for an entry left out, e.g. an
uncertain label under `ignore`), `<finding> probability` and `<finding>
decision` (1 when the probability is at or above the finding's threshold,
0 below; empty without thresholds). Single-label: `path`, `true class`,
`predicted class`, `probability` (of the predicted class), `correct` (1 or
0); the misclassified images are the rows with `correct` 0.

Probabilities are written with Python's shortest round-tripping `repr`,
so a reader gets back the exact float64 values the metrics were computed
from.
"""

import csv
import io

import numpy as np

from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file
from densenet_hub.evaluation.inputs import checked_findings
from densenet_hub.evaluation.inputs import checked_matrices
from densenet_hub.evaluation.inputs import checked_thresholds

# The suffixes of a finding's four columns, in order.
FINDING_COLUMNS = ("label", "weight", "probability", "decision")
SINGLE_LABEL_COLUMNS = ("path", "true class", "predicted class", "probability", "correct")


def write_multilabel_predictions(
    path, image_paths, findings, targets, probabilities, weights=None, thresholds=None,
    overwrite=False,
):  # fmt: skip
    """Writes a multi-label evaluation's per-image CSV (columns as the module
    says), atomically: the file is complete or absent.

    Args:
        path: the CSV file to write.
        image_paths: each row's image path.
        findings: the findings' names, one per column of `targets`.
        targets: 0/1 labels after the label policies, `(images, findings)`.
        probabilities: the model's probabilities, same shape.
        weights: None (every entry counts) or the entries' weights, same
            shape: an entry with weight 0 has an empty label.
        thresholds: None, or one decision threshold per finding.
        overwrite: replace an existing file at `path`.

    Example:
    ```python
    import csv, pathlib, tempfile
    from densenet_hub.evaluation.predictions import write_multilabel_predictions

    path = pathlib.Path(tempfile.mkdtemp()) / "predictions.csv"
    write_multilabel_predictions(
        path, ["a.png", "b.png"], ["Edema"], [[1], [0]], [[0.75], [0.5]],
        weights=[[1], [0]], thresholds=[0.6],
    )
    rows = list(csv.DictReader(path.open()))
    assert rows[0] == {"path": "a.png", "Edema label": "1", "Edema weight": "1",
                       "Edema probability": "0.75", "Edema decision": "1"}
    assert rows[1]["Edema label"] == "" and rows[1]["Edema decision"] == "0"
    ```
    """
    owner = "write_multilabel_predictions"
    targets, probabilities, mask = checked_matrices(owner, targets, probabilities, weights)
    findings = checked_findings(owner, findings, probabilities.shape[1])
    image_paths = _checked_paths(owner, image_paths, probabilities.shape[0])
    if thresholds is not None:
        thresholds = np.asarray(checked_thresholds(owner, thresholds, len(findings)))
        decisions = probabilities >= thresholds
    header = ["path"] + [f"{name} {column}" for name in findings for column in FINDING_COLUMNS]
    # Built column by column: a per-cell loop takes 18 s on real CheXpert's
    # 191,027 frontal rows with 14 findings.
    columns = [image_paths]
    empty = [""] * len(image_paths)
    for column in range(len(findings)):
        counted = mask[:, column]
        columns += [
            np.where(counted, np.where(targets[:, column] == 1, "1", "0"), "").tolist(),
            np.where(counted, "1", "0").tolist(),
            list(map(repr, probabilities[:, column].tolist())),
            empty if thresholds is None
            else np.where(decisions[:, column], "1", "0").tolist(),
        ]  # fmt: skip
    _write_csv(path, header, zip(*columns), overwrite)


def write_single_label_predictions(
    path, image_paths, labels, class_names, probabilities, output_names, outputs=None,
    overwrite=False,
):  # fmt: skip
    """Writes a single-label evaluation's per-image CSV (columns as the
    module says), atomically.

    Args:
        path: the CSV file to write.
        image_paths: each row's image path.
        labels: each image's true class, an index into `class_names`.
        class_names: the evaluated classes' names.
        probabilities: the classifier's probabilities, `(images, outputs)`.
        output_names: the classifier's output names (the predicted class is
            the most probable output's name).
        outputs: the classifier output of each class in `class_names`; None
            when class `i` is output `i`.
        overwrite: replace an existing file at `path`.

    Example:
    ```python
    import csv, pathlib, tempfile
    import numpy as np
    from densenet_hub.evaluation.predictions import write_single_label_predictions

    path = pathlib.Path(tempfile.mkdtemp()) / "predictions.csv"
    write_single_label_predictions(
        path, ["a.png", "b.png"], [0, 1], ["cat", "dog"],
        np.array([[0.9, 0.1], [0.75, 0.25]]), ["cat", "dog"],
    )
    rows = list(csv.reader(path.open()))
    assert rows[1:] == [["a.png", "cat", "cat", "0.9", "1"], ["b.png", "dog", "cat", "0.75", "0"]]
    ```
    """
    rows = single_label_rows(image_paths, labels, class_names, probabilities, output_names, outputs)
    _write_csv(path, list(SINGLE_LABEL_COLUMNS), rows, overwrite)


def single_label_rows(image_paths, labels, class_names, probabilities, output_names, outputs=None):
    """Each image's `[path, true class, predicted class, probability,
    correct]` (as text, in the CSV's form), in the images' order.

    Args:
        image_paths, labels, class_names, probabilities, output_names,
            outputs: as for `write_single_label_predictions`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation.predictions import single_label_rows

    rows = single_label_rows(["a.png"], [0], ["cat"], np.array([[0.25, 0.75]]), ["cat", "dog"])
    assert rows == [["a.png", "cat", "dog", "0.75", "0"]]
    ```
    """
    owner = "single_label_rows"
    probabilities = np.asarray(probabilities, dtype="float64")
    if probabilities.ndim != 2 or len(output_names) != probabilities.shape[1]:
        raise ValueError(
            f"{owner}: `probabilities` must have shape (images, {len(output_names)}) "
            f"(one column per output name), got {probabilities.shape}."
        )
    labels = np.asarray(labels, dtype="int64")
    image_paths = _checked_paths(owner, image_paths, probabilities.shape[0])
    if labels.shape != (probabilities.shape[0],):
        raise ValueError(
            f"{owner}: `labels` must hold one class per image "
            f"({probabilities.shape[0]}), got shape {labels.shape}."
        )
    outputs = np.arange(len(class_names)) if outputs is None else np.asarray(outputs)
    predicted = np.argmax(probabilities, axis=-1)
    rows = []
    for image, label, output in zip(image_paths, labels, predicted):
        correct = int(output == outputs[label])
        rows.append([
            image, str(class_names[label]), str(output_names[output]),
            repr(float(probabilities[len(rows), output])), str(correct),
        ])  # fmt: skip
    return rows


def _checked_paths(owner, image_paths, count):
    image_paths = [str(path) for path in image_paths]
    if len(image_paths) != count:
        raise ValueError(
            f"{owner}: `image_paths` must hold one path per row of the "
            f"probabilities ({count}), got {len(image_paths)}."
        )
    return image_paths


def _write_csv(path, header, rows, overwrite):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with published(path, overwrite) as staging:
        write_file(staging, text.getvalue().encode("utf-8"))
