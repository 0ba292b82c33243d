"""Sharded backbone weights (`save_to_preset(..., max_shard_size=...)`):
KerasHub's layout, written atomically, read by us and by the installed
keras_hub, and KerasHub's own shards read by us."""

import json

import keras
import keras_hub
import numpy as np
import pytest

from helpers.models import TINY_CONFIG
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier

from densenet_hub.models import Backbone
from densenet_hub.models import ImageClassifier

# The tiny backbone holds about 76 KB of variables: 0.00004 GB (43 KB) per
# shard gives two shards, and no variable is larger than that.
SMALL_SHARD_GB = 0.00004
SHARD_FILES = ["model_00000.weights.h5", "model_00001.weights.h5"]


def outputs(model, images):
    return keras.ops.convert_to_numpy(model(images))


@pytest.fixture
def images(rng):
    return rng.uniform(size=(2, 32, 32, 3)).astype("float32")


def test_a_backbone_over_max_shard_size_is_written_as_keras_hub_shards(tmp_path, images):
    backbone = build_tiny_backbone(stem_padding="same")
    folder = tmp_path / "sharded"

    backbone.save_to_preset(str(folder), max_shard_size=SMALL_SHARD_GB)

    names = sorted(path.name for path in folder.iterdir())
    assert "model.weights.h5" not in names
    assert [name for name in names if name.startswith("model_")] == SHARD_FILES
    shard_map = json.loads((folder / "model.weights.json").read_text())
    assert shard_map["weight_map"]["/layers/conv2d/vars"] == "model_00000.weights.h5"
    assert shard_map["weight_map"]["/layers/batch_normalization/vars"] == [
        "model_00000.weights.h5"
    ]
    restored = Backbone.from_preset(str(folder))
    np.testing.assert_array_equal(outputs(restored, images), outputs(backbone, images))


def test_keras_hub_loads_our_shards_with_identical_outputs(tmp_path, images):
    backbone = build_tiny_backbone(stem_padding="same")
    backbone.save_to_preset(str(tmp_path / "p"), max_shard_size=SMALL_SHARD_GB)

    theirs = keras_hub.models.Backbone.from_preset(str(tmp_path / "p"))

    np.testing.assert_array_equal(outputs(theirs, images), outputs(backbone, images))


def test_we_load_keras_hub_shards_with_identical_outputs(tmp_path, images):
    theirs = keras_hub.models.DenseNetBackbone(**TINY_CONFIG)
    theirs.save_to_preset(str(tmp_path / "p"), max_shard_size=SMALL_SHARD_GB)
    assert (tmp_path / "p" / "model_00001.weights.h5").exists()

    ours = Backbone.from_preset(str(tmp_path / "p"))

    np.testing.assert_array_equal(outputs(ours, images), outputs(theirs, images))


def test_a_task_preset_shards_its_backbone_only(tmp_path, images):
    classifier = build_tiny_classifier(build_tiny_backbone(stem_padding="same"))
    classifier.save_to_preset(str(tmp_path / "p"), max_shard_size=SMALL_SHARD_GB)

    assert (tmp_path / "p" / "task.weights.h5").exists()
    assert (tmp_path / "p" / "model.weights.json").exists()
    for restored in (
        ImageClassifier.from_preset(str(tmp_path / "p")),
        keras_hub.models.ImageClassifier.from_preset(str(tmp_path / "p")),
    ):
        np.testing.assert_array_equal(outputs(restored, images), outputs(classifier, images))


@pytest.mark.parametrize("max_shard_size", [10, None])
def test_default_and_none_write_one_weights_file(tiny_backbone, tmp_path, max_shard_size):
    tiny_backbone.save_to_preset(str(tmp_path / "p"), max_shard_size=max_shard_size)

    assert (tmp_path / "p" / "model.weights.h5").exists()
    assert not (tmp_path / "p" / "model.weights.json").exists()


@pytest.mark.parametrize("max_shard_size", [0, -1, "1", True])
def test_max_shard_size_must_be_a_positive_number(tiny_backbone, tmp_path, max_shard_size):
    with pytest.raises(ValueError, match="`max_shard_size` must be a positive number"):
        tiny_backbone.save_to_preset(str(tmp_path / "p"), max_shard_size=max_shard_size)
    assert not (tmp_path / "p").exists()


def test_a_variable_larger_than_a_shard_is_refused_and_nothing_is_written(
    tiny_backbone, tmp_path
):
    with pytest.raises(ValueError, match="cannot be split across files"):
        tiny_backbone.save_to_preset(str(tmp_path / "p"), max_shard_size=0.00001)
    assert list(tmp_path.iterdir()) == []
