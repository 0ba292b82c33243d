"""Presets travel both ways between KerasHub and densenet_hub, with identical
outputs, including the quirks of KerasHub's published files."""

import json
import os

import keras
import numpy as np
import pytest

from helpers.models import TINY_CONFIG

import keras_hub

from densenet_hub.layers import DenseNetImageConverter  # noqa: E402
from densenet_hub.layers import ImageConverter  # noqa: E402
from densenet_hub.models import Backbone  # noqa: E402
from densenet_hub.models import DenseNetBackbone  # noqa: E402
from densenet_hub.models import DenseNetImageClassifier  # noqa: E402
from densenet_hub.models import DenseNetImageClassifierPreprocessor  # noqa: E402
from densenet_hub.models import ImageClassifier  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CONVERTER = {
    "image_size": (32, 32),
    "scale": [1 / (255 * s) for s in STD],
    "offset": [-m / s for m, s in zip(MEAN, STD)],
    "crop_to_aspect_ratio": True,
}


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def max_diff(a, b):
    return float(np.max(np.abs(numpy(a) - numpy(b))))


def keras_hub_classifier():
    backbone = keras_hub.models.DenseNetBackbone(**TINY_CONFIG)
    converter = keras_hub.layers.DenseNetImageConverter(**CONVERTER)
    preprocessor = keras_hub.models.DenseNetImageClassifierPreprocessor(converter)
    return keras_hub.models.DenseNetImageClassifier(
        backbone, num_classes=4, preprocessor=preprocessor, activation="softmax"
    )


def our_classifier(**backbone_kwargs):
    backbone = DenseNetBackbone(**TINY_CONFIG, **backbone_kwargs)
    converter = DenseNetImageConverter(**CONVERTER)
    preprocessor = DenseNetImageClassifierPreprocessor(converter)
    return DenseNetImageClassifier(
        backbone, num_classes=4, preprocessor=preprocessor, activation="softmax"
    )


def edit_json(path, edit):
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document, indent=4))


@pytest.fixture
def images(rng):
    return rng.uniform(-2, 2, size=(2, 32, 32, 3)).astype("float32")


@pytest.fixture
def raw_images(rng):
    return rng.integers(0, 256, size=(3, 40, 52, 3)).astype("uint8")


def test_keras_hub_backbone_preset_loads_with_identical_outputs(tmp_path, images):
    reference = keras_hub.models.DenseNetBackbone(**TINY_CONFIG)
    reference.save_to_preset(str(tmp_path))

    loaded = Backbone.from_preset(tmp_path)

    assert type(loaded) is DenseNetBackbone
    assert loaded.stem_padding == "same"  # no stem_padding key: KerasHub's
    assert max_diff(reference(images), loaded(images)) == 0.0


def test_keras_hub_classifier_preset_loads_with_identical_outputs(
    tmp_path, images, raw_images
):
    reference = keras_hub_classifier()
    reference.save_to_preset(str(tmp_path))

    loaded = ImageClassifier.from_preset(tmp_path)

    assert type(loaded) is DenseNetImageClassifier
    assert type(loaded.preprocessor) is DenseNetImageClassifierPreprocessor
    preprocessed = reference.preprocessor(raw_images)
    assert max_diff(preprocessed, loaded.preprocessor(raw_images)) == 0.0
    assert max_diff(reference(images), loaded(images)) == 0.0
    assert max_diff(reference(preprocessed), loaded(preprocessed)) == 0.0


@pytest.mark.slow
def test_our_preset_loads_in_keras_hub_with_identical_outputs(tmp_path, images, raw_images):
    # Built from arguments with the defaults: KerasHub's architecture.
    ours = our_classifier()
    ours.save_to_preset(tmp_path)
    assert json.loads((tmp_path / "metadata.json").read_text())["keras_hub_compatible"]

    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path))
    classifier = keras_hub.models.ImageClassifier.from_preset(str(tmp_path))

    assert type(classifier) is keras_hub.models.DenseNetImageClassifier
    assert max_diff(ours.backbone(images), backbone(images)) == 0.0
    preprocessed = ours.preprocessor(raw_images)
    assert max_diff(preprocessed, classifier.preprocessor(raw_images)) == 0.0
    assert max_diff(ours(images), classifier(images)) == 0.0
    assert max_diff(ours(preprocessed), classifier(preprocessed)) == 0.0


def test_a_model_keras_hub_cannot_express_is_saved_but_refused_by_keras_hub(tmp_path):
    our_classifier(stem_padding="symmetric").save_to_preset(tmp_path)

    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["keras_hub_compatible"] is False
    with pytest.raises((ValueError, TypeError)):
        keras_hub.models.Backbone.from_preset(str(tmp_path))
    assert ImageClassifier.from_preset(tmp_path).backbone.stem_padding == "symmetric"


def _without_dtype(document):
    document["config"].pop("dtype")


def _old_converter_keys(config):
    """Rewrites a converter config as older KerasHub versions wrote it."""
    height, width = config.pop("image_size")
    config.update(height=height, width=width)
    scale, offset = config.pop("scale"), config.pop("offset")
    std = [1 / (255 * s) for s in scale]
    config["scale"] = 1 / 255
    config["mean"] = [-o * s for o, s in zip(offset, std)]
    config["variance"] = [s * s for s in std]
    for key in ("antialias", "pad_to_aspect_ratio", "bounding_box_format", "dtype"):
        config.pop(key, None)


def test_keras_hub_published_quirks_load_as_keras_hub_loads_them(tmp_path, images, raw_images):
    """No `dtype` in config.json, converters with `height`/`width` and
    `mean`/`variance` and without `antialias`, `pad_to_aspect_ratio`,
    `bounding_box_format`."""
    keras_hub_classifier().save_to_preset(str(tmp_path))
    edit_json(tmp_path / "config.json", _without_dtype)
    edit_json(tmp_path / "image_converter.json", lambda d: _old_converter_keys(d["config"]))
    edit_json(
        tmp_path / "preprocessor.json",
        lambda d: _old_converter_keys(d["config"]["image_converter"]["config"]),
    )
    edit_json(
        tmp_path / "task.json",
        lambda d: _old_converter_keys(
            d["config"]["preprocessor"]["config"]["image_converter"]["config"]
        ),
    )

    reference = keras_hub.models.ImageClassifier.from_preset(str(tmp_path))
    loaded = ImageClassifier.from_preset(tmp_path)
    reference_converter = keras_hub.layers.ImageConverter.from_preset(str(tmp_path))
    converter = ImageConverter.from_preset(tmp_path)

    assert "dtype" not in json.loads((tmp_path / "config.json").read_text())["config"]
    assert type(converter) is DenseNetImageConverter
    assert max_diff(reference_converter(raw_images), converter(raw_images)) < 1e-6
    preprocessed = reference.preprocessor(raw_images)
    assert max_diff(preprocessed, loaded.preprocessor(raw_images)) < 1e-6
    assert max_diff(reference(images), loaded(images)) == 0.0


def test_published_task_weights_holding_the_whole_model_load(tmp_path, images):
    """KerasHub's 2024 task.weights.h5 files hold the whole model."""
    reference = keras_hub_classifier()
    reference.save_to_preset(str(tmp_path))
    os.remove(tmp_path / "task.weights.h5")
    reference.save_weights(str(tmp_path / "task.weights.h5"))

    loaded = ImageClassifier.from_preset(tmp_path)

    assert max_diff(reference.output_dense.kernel, loaded.output_dense.kernel) == 0.0
    assert max_diff(reference(images), loaded(images)) == 0.0
