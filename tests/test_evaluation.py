"""`densenet_hub.evaluation`: per-finding AUROC and AP as scikit-learn
computes them on the entries with weight above 0, thresholds checked by
hand, bootstrap intervals reproduced with scikit-learn, undefined findings,
the table and the JSON, and Keras' own multi-label AUC as a second opinion."""

import json
import math
import sys

import keras
import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from sklearn.metrics import roc_auc_score

from densenet_hub.evaluation import THRESHOLD_RULES
from densenet_hub.evaluation import choose_thresholds
from densenet_hub.evaluation import multilabel_report
from densenet_hub.base.optional import MissingOptionalPackageError

FINDINGS = ["Atelectasis", "Cardiomegaly", "Effusion"]


def masked_example():
    """Eight images, three findings; weight 0 marks uncertain labels
    (target -1, as CheXpert writes them), which must not be read."""
    targets = np.array(
        [[1, 0, 1], [0, 0, -1], [1, 1, 0], [0, 1, 1], [1, -1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 1]]
    )
    scores = np.array(
        [
            [0.9, 0.2, 0.7], [0.4, 0.1, 0.9], [0.35, 0.8, 0.2], [0.5, 0.6, 0.6],
            [0.7, 0.95, 0.3], [0.2, 0.3, 0.5], [0.8, 0.4, 0.4], [0.6, 0.5, 0.1],
        ]
    )  # fmt: skip
    weights = (targets >= 0).astype("float32")
    weights[0, 0] = 0  # A certain label left out too: it must drop out of the metrics.
    return targets, scores, weights


def synthetic(rng, images, findings=3, separation=1.0):
    targets = rng.integers(0, 2, (images, findings))
    scores = 1 / (1 + np.exp(-(separation * targets + rng.normal(size=(images, findings)))))
    return targets, scores


def test_auroc_and_ap_are_scikit_learns_on_the_weighted_entries():
    targets, scores, weights = masked_example()
    report = multilabel_report(targets, scores, FINDINGS, weights)
    aurocs, precisions = [], []
    for column, finding in enumerate(report.findings):
        keep = weights[:, column] > 0
        truth, score = targets[keep, column], scores[keep, column]
        aurocs.append(roc_auc_score(truth, score))
        precisions.append(average_precision_score(truth, score))
        assert finding.name == FINDINGS[column]
        assert (finding.positives, finding.negatives) == (truth.sum(), (truth == 0).sum())
        assert finding.auroc == pytest.approx(aurocs[-1], abs=1e-12)
        assert finding.average_precision == pytest.approx(precisions[-1], abs=1e-12)
    # The masked row 0 of Atelectasis (target 1, top score) would change its AUROC.
    assert report.findings[0].auroc != roc_auc_score(targets[:, 0], scores[:, 0])
    assert report.findings[0].positives + report.findings[0].negatives == 7
    assert report.mean_auroc == pytest.approx(np.mean(aurocs), abs=1e-12)
    assert report.mean_average_precision == pytest.approx(np.mean(precisions), abs=1e-12)
    assert report.images == 8 and report.bootstrap == 0
    assert all(f.auroc_ci is None and f.threshold is None for f in report.findings)


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


def test_a_finding_without_positives_is_nan_and_left_out_of_the_mean():
    targets, scores, weights = masked_example()
    targets[:, 1] = 0
    report = multilabel_report(
        targets, scores, FINDINGS, weights, thresholds=[0.5, 0.5, 0.5], bootstrap=50
    )
    cardiomegaly = report.findings[1]
    assert math.isnan(cardiomegaly.auroc) and math.isnan(cardiomegaly.average_precision)
    assert cardiomegaly.auroc_ci is None and cardiomegaly.roc is None
    assert math.isnan(cardiomegaly.sensitivity) and cardiomegaly.specificity == 4 / 7
    others = [report.findings[0], report.findings[2]]
    assert report.mean_auroc == pytest.approx(np.mean([f.auroc for f in others]))
    table = report.table()
    assert "Mean (2 of 3 findings)" in table
    assert "n/a: Cardiomegaly has no positive entry" in table
    document = report.to_json()
    assert document["findings"][1]["auroc"] is None and document["findings_in_mean"] == 2


def test_no_defined_finding_gives_a_nan_mean():
    report = multilabel_report(np.zeros((3, 1)), np.array([[0.1], [0.2], [0.3]]), ["Hernia"])
    assert math.isnan(report.mean_auroc) and math.isnan(report.mean_average_precision)
    assert report.to_json()["mean_auroc"] is None


