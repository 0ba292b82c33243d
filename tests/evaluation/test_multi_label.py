"""`densenet_hub.evaluation.multi_label`: per-finding AUROC and AP as
scikit-learn computes them on the entries with weight above 0, undefined
findings, the table and the JSON, and Keras' own multi-label AUC as a second
opinion."""

import json
import math
import sys

import keras
import numpy as np
import pytest
from helpers.multi_label_examples import FINDINGS
from helpers.multi_label_examples import masked_example
from helpers.multi_label_examples import synthetic
from sklearn.metrics import average_precision_score
from sklearn.metrics import precision_recall_curve
from sklearn.metrics import roc_auc_score

from densenet_hub.base.optional import MissingOptionalPackageError
from densenet_hub.evaluation import choose_thresholds
from densenet_hub.evaluation import multilabel_report


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


def test_precision_recall_points_are_scikit_learns_on_the_weighted_entries(rng):
    targets, scores = synthetic(rng, 200)
    weights = rng.random(targets.shape) > 0.3
    report = multilabel_report(targets, scores, FINDINGS, weights)
    for column, finding in enumerate(report.findings):
        keep = weights[:, column]
        precision, recall, _ = precision_recall_curve(targets[keep, column], scores[keep, column])
        np.testing.assert_array_equal(finding.precision_recall[0], precision)
        np.testing.assert_array_equal(finding.precision_recall[1], recall)
        # Average precision is the area under these points as a step function.
        area = -np.sum(np.diff(recall) * precision[:-1])
        assert finding.average_precision == pytest.approx(area, abs=1e-12)


def test_a_finding_without_positives_is_nan_and_left_out_of_the_mean():
    targets, scores, weights = masked_example()
    targets[:, 1] = 0
    report = multilabel_report(
        targets, scores, FINDINGS, weights, thresholds=[0.5, 0.5, 0.5], bootstrap=50
    )
    cardiomegaly = report.findings[1]
    assert math.isnan(cardiomegaly.auroc) and math.isnan(cardiomegaly.average_precision)
    assert cardiomegaly.auroc_ci is None and cardiomegaly.roc is None
    assert cardiomegaly.precision_recall is None
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


def test_without_scikit_learn_the_error_gives_the_pip_command(monkeypatch):
    targets, scores, weights = masked_example()
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)  # as if not installed
    fix = r"Fix: `pip install 'densenet-hub\[medical\]'`"
    with pytest.raises(MissingOptionalPackageError, match=fix):
        multilabel_report(targets, scores, FINDINGS, weights)
    with pytest.raises(MissingOptionalPackageError, match="Choosing thresholds"):
        choose_thresholds(targets, scores, weights)
