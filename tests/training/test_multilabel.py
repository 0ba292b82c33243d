"""Multi-label fine-tuning: the entry-weighted loss, `finetune` with 0/1
target matrices, and the preset files that carry findings and thresholds."""

import json

import keras
import numpy as np
import PIL.Image
import pytest

from densenet_hub import training
from densenet_hub.models import ImageClassifier
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.presets.class_labels import LabelFileWarning
from densenet_hub.presets.class_labels import read_class_labels
from densenet_hub.presets.saver import save_preset
from densenet_hub.training import MultiLabelBinaryCrossentropy
from densenet_hub.training import balanced_positive_weights
from densenet_hub.training.checkpoint import STATE_FILE
from helpers.models import build_tiny_classifier

FINDINGS = ["left", "right", "bottom"]


def _bce(y, p):
    p = np.clip(p, keras.config.epsilon(), 1 - keras.config.epsilon())
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_loss_weighs_every_entry_on_its_own():
    y = np.array([[1, 0, 1], [0, 1, 0]], "float32")
    p = np.array([[0.9, 0.2, 0.4], [0.3, 0.6, 0.05]], "float32")
    weights = np.array([[1, 0, 1], [0.5, 1, 0]], "float32")
    loss = MultiLabelBinaryCrossentropy()(y, p, sample_weight=weights)
    expected = (_bce(y, p) * weights).sum() / y.size
    assert abs(float(loss) - expected) < 1e-6
    # An entry of weight 0 does not move the loss whatever its prediction.
    p_changed = p.copy()
    p_changed[0, 1] = 0.99
    changed = MultiLabelBinaryCrossentropy()(y, p_changed, sample_weight=weights)
    assert abs(float(changed) - float(loss)) < 1e-7


def test_loss_positive_weights_and_logits():
    y = np.array([[1, 0], [0, 1]], "float32")
    logits = np.array([[2.0, -1.0], [0.5, -3.0]], "float32")
    p = 1 / (1 + np.exp(-logits))
    positive = np.array([3.0, 0.5])
    per_entry = -(positive * y * np.log(p) + (1 - y) * np.log(1 - p))
    from_logits = MultiLabelBinaryCrossentropy(from_logits=True, positive_weights=positive)
    from_probabilities = MultiLabelBinaryCrossentropy(positive_weights=positive)
    assert abs(float(from_logits(y, logits)) - per_entry.mean()) < 1e-5
    assert abs(float(from_probabilities(y, p)) - per_entry.mean()) < 1e-5
    # Round trip through the config, as a compiled model's loss would be.
    copy = MultiLabelBinaryCrossentropy.from_config(from_logits.get_config())
    assert copy.positive_weights == [3.0, 0.5] and copy.from_logits


def test_balanced_positive_weights_count_only_weighted_entries():
    targets = np.array([[1, 0], [0, 0], [0, 1], [1, 0]])
    weights = np.array([[1, 1], [1, 1], [1, 1], [0, 1]])
    assert balanced_positive_weights(targets, weights).tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="'b' has 0 positive"):
        balanced_positive_weights(np.array([[1, 0], [0, 0]]), findings=["a", "b"])


