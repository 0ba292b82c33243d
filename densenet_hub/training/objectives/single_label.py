"""`SingleLabelObjective`: one class per image (a softmax or logits head),
sparse categorical cross-entropy, accuracy, a split stratified by class."""

import keras
import numpy as np

from densenet_hub.evaluation import single_label_report
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.presets.class_labels import default_class_names
from densenet_hub.training.objectives.base import Objective
from densenet_hub.training.objectives.base import label_rows
from densenet_hub.training.split import stratified_split


class SingleLabelObjective(Objective):
    """One class per image, learnt with sparse categorical cross-entropy and
    measured by accuracy; the split is stratified by class.

    Args:
        labels: an int class index per image.
        class_names: the name of each class index; by default `class_0`,
            `class_1`, ... up to the largest label.

    Example:
    ```python
    from densenet_hub.training import SingleLabelObjective

    objective = SingleLabelObjective([0, 0, 1, 1, 2, 2], ["cat", "dog", "fox"])
    train_rows, val_rows = objective.split(val_split=0.3, seed=0)
    assert len(val_rows) == 3 and objective.choose_thresholds(None, None) is None
    assert objective.label_count() == "3 classes"
    ```
    """

    monitor = "val_accuracy"
    monitor_title = "validation accuracy"

    def __init__(self, labels, class_names=None):
        self.targets = np.asarray(labels)
        self._class_names = None if class_names is None else list(class_names)

    @property
    def names(self):
        if self._class_names is not None:
            return self._class_names
        return default_class_names(int(self.targets.max()) + 1 if self.targets.size else 0)

    def check(self, classifier, count):
        """Refuses labels that do not fit `classifier` and `count` images.

        Raises:
            ValueError: naming the labels' problem and the fix.
        """
        owner = type(self).__name__
        labels = self.targets
        if labels.ndim != 1 or len(labels) != count:
            raise ValueError(
                f"{owner}: `labels` must hold one class index per path: "
                f"{count} paths but labels of shape {labels.shape}."
            )
        num_classes = classifier.num_classes
        if not np.issubdtype(labels.dtype, np.integer) or labels.size and (
            labels.min() < 0 or labels.max() >= num_classes
        ):
            raise ValueError(
                f"{owner}: `labels` must be integers from 0 to {num_classes - 1} "
                f"(the classifier has {num_classes} classes), got values "
                f"{np.unique(labels)[:10].tolist()}; map each class to an index, "
                "or build the classifier with more classes."
            )
        if getattr(classifier, "multi_label", False):
            raise ValueError(
                f"{owner}: `labels` hold one class index per image, but the "
                f"classifier's head has a sigmoid per class (multi-label); give "
                "an (images, classes) array of 0/1 targets, or build the "
                "classifier without `activation=\"sigmoid\"`."
            )
        if len(np.unique(labels)) < 2:
            raise ValueError(
                f"{owner}: the labels hold {len(np.unique(labels))} class(es); a "
                "classifier needs images of at least two classes."
            )

    def split(self, val_split, seed):
        """`(train_rows, val_rows)`, stratified by class (`stratified_split`)."""
        return stratified_split(self.targets, val_split, seed)

    def compile_arguments(self, train_rows):
        """The classifier's own loss (sparse categorical cross-entropy) and
        accuracy, weighted: validation batches padded for several devices
        mask the padding with zero sample weights."""
        return {
            "metrics": [],
            "weighted_metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        }

    def label_count(self):
        """The classes present, in words, e.g. `"3 classes"`."""
        return f"{len(np.unique(self.targets))} classes"

    def class_labels(self, result, reading=None):
        """The `ClassLabels` a preset of the trained classifier records:
        its class names (`result` and `reading` add nothing here)."""
        return ClassLabels(self.names)

    def report(self, scores, rows=None, **options):
        """The `SingleLabelReport` of `scores` (class probabilities, one row
        per image, class `i` as output `i`) for the label rows `rows`
        (default: all), as `densenet_hub.evaluation.single_label_report`
        computes it with `options` (`top_k`)."""
        return single_label_report(self.targets[label_rows(rows, self.targets)], scores, self.names,
                                   **options)  # fmt: skip
