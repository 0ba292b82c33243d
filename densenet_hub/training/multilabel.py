"""What `finetune` does differently for a multi-label classifier (a sigmoid
head, one independent probability per finding, as in CheXNet): a split that
keeps each patient on one side, a loss with a weight per (image, finding)
entry, AUROC as the validation metric, and decision thresholds chosen on the
validation split."""

import dataclasses
import hashlib

import keras
import numpy as np

from densenet_hub.evaluation import choose_thresholds
from densenet_hub.training.losses import POSITIVE_WEIGHTING
from densenet_hub.training.losses import MultiLabelBinaryCrossentropy
from densenet_hub.training.losses import balanced_positive_weights
from densenet_hub.training.split import check_split_findings
from densenet_hub.training.split import multilabel_split
from densenet_hub.training.split import split_counts

THRESHOLD_RULE = (
    "per finding, the validation-split probability maximising Youden's J "
    "(sensitivity + specificity - 1), over entries with weight > 0"
)


@dataclasses.dataclass
class MultiLabelTargets:
    """Checked multi-label training targets.

    Attributes:
        targets: `(images, findings)` float32 array of 0/1.
        weights: `(images, findings)` float32 entry weights (0: left out).
        groups: `None` or one group (patient) id per image.
        findings: the finding names.
    """

    targets: np.ndarray
    weights: np.ndarray
    groups: np.ndarray
    findings: list

    @classmethod
    def check(cls, classifier, labels, label_weights, groups, findings, count):
        """Refuses targets that do not fit `classifier` and `count` images."""
        targets = np.asarray(labels)
        num_classes = classifier.num_classes
        if not getattr(classifier, "multi_label", False):
            raise ValueError(
                f"finetune: `labels` has shape {targets.shape}, multi-label "
                f"targets, but the classifier's head has activation "
                f"{classifier.activation!r}; build it with "
                "`activation=\"sigmoid\"` (one probability per finding)."
            )
        if targets.shape != (count, num_classes):
            raise ValueError(
                f"finetune: multi-label `labels` must have shape (images, "
                f"findings) = ({count}, {num_classes}), got {targets.shape}."
            )
        if not np.isin(targets, (0, 1)).all():
            raise ValueError(
                f"finetune: multi-label `labels` must be 0 or 1, got values "
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
                    f"finetune: `label_weights` must be finite numbers >= 0 of "
                    f"the labels' shape {targets.shape}, got shape {weights.shape}."
                )
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (count,):
                raise ValueError(
                    f"finetune: `groups` must hold one group id per image "
                    f"({count}), got shape {groups.shape}."
                )
        if findings is None:
            findings = [f"class_{index}" for index in range(num_classes)]
        elif len(findings) != num_classes:
            raise ValueError(
                f"finetune: {len(findings)} `findings` names for a head of "
                f"{num_classes} classes; give one name per class."
            )
        return cls(targets.astype("float32"), weights, groups, list(findings))

    def split(self, val_split, seed):
        """`(train_rows, val_rows)`: patients kept whole, findings stratified,
        each finding with positive and negative entries on both sides."""
        train_rows, val_rows = multilabel_split(
            self.targets, val_split, seed, groups=self.groups, weights=self.weights
        )
        check_split_findings(self.targets, train_rows, val_rows, self.findings, self.weights)
        return train_rows, val_rows

    def split_table(self, train_rows, val_rows):
        """`{finding: {"train": [positives, negatives], "validation": [...]}}`."""
        sides = {}
        for side, rows in (("train", train_rows), ("validation", val_rows)):
            positives, negatives = split_counts(self.targets, rows, self.weights)
            sides[side] = (positives, negatives)
        return {
            name: {
                side: [int(counts[0][index]), int(counts[1][index])]
                for side, counts in sides.items()
            }
            for index, name in enumerate(self.findings)
        }

    def positive_weights(self, positive_weighting, train_rows):
        """Per-finding factors of the positive entries' loss, or `None`."""
        if positive_weighting is None:
            return None
        if isinstance(positive_weighting, str):
            if positive_weighting not in POSITIVE_WEIGHTING:
                raise ValueError(
                    f"finetune: `positive_weights` must be None, "
                    f"{', '.join(map(repr, POSITIVE_WEIGHTING))} or one number "
                    f"per finding, got {positive_weighting!r}."
                )
            return balanced_positive_weights(
                self.targets[train_rows], self.weights[train_rows], self.findings
            ).tolist()
        values = np.asarray(positive_weighting, dtype="float64")
        if values.shape != (len(self.findings),):
            raise ValueError(
                f"finetune: `positive_weights` must hold one number per finding "
                f"({len(self.findings)}), got shape {values.shape}."
            )
        return values.tolist()

    def settings(self):
        """What a resumed run must share: the findings and a digest of the
        targets, weights and groups."""
        digest = hashlib.sha256()
        for part in (self.targets, self.weights):
            digest.update(np.ascontiguousarray(part).tobytes())
        if self.groups is not None:
            digest.update("\0".join(map(str, self.groups)).encode("utf-8"))
        return {"findings": self.findings, "targets_sha256": digest.hexdigest()}


def compile_arguments(positive_weights):
    """`compile` arguments of a multi-label phase (the head's sigmoid gives
    probabilities): the entry-weighted loss and AUROC, both weighted by the
    batches' entry weights."""
    return {
        "loss": MultiLabelBinaryCrossentropy(positive_weights=positive_weights),
        "metrics": [],
        "weighted_metrics": [keras.metrics.AUC(multi_label=True, name="auroc")],
    }


def validation_thresholds(classifier, val_data, findings):
    """Per-finding thresholds chosen on `val_data`'s preprocessed batches
    (rows of weight 0, such as padding, are left out)."""
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
        findings=findings,
    )
