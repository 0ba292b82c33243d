"""`densenet_hub.evaluation.choose_thresholds`: Youden and F1 thresholds
checked by hand, thresholds that are scores of the weighted entries, and a
finding without positives named."""

import numpy as np
import pytest
from helpers.multi_label_examples import synthetic

from densenet_hub.evaluation import THRESHOLD_RULES
from densenet_hub.evaluation import choose_thresholds
from densenet_hub.evaluation import multilabel_report


def test_youden_threshold_and_its_sensitivity_and_specificity_by_hand():
    targets = np.array([[0, 1], [0, 0], [1, 0], [0, 1], [1, 0], [1, 0]])
    scores = np.array([[0.1, 0.2], [0.3, 0.3], [0.35, 0.5], [0.6, 0.6], [0.7, 0.7], [0.9, 0.8]])
    # Finding 0: at 0.9 J = 1/3, at 0.7 J = 2/3 + 1 - 1 = 2/3, at 0.6 J = 1/3,
    # at 0.35 J = 1 + 2/3 - 1 = 2/3, at 0.3 J = 1/3: the higher of the tie.
    # Finding 1 ranks its positives low: no threshold beats calling every
    # image negative, so the threshold lies just above its highest score.
    thresholds = choose_thresholds(targets, scores, findings=["Edema", "Mass"])
    assert thresholds[0] == 0.7
    assert thresholds[1] == np.nextafter(0.8, 1)
    report = multilabel_report(targets, scores, ["Edema", "Mass"], thresholds=thresholds)
    edema, mass = report.findings
    assert (edema.threshold, edema.sensitivity, edema.specificity) == (0.7, 2 / 3, 1.0)
    assert (mass.sensitivity, mass.specificity) == (0.0, 1.0)
    # F1 at 0.35 is 2 * 3/4 * 1 / (3/4 + 1) = 6/7, the best (4/5 at 0.7).
    assert choose_thresholds(targets[:, :1], scores[:, :1], rule="f1").tolist() == [0.35]
    assert THRESHOLD_RULES == ("youden", "f1")


def test_thresholds_are_scores_and_skip_masked_entries(rng):
    targets, scores = synthetic(rng, 300)
    weights = rng.random(targets.shape) > 0.3
    for rule in THRESHOLD_RULES:
        thresholds = choose_thresholds(targets, scores, weights, rule=rule)
        for column, threshold in enumerate(thresholds):
            assert threshold in scores[weights[:, column], column]
    # A masked entry with the top score and a positive target cannot move
    # a threshold that the weighted entries alone determine.
    weights[0] = False
    targets[0], scores[0] = 1, 0.999
    before = choose_thresholds(targets[1:], scores[1:], weights[1:])
    assert choose_thresholds(targets, scores, weights).tolist() == before.tolist()


def test_choose_thresholds_names_a_finding_without_positives():
    targets = np.array([[0, 1], [0, 0], [0, 1]])
    scores = np.array([[0.2, 0.9], [0.4, 0.1], [0.6, 0.7]])
    with pytest.raises(ValueError, match="Hernia has no positive entry among its 3"):
        choose_thresholds(targets, scores, findings=["Hernia", "Edema"])
    with pytest.raises(ValueError, match="finding 0 has no positive"):
        choose_thresholds(targets, scores)
    with pytest.raises(ValueError, match="`rule` must be one of 'youden', 'f1', got 'best'"):
        choose_thresholds(targets, scores, rule="best")