def test_json_round_trip_and_atomic_save(tmp_path, rng):
    targets, scores = synthetic(rng, 80)
    thresholds = choose_thresholds(targets, scores)
    report = multilabel_report(targets, scores, FINDINGS, thresholds=thresholds, bootstrap=20)
    document = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert document["images"] == 80 and document["bootstrap"] == 20
    assert document["mean_auroc"] == report.mean_auroc
    for entry, finding in zip(document["findings"], report.findings):
        assert entry["name"] == finding.name and entry["auroc"] == finding.auroc
        assert entry["auroc_ci"] == list(finding.auroc_ci)
        assert entry["threshold"] == finding.threshold
        assert entry["sensitivity"] == finding.sensitivity
        assert "roc" not in entry
    path = tmp_path / "metrics.json"
    report.save_json(path)
    assert json.loads(path.read_text()) == document
    with pytest.raises(FileExistsError, match="overwrite=True"):
        report.save_json(path)
    report.save_json(path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_table_has_every_finding_the_mean_and_aligned_columns(rng):
    targets, scores = synthetic(rng, 100)
    plain = multilabel_report(targets, scores, FINDINGS).table()
    full = multilabel_report(
        targets, scores, FINDINGS, thresholds=[0.5] * 3, bootstrap=20
    ).table()
    for table in (plain, full):
        lines = table.splitlines()
        for name in FINDINGS:
            assert any(line.startswith(name) for line in lines)
        mean = next(line for line in lines if line.startswith("Mean (3 of 3 findings)"))
        # The mean AUROC sits under the AUROC header, right-aligned.
        assert mean.index("0.") + 6 == lines[0].index("AUROC") + 5
        assert len(set(map(len, lines[2:5]))) == 1
    assert "95% CI" not in plain and "Sensitivity" not in plain
    assert "95% CI" in full and "Sensitivity" in full and "20 resamples" in full


def test_mean_auroc_agrees_with_keras_multi_label_auc(rng):
    targets, scores = synthetic(rng, 400, findings=4)
    names = ["Atelectasis", "Cardiomegaly", "Effusion", "Edema"]
    report = multilabel_report(targets, scores, names)
    metric = keras.metrics.AUC(multi_label=True, num_thresholds=10_001)
    metric.update_state(targets.astype("float32"), scores.astype("float32"))
    keras_auc = float(keras.ops.convert_to_numpy(metric.result()))
    # Keras sums trapezoids on a threshold grid: close, not identical.
    assert keras_auc == pytest.approx(report.mean_auroc, abs=1e-3)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(scores=np.ones((8, 2))), r"got targets \(8, 3\) and scores \(8, 2\)"),
        (dict(targets=np.ones(8)), r"`targets` must have shape .*, got shape \(8,\)"),
        (dict(weights=np.ones((8, 1))), r"`weights` must have the shape .* \(8, 3\), got \(8, 1\)"),
        (dict(scores=np.full((8, 3), np.nan)), "`scores` must be finite, got nan at row 0"),
        (dict(weights=None), r"must be 0 or 1 where the weight .*, got -1.0 at row 1, column 2"),
        (dict(findings=["Edema"]), "must name each of the 3 columns, got 1 names"),
        (dict(findings=["Edema", "Edema", "Mass"]), "names Edema more than once"),
        (dict(thresholds=[0.5]), r"`thresholds` must be 3 finite numbers.*got \[0.5\]"),
        (dict(thresholds=["high"] * 3), "`thresholds` must be 3 finite numbers"),
        (dict(bootstrap=-1), "`bootstrap` must be a whole number"),
        (dict(confidence=95), r"`confidence` must be between 0 and 1 \(e.g. 0.95\), got 95"),
        (dict(targets=np.zeros((0, 3)), scores=np.zeros((0, 3)), weights=None), "got no images"),
    ],
)
def test_bad_input_names_the_argument_and_the_values(change, message):
    targets, scores, weights = masked_example()
    arguments = dict(targets=targets, scores=scores, findings=FINDINGS, weights=weights)
    with pytest.raises(ValueError, match=message):
        multilabel_report(**{**arguments, **change})


def test_bootstrap_of_many_images_processes_resamples_in_groups(rng, monkeypatch):
    # Small groups must give what one group gives: the chunking is invisible.
    targets, scores = synthetic(rng, 50)
    whole = multilabel_report(targets, scores, FINDINGS, bootstrap=40, seed=5)
    monkeypatch.setattr("densenet_hub.evaluation.BOOTSTRAP_CHUNK_ENTRIES", 50 * 7)
    grouped = multilabel_report(targets, scores, FINDINGS, bootstrap=40, seed=5)
    assert [f.auroc_ci for f in grouped.findings] == [f.auroc_ci for f in whole.findings]


def test_without_scikit_learn_the_error_gives_the_pip_command(monkeypatch):
    targets, scores, weights = masked_example()
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)  # as if not installed
    fix = r"Fix: `pip install 'densenet-hub\[medical\]'`"
    with pytest.raises(MissingOptionalPackageError, match=fix):
        multilabel_report(targets, scores, FINDINGS, weights)
    with pytest.raises(MissingOptionalPackageError, match="Choosing thresholds"):
        choose_thresholds(targets, scores, weights)
