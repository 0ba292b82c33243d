"""The objective seam: `SingleLabelObjective` and `MultiLabelObjective`
driven through `finetune` alike, on tiny DenseNets (32x32, two blocks of
two layers, growth rate 4), and what each answers on its own."""

import json

import numpy as np
import PIL.Image
import pytest
from helpers.models import build_tiny_classifier

from densenet_hub import training
from densenet_hub.evaluation import multilabel_report
from densenet_hub.evaluation import single_label_report
from densenet_hub.training import MultiLabelObjective
from densenet_hub.training import SingleLabelObjective
from densenet_hub.training import objective_for
from densenet_hub.training.checkpoint import STATE_FILE

FINDINGS = ["left", "right"]
CLASSES = ["dark", "bright"]
QUICK = dict(warmup_epochs=0, epochs=1, batch_size=4, augment=(), verbose=0)


def _write(folder, pixels):
    paths = []
    for index, image in enumerate(pixels):
        paths.append(folder / f"{index}.png")
        PIL.Image.fromarray(image).save(paths[-1])
    return paths


def _single_label(folder):
    """Twelve images, dark (class 0) or bright (class 1)."""
    labels = np.arange(12) % 2
    rng = np.random.default_rng(0)
    pixels = [(rng.integers(0, 80, (32, 32, 3)) + 150 * label).astype("uint8")
              for label in labels]  # fmt: skip
    return _write(folder, pixels), SingleLabelObjective(labels, CLASSES)


