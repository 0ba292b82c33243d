"""Metrics of a single-label classifier on labelled images: accuracy, top-k
accuracy, each class's precision and recall, and the confusion matrix.

The evaluated classes may be fewer than the classifier's outputs (a class
folder per class the test set has): each class is matched to one output,
and a prediction of any other output is a miss, counted in the confusion
matrix's extra column `OTHER_CLASSES`.
"""

import dataclasses

import numpy as np

from densenet_hub.base.text import format_table

TOP_K = 5
OTHER_CLASSES = "(other)"


@dataclasses.dataclass
class ClassMetrics:
    """One evaluated class's metrics.

    Attributes:
        name: the class.
        precision: the share of the images predicted as this class that
            are of it; None when no image was predicted as it.
        recall: the share of this class's images predicted as it; None
            without an image of it.
        images: the images of this class.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import single_label_report

    report = single_label_report([0, 0, 1], np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7]]),
                                 ["cat", "dog"])
    dog = report.classes[1]
    assert (dog.name, dog.precision, dog.recall, dog.images) == ("dog", 0.5, 1.0, 1)
    ```
    """

    name: str
    precision: float | None
    recall: float | None
    images: int


@dataclasses.dataclass
class SingleLabelReport:
    """A single-label classifier's metrics, as `single_label_report` makes
    them.

    Attributes:
        images: the images evaluated.
        accuracy: the share of images whose most probable output is their
            class.
        top_k: the k of `top_k_accuracy` (at most the number of outputs).
        top_k_accuracy: the share of images whose class is among their k
            most probable outputs.
        classes: a `ClassMetrics` per evaluated class, in the given order.
        confusion_matrix: an int64 array of counts, one row per evaluated
            class (the true class) and one column per predicted class in
            `predicted_names`.
        predicted_names: the columns' names: the evaluated classes, and
            `OTHER_CLASSES` last when an image was predicted as an output
            that is none of them.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import single_label_report

    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    report = single_label_report([0, 1, 1], probabilities, ["cat", "dog"])
    assert report.accuracy == 2 / 3 and report.top_k == 3
    assert report.predicted_names == ["cat", "dog", "(other)"]
    assert report.confusion_matrix.tolist() == [[1, 0, 0], [0, 1, 1]]
    ```
    """

    images: int
    accuracy: float
    top_k: int
    top_k_accuracy: float
    classes: list
    confusion_matrix: np.ndarray = dataclasses.field(repr=False)
    predicted_names: list

    @property
    def class_names(self):
        """The evaluated classes' names: the confusion matrix's rows."""
        return [metrics.name for metrics in self.classes]

    def table(self):
        """The metrics as text: the totals, then a table of each class's
        precision, recall and images ("n/a" where undefined).

        Example:
        ```python
        import numpy as np
        from densenet_hub.evaluation import single_label_report

        report = single_label_report([0, 1], np.array([[0.8, 0.2], [0.6, 0.4]]), ["cat", "dog"])
        assert report.table().splitlines()[:3] == [
            "images: 2", "accuracy: 0.5000", "top-2 accuracy: 1.0000"
        ]
        assert "dog    n/a        0.0000  1" in report.table()
        ```
        """
        rows = [
            [metrics.name, _fraction(metrics.precision), _fraction(metrics.recall),
             metrics.images]
            for metrics in self.classes
        ]  # fmt: skip
        return "\n".join(
            [
                f"images: {self.images}",
                f"accuracy: {self.accuracy:.4f}",
                f"top-{self.top_k} accuracy: {self.top_k_accuracy:.4f}",
                "",
                format_table(["class", "precision", "recall", "images"], rows),
            ]
        )

    def to_json(self):
        """The metrics as a JSON-able dict: `images`, `accuracy`, `top_k`,
        `top_k_accuracy` and `classes` (per class name: `precision`,
        `recall`, `images`). The confusion matrix is left to the picture.

        Example:
        ```python
        import json
        import numpy as np
        from densenet_hub.evaluation import single_label_report

        report = single_label_report([0, 1], np.array([[0.8, 0.2], [0.6, 0.4]]), ["cat", "dog"])
        document = json.loads(json.dumps(report.to_json()))
        assert document["classes"]["dog"] == {"precision": None, "recall": 0.0, "images": 1}
        ```
        """
        return {
            "images": self.images,
            "accuracy": self.accuracy,
            "top_k": self.top_k,
            "top_k_accuracy": self.top_k_accuracy,
            "classes": {
                metrics.name: {
                    "precision": metrics.precision,
                    "recall": metrics.recall,
                    "images": metrics.images,
                }
                for metrics in self.classes
            },
        }


