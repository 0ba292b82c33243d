"""What a classifier learns from its labels, as one small interface with two
implementations, so that `finetune`, `densenet-hub train` and the demo ask
an objective instead of branching on single-label vs multi-label.

`SingleLabelObjective`: one class per image (a softmax or logits head),
sparse categorical cross-entropy, accuracy, a split stratified by class.
`MultiLabelObjective`: a 0/1 target per (image, finding) (a sigmoid head,
as in CheXNet), an entry-weighted binary cross-entropy, mean AUROC, a split
that keeps each patient's images on one side, and decision thresholds
chosen on the validation split.

An objective holds the labels of a set of images and answers:
- `check(classifier, count)`: do the labels fit this classifier and these
  `count` images?
- `split(val_split, seed)`: the training and validation rows;
- `compile_arguments(train_rows)`: the loss and metrics for `compile`;
- `monitor` and `monitor_title`: the validation metric a run is judged by;
- `choose_thresholds(classifier, val_data)`: decision thresholds from the
  validation batches (`None` for single-label);
- `settings(train_rows)`, `label_count()`, `split_lines(...)`,
  `split_counts(...)`, `positive_weights(...)`: what a checkpoint records
  and the log shows;
- `class_labels(result)`: the `ClassLabels` saved with the preset;
- `evaluate(classifier, paths)` / `report(scores, rows)`: the metrics of
  held-out images.
"""

import hashlib
import math

import keras
import numpy as np

from densenet_hub.evaluation import choose_thresholds
from densenet_hub.evaluation import multilabel_report
from densenet_hub.evaluation import single_label_report
from densenet_hub.inference import score_files
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.presets.class_labels import default_class_names
from densenet_hub.training.losses import POSITIVE_WEIGHTING
from densenet_hub.training.losses import MultiLabelBinaryCrossentropy
from densenet_hub.training.losses import balanced_positive_weights
from densenet_hub.training.split import check_split_findings
from densenet_hub.training.split import multilabel_split
from densenet_hub.training.split import split_counts
from densenet_hub.training.split import stratified_split

THRESHOLD_RULE = (
    "per finding, the validation-split probability maximising Youden's J "
    "(sensitivity + specificity - 1), over entries with weight > 0"
)
# The arguments of `finetune` that only multi-label targets take.
MULTI_LABEL_ARGUMENTS = ("label_weights", "groups", "positive_weights", "findings")


class Objective:
    """The interface `SingleLabelObjective` and `MultiLabelObjective` share;
    its defaults are what a single-label objective does (no thresholds, no
    extra checkpoint settings, nothing more to log).

    Attributes:
        targets: what the batches carry as labels, one row per image.
        weights: `None`, or a weight per (image, finding) entry.
        names: the class (finding) names, in class-index order.
        multi_label: whether the labels are multi-label (a sigmoid head).
        activation: the head's activation a classifier for these labels
            needs (`None`: KerasHub's default).
        monitor: the validation metric (a `fit` log name) a run is judged by.
        monitor_title: that metric in words.
        threshold_rule: how `choose_thresholds` chooses, in words, or `None`.
    """

    weights = None
    multi_label = False
    activation = None
    threshold_rule = None

    def settings(self, train_rows):
        """What a resumed run must share beyond the split's files: a dict."""
        return {}

    def split_lines(self, train_rows, val_rows):
        """Lines describing the split for the log, beyond the image counts."""
        return []

    def split_counts(self, train_rows, val_rows):
        """Per-finding label counts of each side, or `None`."""
        return None

    def positive_weights(self, train_rows):
        """The loss factor of each finding's positive entries, or `None`."""
        return None

    def choose_thresholds(self, classifier, val_data):
        """Decision thresholds chosen on the validation batches, or `None`."""
        return None

    def score_text(self, metrics):
        """The monitored metric of a `fit`-style `metrics` dict, in words."""
        return f"{self.monitor_title} {metrics.get(self.monitor, math.nan):.4f}"

    def evaluate(self, classifier, paths, batch_size=DEFAULT_BATCH_SIZE, on_error="skip",
                 on_batch=None, **report_options):  # fmt: skip
        """Scores the images at `paths` (one per label row, in order) with
        `classifier` and reports this objective's metrics on them.

        Args:
            classifier: an `ImageClassifier` with its preprocessor, whose
                outputs are this objective's classes in order.
            paths: the image file of each label row.
            batch_size, on_error, on_batch: as for
                `densenet_hub.inference.score_files`.
            **report_options: passed on to `report`.

        Returns:
            What `report` returns, for the images that could be read.

        Example:
        ```python
        import tempfile
        import numpy as np
        import PIL.Image
        import densenet_hub
        from densenet_hub.training import SingleLabelObjective

        folder = tempfile.mkdtemp()
        paths = [f"{folder}/{i}.png" for i in range(4)]
        for i, path in enumerate(paths):
            PIL.Image.fromarray(np.full((32, 32, 3), 60 * i, "uint8")).save(path)
        backbone = densenet_hub.models.DenseNetBackbone(
            stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
        )
        converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
        classifier = densenet_hub.models.DenseNetImageClassifier(
            backbone, num_classes=2,
            preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
        )
        report = SingleLabelObjective([0, 0, 1, 1], ["dark", "bright"]).evaluate(classifier, paths)
        assert report.images == 4 and report.class_names == ["dark", "bright"]
        ```
        """
        scores, kept = score_files(classifier, paths, batch_size, on_error, on_batch=on_batch)
        return self.report(scores, kept, **report_options)


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
        return single_label_report(self.targets[_rows(rows, self.targets)], scores, self.names,
                                   **options)  # fmt: skip


