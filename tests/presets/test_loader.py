"""Presets on the local side: `save_to_preset` round trips and `from_preset`
on every class, metadata, config precedence. Tiny models throughout."""

import json
import pathlib

import keras
import numpy as np
import pytest
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier
from helpers.models import build_tiny_preprocessor

from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.layers import ImageConverter
from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier
from densenet_hub.models import ImageClassifierPreprocessor

KERAS_HUB_FILES = {"config.json", "metadata.json", "model.weights.h5"}
TASK_FILES = KERAS_HUB_FILES | {
    "task.json",
    "task.weights.h5",
    "preprocessor.json",
    "image_converter.json",
}


def softmax_classifier(**backbone_kwargs):
    """A tiny 5-class softmax classifier with per-channel normalisation."""
    preprocessor = build_tiny_preprocessor(
        scale=[1 / 58.0, 1 / 57.0, 1 / 57.5], offset=[-2.1, -2.0, -1.8]
    )
    return build_tiny_classifier(
        build_tiny_backbone(**backbone_kwargs), preprocessor=preprocessor, activation="softmax"
    )


def max_diff(a, b):
    return float(np.max(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b))))


@pytest.fixture
def images(rng):
    return rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")


@pytest.fixture
def raw_images(rng):
    return rng.integers(0, 256, size=(3, 40, 48, 3)).astype("uint8")


@pytest.mark.parametrize("stem_padding", ["symmetric", "same"])
def test_backbone_round_trip_is_bitwise(tmp_path, images, stem_padding):
    backbone = build_tiny_backbone(stem_padding=stem_padding)
    backbone.save_to_preset(tmp_path / "preset")

    by_path = Backbone.from_preset(tmp_path / "preset")
    by_str = DenseNetBackbone.from_preset(str(tmp_path / "preset"))

    assert type(by_path) is DenseNetBackbone
    assert by_path.stem_padding == by_str.stem_padding == stem_padding
    assert max_diff(backbone(images), by_path(images)) == 0.0
    assert max_diff(backbone(images), by_str(images)) == 0.0


def test_keras_hub_expressible_backbone_is_saved_with_keras_hub_names(tmp_path):
    build_tiny_backbone(stem_padding="same").save_to_preset(tmp_path)

    assert {p.name for p in tmp_path.iterdir()} == KERAS_HUB_FILES
    text = (tmp_path / "config.json").read_text()
    assert text.startswith('{\n    "module": ')  # indent 4, as KerasHub
    config = json.loads(text)
    assert config["module"] == "keras_hub.src.models.densenet.densenet_backbone"
    assert config["registered_name"] == "keras_hub>DenseNetBackbone"
    for key in ("stem_padding", "stem_filters", "data_format"):
        assert key not in config["config"]
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["keras_hub_compatible"] is True
    assert metadata["parameter_count"] == build_tiny_backbone().count_params()


def test_backbone_keras_hub_cannot_express_keeps_our_keys(tmp_path):
    build_tiny_backbone(stem_padding="symmetric").save_to_preset(tmp_path)

    config = json.loads((tmp_path / "config.json").read_text())
    assert config["module"] == "densenet_hub.models.densenet.densenet_backbone"
    assert config["registered_name"] == "densenet_hub>DenseNetBackbone"
    assert config["config"]["stem_padding"] == "symmetric"
    assert "stem_filters" not in config["config"]  # 64, as KerasHub
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["keras_hub_compatible"] is False
    assert metadata["keras_hub_incompatibilities"] == [
        "stem_padding='symmetric' (KerasHub's DenseNetBackbone only does 'same')"
    ]


def test_extra_metadata_is_written_in_the_same_save(tmp_path, images):
    classifier = softmax_classifier()
    extra = {"trained_on": "flowers", "epochs": 3, "source": {"sha256": "ab" * 32}}

    classifier.save_to_preset(tmp_path / "preset", metadata=extra)

    assert [p.name for p in tmp_path.iterdir()] == ["preset"]  # nothing staged is left
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert {key: metadata[key] for key in extra} == extra
    assert metadata["parameter_count"] == classifier.backbone.count_params()
    reloaded = DenseNetImageClassifier.from_preset(tmp_path / "preset")
    assert max_diff(classifier(images), reloaded(images)) == 0.0


@pytest.mark.parametrize(
    "metadata, error, match",
    [
        ({"parameter_count": 1}, ValueError, r"keys \['parameter_count'\] are written by the saver"),
        ({"loss": float("nan")}, TypeError, "only JSON values"),
        ({"data": pathlib.Path("photos")}, TypeError, "only JSON values"),
        (["trained_on"], TypeError, "must be a dict with str keys, got list"),
        ({1: "one"}, TypeError, "must be a dict with str keys"),
    ],
)
def test_bad_metadata_is_refused_and_nothing_is_written(tmp_path, metadata, error, match):
    with pytest.raises(error, match=match):
        build_tiny_backbone().save_to_preset(tmp_path / "preset", metadata=metadata)
    assert list(tmp_path.iterdir()) == []


def test_metadata_needs_a_preset_with_a_metadata_file(tmp_path):
    preprocessor = softmax_classifier().preprocessor

    with pytest.raises(ValueError, match="DenseNetImageClassifierPreprocessor preset has no"):
        preprocessor.save_to_preset(tmp_path / "preset", metadata={"note": "x"})
    assert list(tmp_path.iterdir()) == []


