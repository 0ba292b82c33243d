"""`MultiLabelObjective`: a 0/1 target per (image, finding) (a sigmoid head,
as in CheXNet), an entry-weighted binary cross-entropy, mean AUROC, a split
that keeps each patient's images on one side, and decision thresholds
chosen on the validation split."""

import hashlib

import keras
import numpy as np

from densenet_hub.evaluation import choose_thresholds
from densenet_hub.evaluation import multilabel_report
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.presets.class_labels import default_class_names
from densenet_hub.training.losses import POSITIVE_WEIGHTING
from densenet_hub.training.losses import MultiLabelBinaryCrossentropy
from densenet_hub.training.losses import balanced_positive_weights
from densenet_hub.training.objectives.base import Objective
from densenet_hub.training.objectives.base import label_rows
from densenet_hub.training.split import check_split_findings
from densenet_hub.training.split import multilabel_split
from densenet_hub.training.split import split_counts

THRESHOLD_RULE = (
    "per finding, the validation-split probability maximising Youden's J "
    "(sensitivity + specificity - 1), over entries with weight > 0"
)


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
        rows = label_rows(rows, self.targets)
        return multilabel_report(self.targets[rows], scores, self.findings,
                                 weights=self.weights[rows], **options)  # fmt: skip


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