class MultiLabelObjective(Objective):
    """A 0/1 target per (image, finding), learnt with the entry-weighted
    `MultiLabelBinaryCrossentropy` and measured by mean AUROC. The split
    keeps each group (patient) on one side and stratifies every finding;
    after training, one decision threshold per finding is chosen on the
    validation split (`THRESHOLD_RULE`).

    Args:
        labels: an `(images, findings)` array of 0/1 targets.
        label_weights: `None` or a weight per entry, same shape; 0 leaves
            the entry out of the loss and metrics (the "ignore" uncertainty
            policy).
        groups: `None` or a group id (e.g. patient) per image; a group's
            images all go to one side of the split.
        findings: the finding names; by default `class_0`, `class_1`, ...
        positive_weights: `None`, `"balanced"` (each finding's positive
            entries weigh negatives / positives of the training split, for
            rare findings) or one number per finding.

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import MultiLabelObjective

    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 3)
    patients = [f"p{row // 2}" for row in range(12)]
    objective = MultiLabelObjective(targets, groups=patients, findings=["Edema", "Mass"],
                                    positive_weights="balanced")
    train_rows, val_rows = objective.split(val_split=0.3, seed=0)
    assert objective.split_counts(train_rows, val_rows)["Mass"]["validation"][0] > 0
    assert objective.label_count() == "2 findings" and objective.monitor == "val_auroc"
    ```
    """

    monitor = "val_auroc"
    monitor_title = "validation mean AUROC"
    multi_label = True
    activation = "sigmoid"
    threshold_rule = THRESHOLD_RULE

    def __init__(self, labels, label_weights=None, groups=None, findings=None,
                 positive_weights=None):  # fmt: skip
        owner = type(self).__name__
        targets = np.asarray(labels)
        if targets.ndim != 2 or not np.isin(targets, (0, 1)).all():
            raise ValueError(
                f"{owner}: multi-label `labels` must be 0 or 1, in an (images, "
                f"findings) array, got shape {targets.shape} with values "
                f"{np.unique(targets)[:10].tolist()}; map uncertain labels with "
                "an uncertainty policy (see densenet_hub.data.read_label_table)."
            )
        weights = np.ones(targets.shape, "float32")
        if label_weights is not None:
            weights = np.asarray(label_weights, dtype="float32")
            if weights.shape != targets.shape or not np.isfinite(weights).all() or (
                weights < 0
            ).any():
                raise ValueError(
                    f"{owner}: `label_weights` must be finite numbers >= 0 of "
                    f"the labels' shape {targets.shape}, got shape {weights.shape}."
                )
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (len(targets),):
                raise ValueError(
                    f"{owner}: `groups` must hold one group id per image "
                    f"({len(targets)}), got shape {groups.shape}."
                )
        if findings is None:
            findings = default_class_names(targets.shape[1])
        elif len(findings) != targets.shape[1]:
            raise ValueError(
                f"{owner}: {len(findings)} `findings` names for labels of "
                f"{targets.shape[1]} findings; give one name per column."
            )
        _check_positive_weighting(owner, positive_weights, targets.shape[1])
        self.targets = targets.astype("float32")
        self.weights = weights
        self.groups = groups
        self.findings = list(findings)
        self.positive_weighting = positive_weights

    @classmethod
    def from_table(cls, table, positive_weights=None):
        """The objective of a `densenet_hub.data.LabelTable`: its targets,
        entry weights, groups and findings."""
        return cls(table.targets, table.weights, table.groups, table.findings, positive_weights)

    @property
    def names(self):
        return self.findings

    def check(self, classifier, count):
        """Refuses targets that do not fit `classifier` and `count` images.

        Raises:
            ValueError: naming the problem and the fix.
        """
        owner = type(self).__name__
        if not getattr(classifier, "multi_label", False):
            raise ValueError(
                f"{owner}: `labels` has shape {self.targets.shape}, multi-label "
                f"targets, but the classifier's head has activation "
                f"{classifier.activation!r}; build it with "
                "`activation=\"sigmoid\"` (one probability per finding)."
            )
        if self.targets.shape != (count, classifier.num_classes):
            raise ValueError(
                f"{owner}: multi-label `labels` must have shape (images, "
                f"findings) = ({count}, {classifier.num_classes}), got "
                f"{self.targets.shape}."
            )

    def split(self, val_split, seed):
        """`(train_rows, val_rows)`: groups kept whole, findings stratified,
        each finding with positive and negative entries on both sides."""
        train_rows, val_rows = multilabel_split(
            self.targets, val_split, seed, groups=self.groups, weights=self.weights
        )
        check_split_findings(self.targets, train_rows, val_rows, self.findings, self.weights)
        return train_rows, val_rows

    def positive_weights(self, train_rows):
        if self.positive_weighting is None:
            return None
        if isinstance(self.positive_weighting, str):
            return balanced_positive_weights(
                self.targets[train_rows], self.weights[train_rows], self.findings
            ).tolist()
        return np.asarray(self.positive_weighting, dtype="float64").tolist()

    def compile_arguments(self, train_rows):
        """The entry-weighted loss (the head's sigmoid gives probabilities)
        and AUROC, both weighted by the batches' entry weights."""
        return {
            "loss": MultiLabelBinaryCrossentropy(
                positive_weights=self.positive_weights(train_rows)
            ),
            "metrics": [],
            "weighted_metrics": [keras.metrics.AUC(multi_label=True, name="auroc")],
        }

    def settings(self, train_rows):
        """The findings, the training positive weights and a digest of the
        targets, entry weights and groups."""
        digest = hashlib.sha256()
        for part in (self.targets, self.weights):
            digest.update(np.ascontiguousarray(part).tobytes())
        if self.groups is not None:
            digest.update("\0".join(map(str, self.groups)).encode("utf-8"))
        return {
            "multi_label": {
                "findings": self.findings,
                "targets_sha256": digest.hexdigest(),
                "positive_weights": self.positive_weights(train_rows),
            }
        }

    def label_count(self):
        return f"{len(self.findings)} findings"

    def split_counts(self, train_rows, val_rows):
        """`{finding: {"train": [positives, negatives], "validation": [...]}}`,
        over entries of weight > 0."""
        sides = {
            side: split_counts(self.targets, rows, self.weights)
            for side, rows in (("train", train_rows), ("validation", val_rows))
        }
        return {
            name: {
                side: [int(positives[index]), int(negatives[index])]
                for side, (positives, negatives) in sides.items()
            }
            for index, name in enumerate(self.findings)
        }

    def split_lines(self, train_rows, val_rows):
        """The per-finding positive / negative counts of both sides."""
        groups = "" if self.groups is None else (
            f" ({len(set(self.groups[train_rows]))} and {len(set(self.groups[val_rows]))} "
            "patient groups, none on both sides)"
        )
        lines = [f"positive / negative labels per finding, training | validation{groups}:"]
        width = max(len(name) for name in self.findings)
        for name, sides in self.split_counts(train_rows, val_rows).items():
            (train_pos, train_neg), (val_pos, val_neg) = sides["train"], sides["validation"]
            lines.append(
                f"  {name:<{width}}  {train_pos:>6} / {train_neg:<6} | {val_pos:>6} / {val_neg}"
            )
        return lines

    def choose_thresholds(self, classifier, val_data):
        """Per-finding thresholds (`THRESHOLD_RULE`) on `val_data`'s
        preprocessed batches; rows of weight 0, such as padding, are left
        out. Returns a list of floats."""
        targets, scores, weights = [], [], []
        for index in range(len(val_data)):
            x, y, w = val_data[index]
            targets.append(y)
            scores.append(keras.ops.convert_to_numpy(classifier(x, training=False)))
            weights.append(w)
        return choose_thresholds(
            np.concatenate(targets),
            np.concatenate(scores),
            np.concatenate(weights),
            findings=self.findings,
        ).tolist()

    def class_labels(self, result, reading=None):
        """The `ClassLabels` a preset of the trained classifier records: the
        findings with `result`'s thresholds, and as details how the labels
        were read (`reading`, e.g. the uncertainty policies), the positive
        weights and the split's counts."""
        details = {
            "labels": reading,
            "positive_weights": result.positive_weights,
            "split_counts": result.split_counts,
        }
        return ClassLabels(self.findings, result.thresholds, result.threshold_rule, details)

    def report(self, scores, rows=None, **options):
        """The `MultiLabelReport` of `scores` (one probability per finding
        and image) for the label rows `rows` (default: all), entries of
        weight 0 left out, as `densenet_hub.evaluation.multilabel_report`
        computes it with `options` (`thresholds`, `bootstrap`,
        `confidence`, `seed`)."""
        rows = _rows(rows, self.targets)
        return multilabel_report(self.targets[rows], scores, self.findings,
                                 weights=self.weights[rows], **options)  # fmt: skip