def test_config_without_stem_padding_means_same_and_kwargs_override(tmp_path, images):
    same = build_tiny_backbone(stem_padding="same")
    same.save_to_preset(tmp_path)
    assert "stem_padding" not in json.loads((tmp_path / "config.json").read_text())["config"]

    loaded = Backbone.from_preset(tmp_path)
    overridden = Backbone.from_preset(tmp_path, stem_padding="symmetric")

    assert loaded.stem_padding == "same"
    assert max_diff(same(images), loaded(images)) == 0.0
    assert overridden.stem_padding == "symmetric"
    # Same weights, other padding: at 32x32 "same" pads asymmetrically.
    assert max_diff(same(images), overridden(images)) > 1e-3


def test_kwargs_override_image_shape_and_dtype(tmp_path):
    backbone = build_tiny_backbone()
    backbone.save_to_preset(tmp_path)

    bigger = Backbone.from_preset(tmp_path, image_shape=(64, 64, 3))
    half = Backbone.from_preset(tmp_path, dtype="bfloat16")

    assert bigger.output.shape[1:3] == (8, 8)
    assert max_diff(bigger.get_layer("bn").gamma, backbone.get_layer("bn").gamma) == 0.0
    assert half.dtype_policy.name == "bfloat16"
    assert {keras.backend.standardize_dtype(v.dtype) for v in half.weights} == {"bfloat16"}
    kernel = backbone.get_layer("conv1_conv").kernel
    half_kernel = half.get_layer("conv1_conv").kernel
    assert max_diff(keras.ops.cast(kernel, "bfloat16"), half_kernel) == 0.0


def test_load_weights_false_gives_the_architecture_with_fresh_weights(tmp_path):
    backbone = build_tiny_backbone()
    backbone.save_to_preset(tmp_path)

    fresh = Backbone.from_preset(tmp_path, load_weights=False)

    assert fresh.count_params() == backbone.count_params()
    kernel = backbone.get_layer("conv1_conv").kernel
    assert max_diff(kernel, fresh.get_layer("conv1_conv").kernel) > 0


def test_class_is_inferred_and_checked(tmp_path):
    @keras.saving.register_keras_serializable(package="test_presets_local")
    class OtherBackbone(Backbone):
        pass

    build_tiny_backbone().save_to_preset(tmp_path)

    assert type(Backbone.from_preset(tmp_path)) is DenseNetBackbone
    with pytest.raises(ValueError, match="DenseNetBackbone, which is not a OtherBackbone"):
        OtherBackbone.from_preset(tmp_path)
    with pytest.raises(ValueError, match="no image_converter.json"):
        ImageConverter.from_preset(tmp_path)


def test_classifier_round_trip_with_preprocessor(tmp_path, images, raw_images):
    classifier = softmax_classifier(stem_padding="same")
    classifier.save_to_preset(tmp_path)

    loaded = ImageClassifier.from_preset(tmp_path)

    assert {p.name for p in tmp_path.iterdir()} == TASK_FILES
    task = json.loads((tmp_path / "task.json").read_text())
    assert task["registered_name"] == "keras_hub>DenseNetImageClassifier"
    assert type(loaded) is DenseNetImageClassifier
    assert type(loaded.preprocessor) is DenseNetImageClassifierPreprocessor
    assert type(loaded.preprocessor.image_converter) is DenseNetImageConverter
    assert loaded.activation == "softmax"
    assert max_diff(classifier(images), loaded(images)) == 0.0
    preprocessed = classifier.preprocessor(raw_images)
    assert max_diff(preprocessed, loaded.preprocessor(raw_images)) == 0.0
    assert max_diff(classifier(preprocessed), loaded(preprocessed)) == 0.0


def test_num_classes_gives_a_fresh_head_on_the_pretrained_backbone(
    tiny_classifier, tiny_preset, images
):
    retargeted = DenseNetImageClassifier.from_preset(tiny_preset, num_classes=7)

    assert tiny_classifier.output_dense.kernel.shape == (44, 5)
    assert retargeted.output_dense.kernel.shape == (44, 7)
    assert max_diff(tiny_classifier.backbone(images), retargeted.backbone(images)) == 0.0
    assert retargeted.preprocessor is not None


def test_a_backbone_preset_needs_num_classes_for_a_task(tmp_path, images):
    backbone = build_tiny_backbone()
    backbone.save_to_preset(tmp_path)

    with pytest.raises(ValueError, match="needs num_classes=N"):
        ImageClassifier.from_preset(tmp_path)
    classifier = ImageClassifier.from_preset(tmp_path, num_classes=3, pooling="max")

    assert type(classifier) is DenseNetImageClassifier
    assert classifier.preprocessor is None and classifier.pooling == "max"
    assert max_diff(backbone(images), classifier.backbone(images)) == 0.0


def test_preprocessor_and_converter_round_trip(tmp_path, raw_images):
    preprocessor = softmax_classifier().preprocessor
    preprocessor.save_to_preset(tmp_path)

    assert {p.name for p in tmp_path.iterdir()} == {"preprocessor.json", "image_converter.json"}
    loaded = ImageClassifierPreprocessor.from_preset(tmp_path)
    converter = ImageConverter.from_preset(tmp_path, image_size=(16, 16))

    assert type(loaded) is DenseNetImageClassifierPreprocessor
    assert max_diff(preprocessor(raw_images), loaded(raw_images)) == 0.0
    assert type(converter) is DenseNetImageConverter
    assert tuple(converter(raw_images).shape) == (3, 16, 16, 3)
