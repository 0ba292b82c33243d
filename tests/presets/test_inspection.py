"""`densenet_hub.presets.inspect`: what a preset is (classifier, backbone,
accelerated folder), its folder and labels, found once; `from_preset` takes
the resolved preset without looking it up again."""

import numpy as np
import pytest

import densenet_hub
from densenet_hub.presets import PresetInfo
from densenet_hub.presets import inspect
from densenet_hub.presets import resolver
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.runtime import accelerate
from densenet_hub.training.classifier import save_classifier
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier

FINDINGS = ["Edema", "Effusion"]


def test_a_multi_label_classifier_with_its_thresholds(tmp_path):
    classifier = build_tiny_classifier(num_classes=2, activation="sigmoid")
    labels = ClassLabels(FINDINGS, thresholds=[0.3, 0.6], threshold_rule="fixed",
                         details={"uncertainty": "ones"})  # fmt: skip
    save_classifier(classifier, labels, tmp_path / "multi")
    found = inspect(tmp_path / "multi")
    assert isinstance(found, PresetInfo)
    assert (found.kind, found.folder, found.num_classes) == ("classifier", tmp_path / "multi", 2)
    assert found.activation == "sigmoid" and found.multi_label and found.builtin is None
    assert found.labels == labels  # names, thresholds, rule and label policies
    assert found.resolved.directory == tmp_path / "multi"


def test_a_single_label_classifier_and_a_backbone(tmp_path):
    build_tiny_classifier(num_classes=3).save_to_preset(str(tmp_path / "single"))
    found = inspect(str(tmp_path / "single"))
    assert (found.kind, found.activation, found.multi_label) == ("classifier", None, False)
    assert found.labels.names == ["class_0", "class_1", "class_2"]
    assert found.labels.thresholds is None

    build_tiny_backbone().save_to_preset(str(tmp_path / "backbone"))
    found = inspect(str(tmp_path / "backbone"))
    assert (found.kind, found.num_classes, found.labels) == ("backbone", None, None)


def test_an_accelerated_folder_is_not_a_preset(tmp_path):
    classifier = build_tiny_classifier(num_classes=2)
    accelerate(classifier).save(tmp_path / "fast", extra_files=ClassLabels(FINDINGS).files())
    found = inspect(str(tmp_path / "fast"))
    assert (found.kind, found.folder, found.resolved) == ("accelerated", tmp_path / "fast", None)
    # Its class count is its outputs'; the names saved beside it are read for it.
    assert found.labels is None and found.class_labels(2).names == FINDINGS
    with pytest.raises(ValueError, match="holds an accelerated model.*load_accelerated"):
        densenet_hub.inference.load_classifier(found)


def test_from_preset_takes_the_resolved_preset_without_looking_again(tmp_path, monkeypatch):
    classifier = build_tiny_classifier(num_classes=3)
    classifier.save_to_preset(str(tmp_path / "tiny"))
    found = inspect(str(tmp_path / "tiny"))
    looked_up = []
    original = resolver.resolve
    monkeypatch.setattr(
        resolver, "resolve", lambda preset: looked_up.append(preset) or original(preset)
    )
    loaded, labels = densenet_hub.inference.load_classifier(found)
    assert looked_up and all(preset is found.resolved for preset in looked_up)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype="uint8")
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), classifier.predict(images, verbose=0), atol=1e-6
    )
    assert labels == found.labels


def test_without_download_an_uncached_builtin_is_named_not_fetched(monkeypatch):
    monkeypatch.setattr(resolver, "local_folder", lambda preset: None)
    found = inspect("densenet121_imagenet", download=False)
    assert (found.kind, found.folder, found.resolved) == (None, None, None)
    assert found.builtin.name == "densenet_121_imagenet"