def single_label_report(labels, probabilities, class_names, outputs=None, top_k=TOP_K):
    """Accuracy, top-k accuracy, per-class precision and recall, and the
    confusion matrix of a single-label classifier's probabilities.

    Args:
        labels: each image's true class, an index into `class_names`.
        probabilities: the classifier's finite scores, shape `(images,
            outputs)`; the most probable output is the prediction.
        class_names: the evaluated classes' names.
        outputs: the classifier output of each class in `class_names`,
            distinct; None when class `i` is output `i`.
        top_k: the k of the top-k accuracy, clipped to the number of
            outputs.

    Returns:
        A `SingleLabelReport`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import single_label_report

    # Two classes of a 3-output classifier, as outputs 2 and 0.
    probabilities = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    report = single_label_report([0, 1, 1], probabilities, ["bird", "cat"], outputs=[2, 0])
    assert report.accuracy == 2 / 3
    assert report.confusion_matrix.tolist() == [[1, 0, 0], [0, 1, 1]]
    ```
    """
    owner = "single_label_report"
    labels, probabilities, class_names, outputs = _checked(
        owner, labels, probabilities, class_names, outputs
    )
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(
            f"{owner}: `top_k` must be a whole number above 0 (e.g. 5), got {top_k!r}."
        )
    truth = outputs[labels]
    predicted = np.argmax(probabilities, axis=-1)
    top_k = min(int(top_k), probabilities.shape[1])
    ranked = np.argsort(-probabilities, axis=-1, kind="stable")[:, :top_k]
    matrix, predicted_names = _confusion_matrix(truth, predicted, outputs, class_names)
    return SingleLabelReport(
        images=len(labels),
        accuracy=float(np.mean(predicted == truth)),
        top_k=top_k,
        top_k_accuracy=float(np.mean(np.any(ranked == truth[:, None], axis=-1))),
        classes=[
            _class_metrics(name, output, truth, predicted)
            for name, output in zip(class_names, outputs)
        ],
        confusion_matrix=matrix,
        predicted_names=predicted_names,
    )


def _class_metrics(name, output, truth, predicted):
    hits = int(np.sum((predicted == output) & (truth == output)))
    predicted_count = int(np.sum(predicted == output))
    actual_count = int(np.sum(truth == output))
    return ClassMetrics(
        name,
        precision=hits / predicted_count if predicted_count else None,
        recall=hits / actual_count if actual_count else None,
        images=actual_count,
    )


def _confusion_matrix(truth, predicted, outputs, class_names):
    """Counts over the evaluated classes; predictions of any other output go
    to one extra column, kept only when used."""
    column_of = {output: column for column, output in enumerate(outputs)}
    other = len(outputs)
    columns = np.asarray([column_of.get(output, other) for output in predicted], dtype="int64")
    rows = np.asarray([column_of[output] for output in truth], dtype="int64")
    matrix = np.zeros((len(outputs), len(outputs) + 1), dtype="int64")
    np.add.at(matrix, (rows, columns), 1)
    if matrix[:, other].any():
        return matrix, [*class_names, OTHER_CLASSES]
    return matrix[:, :other], list(class_names)


def _checked(owner, labels, probabilities, class_names, outputs):
    """The arguments of `single_label_report` as arrays and a list, or a
    `ValueError` naming what is wrong."""
    class_names = [str(name) for name in class_names]
    if not class_names:
        raise ValueError(f"{owner}: `class_names` is empty; name at least one class.")
    probabilities = np.asarray(probabilities, dtype="float64")
    if probabilities.ndim != 2 or not probabilities.shape[0]:
        raise ValueError(
            f"{owner}: `probabilities` must have shape (images, outputs) with at "
            f"least one image, got shape {probabilities.shape}."
        )
    if not np.isfinite(probabilities).all():
        row, column = np.argwhere(~np.isfinite(probabilities))[0]
        raise ValueError(
            f"{owner}: `probabilities` must be finite, got {probabilities[row, column]} "
            f"at row {row}, column {column}. Check the model's outputs (a diverged "
            "model gives NaN)."
        )
    labels = np.asarray(labels)
    if (
        labels.shape != probabilities.shape[:1]
        or not np.issubdtype(labels.dtype, np.integer)
        or labels.min() < 0
        or labels.max() >= len(class_names)
    ):
        raise ValueError(
            f"{owner}: `labels` must hold one class index from 0 to "
            f"{len(class_names) - 1} per image ({probabilities.shape[0]}), got "
            f"{labels.dtype} values of shape {labels.shape}."
        )
    outputs = np.arange(len(class_names)) if outputs is None else np.asarray(outputs)
    if (
        outputs.shape != (len(class_names),)
        or not np.issubdtype(outputs.dtype, np.integer)
        or outputs.min() < 0
        or outputs.max() >= probabilities.shape[1]
        or len(set(outputs.tolist())) != len(outputs)
    ):
        raise ValueError(
            f"{owner}: `outputs` must name a distinct output from 0 to "
            f"{probabilities.shape[1] - 1} for each of the {len(class_names)} "
            f"classes, got {outputs.tolist()}."
        )
    return labels, probabilities, class_names, outputs


def _fraction(value):
    return "n/a" if value is None else f"{value:.4f}"