def _multi_label(folder):
    """Sixteen images whose left and right halves are bright when their
    finding is present, two per patient."""
    targets = np.array([[i % 2, (i // 2) % 2] for i in range(16)])
    pixels = []
    for target in targets:
        image = np.zeros((32, 32, 3), "uint8")
        image[:, :16] += np.uint8(220 * target[0])
        image[:, 16:] += np.uint8(220 * target[1])
        pixels.append(image)
    groups = [f"patient{i // 2}" for i in range(16)]
    return _write(folder, pixels), MultiLabelObjective(targets, groups=groups, findings=FINDINGS)


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_both_objectives_train_through_the_same_recipe(kind, tmp_path):
    paths, objective = (_single_label if kind == "single" else _multi_label)(tmp_path)
    classifier = build_tiny_classifier(num_classes=2, activation=objective.activation)
    result = training.finetune(classifier, paths, objective, tmp_path / "ckpt", **QUICK)
    assert result.objective is objective and result.epochs_done == 1
    assert objective.monitor in result.best_val_metrics
    assert np.isfinite(result.best_val_metrics[objective.monitor])
    assert objective.score_text(result.best_val_metrics).startswith(objective.monitor_title)

    labels = objective.class_labels(result, {"uncertainty": "ignore"})
    assert labels.names == objective.names
    if kind == "single":
        assert result.thresholds is None and result.split_counts is None
        assert labels.thresholds is None
    else:
        assert len(result.thresholds) == 2 and "Youden" in result.threshold_rule
        assert set(result.split_counts) == set(FINDINGS)
        assert labels.thresholds == result.thresholds
        assert labels.details["labels"] == {"uncertainty": "ignore"}
        # Patients stay whole across the split the checkpoint records.
        state = json.loads((tmp_path / "ckpt" / STATE_FILE).read_text())["settings"]
        sides = [{int(name.split(".")[0]) // 2 for name in state[key]}
                 for key in ("train_files", "validation_files")]  # fmt: skip
        assert not sides[0] & sides[1]

    # The held-out report of the trained classifier, as the evaluation
    # package computes it from the same scores.
    report = objective.evaluate(result.classifier, paths)
    if kind == "single":
        assert report.images == len(paths) and report.class_names == CLASSES
    else:
        assert [finding.name for finding in report.findings] == FINDINGS


def test_arrays_and_objectives_are_the_same_labels():
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    multi = objective_for(targets, groups=["a", "a", "b", "c"], findings=FINDINGS)
    assert isinstance(multi, MultiLabelObjective) and multi.names == FINDINGS
    single = objective_for([0, 1, 1])
    assert isinstance(single, SingleLabelObjective) and single.names == ["class_0", "class_1"]
    assert objective_for(multi) is multi
    with pytest.raises(ValueError, match="groups given beside an objective"):
        objective_for(multi, groups=["a"] * 4)
    with pytest.raises(ValueError, match="positive_weights apply to multi-label targets"):
        objective_for([0, 1], positive_weights="balanced")


def test_each_objective_refuses_a_classifier_of_the_other_kind():
    softmax = build_tiny_classifier(num_classes=2, preprocessor=None)
    sigmoid = build_tiny_classifier(num_classes=2, activation="sigmoid", preprocessor=None)
    SingleLabelObjective([0, 1]).check(softmax, 2)
    with pytest.raises(ValueError, match="sigmoid per class"):
        SingleLabelObjective([0, 1]).check(sigmoid, 2)
    targets = np.eye(2, dtype=int)
    MultiLabelObjective(targets).check(sigmoid, 2)
    with pytest.raises(ValueError, match='activation="sigmoid"'):
        MultiLabelObjective(targets).check(softmax, 2)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"labels": [[0, 2]]}, "must be 0 or 1"),
        ({"label_weights": [[1, -1]]}, "finite numbers >= 0"),
        ({"groups": ["a", "b"]}, "one group id per image (1)"),
        ({"findings": ["only"]}, "1 `findings` names for labels of 2 findings"),
        ({"positive_weights": "rare"}, "'balanced' or one number per finding"),
        ({"positive_weights": [1.0]}, "one number per finding (2)"),
    ],
)
def test_multi_label_objective_refuses_bad_labels_when_made(arguments, message):
    with pytest.raises(ValueError) as caught:
        MultiLabelObjective(**{"labels": [[0, 1]], **arguments})
    assert message in str(caught.value)


def test_multi_label_settings_log_and_positive_weights():
    targets = np.array([[1, 0], [0, 1], [0, 1], [0, 1], [1, 0], [0, 0]])
    weights = np.ones_like(targets)
    weights[5, 1] = 0
    objective = MultiLabelObjective(targets, weights, groups=list("aabbcc"),
                                    findings=FINDINGS, positive_weights="balanced")  # fmt: skip
    train_rows, val_rows = np.array([0, 1, 2, 3]), np.array([4, 5])
    assert objective.positive_weights(train_rows) == [3.0, 1 / 3]
    settings = objective.settings(train_rows)["multi_label"]
    assert set(settings) == {"findings", "targets_sha256", "positive_weights"}
    # Another weight is another run: the digest tells them apart.
    other = MultiLabelObjective(targets, findings=FINDINGS, positive_weights="balanced")
    assert other.settings(train_rows)["multi_label"]["targets_sha256"] != settings["targets_sha256"]
    assert objective.split_counts(train_rows, val_rows)["right"] == {
        "train": [3, 1], "validation": [0, 1]
    }  # fmt: skip
    lines = objective.split_lines(train_rows, val_rows)
    assert "(2 and 1 patient groups, none on both sides)" in lines[0]
    assert lines[2] == "  right       3 / 1      |      0 / 1"
    single = SingleLabelObjective([0, 1, 1])
    assert single.settings(train_rows) == {} and single.split_lines(train_rows, val_rows) == []
    assert single.positive_weights(train_rows) is None


def test_reports_are_the_evaluation_packages():
    probabilities = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
    single = SingleLabelObjective([0, 1, 1, 1], CLASSES)
    expected = single_label_report([1, 1], probabilities[[1, 3]], CLASSES, top_k=1)
    report = single.report(probabilities[[1, 3]], [2, 3], top_k=1)
    assert report.to_json() == expected.to_json() and report.accuracy == 1
    np.testing.assert_array_equal(report.confusion_matrix, expected.confusion_matrix)

    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    weights = np.array([[1, 1], [1, 0], [1, 1], [1, 1]])
    multi = MultiLabelObjective(targets, weights, findings=FINDINGS)
    report = multi.report(probabilities, thresholds=[0.5, 0.5])
    expected = multilabel_report(targets, probabilities, FINDINGS, weights, [0.5, 0.5])
    assert report.to_json() == expected.to_json()
