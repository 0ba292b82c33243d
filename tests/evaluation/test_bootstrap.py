"""The AUROC bootstrap intervals of `densenet_hub.evaluation.multilabel_report`:
reproduced with scikit-learn resample by resample, deterministic, around the
estimate and narrowing with more images, the same in groups of resamples."""

import numpy as np
from helpers.multi_label_examples import FINDINGS
from helpers.multi_label_examples import synthetic
from sklearn.metrics import roc_auc_score

from densenet_hub.evaluation import multilabel_report


def test_bootstrap_interval_reproduced_with_scikit_learn(rng):
    targets, scores = synthetic(rng, 60)
    targets[:, 2] = 0
    targets[[5, 17], 2] = 1  # Rare: many resamples lack a positive and are skipped.
    weights = rng.random(targets.shape) > 0.2
    report = multilabel_report(
        targets, scores, FINDINGS, weights, bootstrap=200, confidence=0.9, seed=3
    )
    # The draws the docstring states: resample k is rng.integers(0, images, images).
    draws = np.random.default_rng(3)
    draws = [draws.integers(0, 60, size=60) for _ in range(200)]
    for column, finding in enumerate(report.findings):
        values = []
        for rows in draws:
            keep = weights[rows, column]
            truth, score = targets[rows, column][keep], scores[rows, column][keep]
            if 0 < truth.sum() < truth.size:
                values.append(roc_auc_score(truth, score))
        if column == 2:
            assert len(values) < 180  # The skipping really happened.
        expected = np.percentile(values, [5, 95])
        np.testing.assert_allclose(finding.auroc_ci, expected, atol=1e-12)


def test_bootstrap_is_deterministic_contains_the_estimate_and_narrows(rng):
    def widths(report):
        return np.array([high - low for low, high in (f.auroc_ci for f in report.findings)])

    targets, scores = synthetic(rng, 2000)
    small = multilabel_report(targets[:100], scores[:100], FINDINGS, bootstrap=300, seed=1)
    again = multilabel_report(targets[:100], scores[:100], FINDINGS, bootstrap=300, seed=1)
    other = multilabel_report(targets[:100], scores[:100], FINDINGS, bootstrap=300, seed=2)
    large = multilabel_report(targets, scores, FINDINGS, bootstrap=300, seed=1)
    assert [f.auroc_ci for f in small.findings] == [f.auroc_ci for f in again.findings]
    assert [f.auroc_ci for f in small.findings] != [f.auroc_ci for f in other.findings]
    for report in (small, large):
        for finding in report.findings:
            low, high = finding.auroc_ci
            assert low < finding.auroc < high
    # The interval's width shrinks about as 1 / sqrt(images): 20 times the
    # images, about 4.5 times narrower.
    assert (widths(large) < widths(small) / 3).all()
    assert report.bootstrap == 300 and report.confidence == 0.95 and report.seed == 1


def test_bootstrap_of_many_images_processes_resamples_in_groups(rng, monkeypatch):
    # Small groups must give what one group gives: the chunking is invisible.
    targets, scores = synthetic(rng, 50)
    whole = multilabel_report(targets, scores, FINDINGS, bootstrap=40, seed=5)
    monkeypatch.setattr("densenet_hub.evaluation.bootstrap.BOOTSTRAP_CHUNK_ENTRIES", 50 * 7)
    grouped = multilabel_report(targets, scores, FINDINGS, bootstrap=40, seed=5)
    assert [f.auroc_ci for f in grouped.findings] == [f.auroc_ci for f in whole.findings]
