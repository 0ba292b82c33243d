"""Operating thresholds of a multi-label classifier, one per finding,
chosen on validation data by a named rule."""

import numpy as np

from densenet_hub.evaluation.inputs import checked_findings
from densenet_hub.evaluation.inputs import checked_matrices
from densenet_hub.evaluation.inputs import import_sklearn

# youden: the point of the ROC curve maximising Youden's J = sensitivity +
# specificity - 1, which weighs a missed finding and a false alarm alike
# whatever the finding's prevalence. f1: the threshold maximising F1, the
# harmonic mean of precision and sensitivity, which keeps false alarms few
# for a rare finding (CheXNet compares itself to radiologists by F1).
THRESHOLD_RULES = ("youden", "f1")


def choose_thresholds(targets, scores, weights=None, rule="youden", findings=None):
    """One operating threshold per finding, chosen on (validation) data by
    `rule`; scores at or above a threshold count as positive.

    Each threshold is one of the finding's own scores (over its entries with
    weight above 0), a point of `sklearn.metrics.roc_curve`: `youden` takes
    the one maximising sensitivity + specificity - 1, `f1` the one
    maximising F1 = 2 TP / (2 TP + FP + FN). Ties, compared exactly on the
    counts, go to the highest threshold (fewer positive calls). When with
    `youden` no threshold beats calling every image negative (J = 0), that
    is the choice: the threshold is the next float above the finding's
    highest score.

    Choose thresholds on a validation set and report them on the test set:
    chosen on the test set itself, sensitivity and specificity are biased
    upwards.

    Args:
        targets: 0/1 labels, shape `(images, findings)`.
        scores: the model's finite scores, same shape.
        weights: None (every entry counts) or an array of the same shape:
            an entry takes part only where its weight is above 0.
        rule: one of `THRESHOLD_RULES`: "youden" or "f1".
        findings: the findings' names, for error messages (default
            "finding 0", "finding 1", ...).

    Returns:
        A float64 array of one threshold per finding.

    Raises:
        ValueError: a finding has no positive or no negative entry, so no
            threshold can be chosen for it (the message names it).

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import choose_thresholds

    targets = np.array([[0], [0], [1], [0], [1], [1]])
    scores = np.array([[0.1], [0.3], [0.35], [0.6], [0.7], [0.9]])
    # J = 2/3 at 0.7 (2 of 3 positives found, no false alarm) and at 0.35
    # (3 of 3 found, 1 of 3 negatives called): ties go to the higher one.
    assert choose_thresholds(targets, scores).tolist() == [0.7]
    # F1 = 6/7 at 0.35 (precision 3/4, sensitivity 1), 4/5 at 0.7.
    assert choose_thresholds(targets, scores, rule="f1").tolist() == [0.35]
    ```
    """
    owner = "choose_thresholds"
    if rule not in THRESHOLD_RULES:
        raise ValueError(
            f"{owner}: `rule` must be one of {', '.join(map(repr, THRESHOLD_RULES))}, "
            f"got {rule!r}."
        )
    targets, scores, mask = checked_matrices(owner, targets, scores, weights)
    if findings is None:
        findings = [f"finding {column}" for column in range(scores.shape[1])]
    findings = checked_findings(owner, findings, scores.shape[1])
    metrics = import_sklearn("sklearn.metrics", "Choosing thresholds")
    thresholds = np.empty(scores.shape[1])
    for column, name in enumerate(findings):
        rows = mask[:, column]
        truth, score = targets[rows, column], scores[rows, column]
        positives = int(truth.sum())
        if positives == 0 or positives == truth.size:
            missing = "positive" if positives == 0 else "negative"
            raise ValueError(
                f"{owner}: {name} has no {missing} entry among its {truth.size} "
                f"entries with weight > 0, so no threshold can be chosen for it. "
                "Choose thresholds on a set with both, or set this one by hand."
            )
        fpr, tpr, candidates = metrics.roc_curve(truth, score, drop_intermediate=False)
        # Counts, not rates, so that ties are exact: in floats 1 - 1/3 and
        # 2/3 - 0 differ, and the tie rule would depend on rounding.
        negatives = truth.size - positives
        found, false_alarms = np.rint(tpr * positives), np.rint(fpr * negatives)
        if rule == "youden":
            merit = found * negatives - false_alarms * positives
        else:
            merit = 2 * found / (found + false_alarms + positives)
        # roc_curve lists thresholds from the highest: the first maximum is
        # the highest threshold among ties.
        best = candidates[np.argmax(merit)]
        # roc_curve's first threshold is inf ("no image positive").
        thresholds[column] = best if np.isfinite(best) else np.nextafter(score.max(), np.inf)
    return thresholds