def test_sigmoid_head_compiles_for_multi_hot_labels():
    classifier = build_tiny_classifier(num_classes=3, activation="sigmoid", preprocessor=None)
    assert classifier.multi_label
    assert isinstance(classifier.loss, keras.losses.BinaryCrossentropy)
    x = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype("float32")
    y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]], "float32")
    logs = classifier.fit(x, y, epochs=1, batch_size=2, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and "auroc" in logs
    assert not build_tiny_classifier(num_classes=3, preprocessor=None).multi_label


def _mosaics(folder, count=24):
    """Images whose three regions are bright when their finding is present,
    two images per patient."""
    paths, targets, groups = [], [], []
    for i in range(count):
        target = np.array([i % 2, (i // 2) % 2, (i // 4) % 2], "float32")
        image = np.zeros((32, 32, 3), "uint8")
        image[:16, :16] += np.uint8(220 * target[0])
        image[:16, 16:] += np.uint8(220 * target[1])
        image[16:] += np.uint8(220 * target[2])
        paths.append(folder / f"{i}.png")
        PIL.Image.fromarray(image).save(paths[-1])
        targets.append(target)
        groups.append(f"patient{i // 2}")
    return paths, np.array(targets), np.array(groups)


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mosaics")
    paths, targets, groups = _mosaics(folder)
    weights = np.ones_like(targets)
    weights[0, 0] = weights[5, 2] = 0
    keras.utils.set_random_seed(0)
    classifier = build_tiny_classifier(num_classes=3, activation="sigmoid")
    result = training.finetune(
        classifier, paths, targets, folder / "checkpoints",
        label_weights=weights, groups=groups, positive_weights="balanced",
        findings=FINDINGS, warmup_epochs=1, epochs=1, batch_size=4, augment=(), verbose=0,
    )  # fmt: skip
    return result, paths, targets, weights, groups


def test_finetune_multilabel_result(finetuned):
    result, _, targets, weights, groups = finetuned
    assert result.epochs_done == 2 and len(result.thresholds) == 3
    assert all(0 <= t <= 1 for t in result.thresholds)
    assert "Youden" in result.threshold_rule
    assert "val_auroc" in result.best_val_metrics and np.isnan(result.best_val_accuracy)
    # The split counts cover every weighted entry exactly once.
    for index, name in enumerate(FINDINGS):
        sides = result.split_counts[name]
        counted = weights[:, index] > 0
        assert sides["train"][0] + sides["validation"][0] == targets[counted, index].sum()
        assert sum(sides["train"]) + sum(sides["validation"]) == counted.sum()
    assert len(result.positive_weights) == 3


def test_finetune_split_keeps_patients_whole(finetuned):
    result, paths, _, _, groups = finetuned
    state = json.loads((result.checkpoint_dir / STATE_FILE).read_text())["settings"]
    train = {name.split(".")[0] for name in state["train_files"]}
    val = {name.split(".")[0] for name in state["validation_files"]}
    group_of = {path.stem: group for path, group in zip(paths, groups)}
    assert not {group_of[n] for n in train} & {group_of[n] for n in val}


def test_thresholds_saved_and_reloaded_with_identical_predictions(finetuned, tmp_path):
    result, paths, *_ = finetuned
    labels = ClassLabels(FINDINGS, result.thresholds, result.threshold_rule)
    save_preset(result.classifier, tmp_path / "preset", extra_files=labels.files())
    loaded = ImageClassifier.from_preset(str(tmp_path / "preset"))
    assert loaded.multi_label
    assert read_class_labels(tmp_path / "preset", 3, multi_label=True) == labels
    images = [np.asarray(PIL.Image.open(path)) for path in paths[:6]]
    expected = result.classifier.predict(np.stack(images), verbose=0)
    actual = loaded.predict(np.stack(images), verbose=0)
    assert np.abs(actual - expected).max() < 1e-6


def test_resuming_with_other_labels_is_refused(finetuned):
    result, paths, targets, weights, groups = finetuned
    other = targets.copy()
    other[3] = 1 - other[3]
    classifier = build_tiny_classifier(num_classes=3, activation="sigmoid")
    with pytest.raises(training.CheckpointError):
        training.finetune(
            classifier, paths, other, result.checkpoint_dir, label_weights=weights,
            groups=groups, positive_weights="balanced", findings=FINDINGS,
            warmup_epochs=1, epochs=1, batch_size=4, augment=(), verbose=0,
        )  # fmt: skip


def test_finetune_refuses_mismatched_multilabel_input(tmp_path):
    paths, targets, _ = _mosaics(tmp_path, count=8)
    softmax = build_tiny_classifier(num_classes=3, activation="softmax")
    with pytest.raises(ValueError, match='activation="sigmoid"'):
        training.finetune(softmax, paths, targets, tmp_path / "c", verbose=0)
    sigmoid = build_tiny_classifier(num_classes=3, activation="sigmoid")
    with pytest.raises(ValueError, match=r"shape \(images, findings\) = \(8, 3\)"):
        training.finetune(sigmoid, paths, targets[:, :2], tmp_path / "c", verbose=0)
    with pytest.raises(ValueError, match="must be 0 or 1"):
        training.finetune(sigmoid, paths, targets - 1, tmp_path / "c", verbose=0)
    with pytest.raises(ValueError, match="one group id per image"):
        training.finetune(sigmoid, paths, targets, tmp_path / "c", groups=["a"], verbose=0)


def test_label_files_that_do_not_fit_are_ignored_with_a_warning(tmp_path):
    labels = ClassLabels(["a", "b"], [0.2, 0.7], "rule")
    for name, data in labels.files().items():
        (tmp_path / name).write_bytes(data)
    with pytest.warns(LabelFileWarning, match="3 classes"):
        read = read_class_labels(tmp_path, 3, multi_label=True)
    assert read.names == ["class_0", "class_1", "class_2"] and read.thresholds is None
    (tmp_path / "multi_label.json").write_text('{"format": 1, "findings": ["a", "b"], '
                                               '"thresholds": {"a": 2, "b": 0.1}}')  # fmt: skip
    with pytest.warns(LabelFileWarning, match="probability in"):
        assert read_class_labels(tmp_path, 2, multi_label=True).thresholds is None
    with pytest.raises(ValueError, match="2 thresholds for 1 findings"):
        ClassLabels(["a"], [0.1, 0.2])