def objective_for(labels, label_weights=None, groups=None, positive_weights=None,
                  findings=None):  # fmt: skip
    """The objective of `finetune`'s `labels`: an objective as it is, a
    2-D 0/1 array as a `MultiLabelObjective` (with the other arguments),
    anything else as a `SingleLabelObjective`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import MultiLabelObjective, objective_for

    assert isinstance(objective_for(np.eye(3, dtype=int)), MultiLabelObjective)
    assert objective_for([0, 1, 1]).monitor == "val_accuracy"
    ```
    """
    extra = {
        name: value
        for name, value in zip(MULTI_LABEL_ARGUMENTS, (label_weights, groups,
                                                       positive_weights, findings))
        if value is not None
    }  # fmt: skip
    if isinstance(labels, Objective):
        if extra:
            raise ValueError(
                f"{', '.join(extra)} given beside an objective; pass them to "
                f"{type(labels).__name__}(...) instead."
            )
        return labels
    if np.ndim(labels) == 2:
        return MultiLabelObjective(labels, findings=findings, **{
            name: extra.get(name) for name in ("label_weights", "groups", "positive_weights")
        })  # fmt: skip
    if extra:
        raise ValueError(
            f"{', '.join(extra)} apply to multi-label targets, but `labels` holds "
            "one class index per image; give an (images, findings) array of 0/1 "
            "targets, or leave them out."
        )
    return SingleLabelObjective(labels)


def _rows(rows, targets):
    return np.arange(len(targets)) if rows is None else np.asarray(rows, "int64")


def _check_positive_weighting(owner, positive_weights, finding_count):
    if positive_weights is None:
        return
    if isinstance(positive_weights, str):
        if positive_weights not in POSITIVE_WEIGHTING:
            raise ValueError(
                f"{owner}: `positive_weights` must be None, "
                f"{', '.join(map(repr, POSITIVE_WEIGHTING))} or one number "
                f"per finding, got {positive_weights!r}."
            )
        return
    shape = np.shape(positive_weights)
    if shape != (finding_count,):
        raise ValueError(
            f"{owner}: `positive_weights` must hold one number per finding "
            f"({finding_count}), got shape {shape}."
        )
