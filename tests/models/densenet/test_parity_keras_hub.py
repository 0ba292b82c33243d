"""Interchange with KerasHub's DenseNetBackbone (keras-hub is a test dependency).

With `stem_padding="same"` our graph is KerasHub's layer for layer, so weight
files load both ways and outputs agree. With the default symmetric padding the
only extra layers are the weightless `conv1_pad` and `pool1_pad`, so KerasHub
files still load.
"""

import keras
import keras_hub
import numpy as np
import pytest
from helpers.weights import forward
from helpers.weights import max_abs_diff
from helpers.weights import random_images
from helpers.weights import randomize_weights

from densenet_hub.models import DenseNetBackbone

TOLERANCE = 1e-5
SMALL = {"stackwise_num_repeats": [2, 2], "growth_rate": 4}
DENSENET_121 = {"stackwise_num_repeats": [6, 12, 24, 16]}
OUR_PADDING_LAYERS = {"conv1_pad", "pool1_pad"}


def keras_hub_backbone(config):
    return keras_hub.models.DenseNetBackbone(image_shape=(None, None, 3), **config)


def layer_names(model, skip=()):
    """(name, class) of every layer but the input, in creation order."""
    return [
        (layer.name, type(layer).__name__)
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and layer.name not in skip
    ]


def assert_same_weights(model, other):
    values, other_values = model.get_weights(), other.get_weights()
    assert len(values) == len(other_values)
    for index, (value, other_value) in enumerate(zip(values, other_values)):
        np.testing.assert_array_equal(value, other_value, err_msg=f"weight {index}")


def copy_through_file(source, target, path):
    """Save `source` with `save_weights`, load the file into `target`."""
    source.save_weights(path)
    target.load_weights(path)
    assert_same_weights(target, source)


@pytest.fixture(scope="module")
def densenet121():
    """KerasHub's DenseNet-121 with random weights and our two variants of it."""
    theirs = keras_hub_backbone(DENSENET_121)
    randomize_weights(theirs, seed=121)
    return {
        "keras_hub": theirs,
        "same": DenseNetBackbone(stem_padding="same", **DENSENET_121),
        "symmetric": DenseNetBackbone(stem_padding="symmetric", **DENSENET_121),
    }


def assert_same_structure(ours, theirs):
    assert layer_names(ours, skip=OUR_PADDING_LAYERS) == layer_names(theirs)
    if ours.stem_padding == "same":
        assert layer_names(ours) == layer_names(theirs)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]


@pytest.mark.parametrize("stem_padding", ["same", "symmetric"])
def test_small_layer_names_order_and_parameter_count_match(stem_padding):
    assert_same_structure(
        DenseNetBackbone(stem_padding=stem_padding, **SMALL), keras_hub_backbone(SMALL)
    )


@pytest.mark.slow
@pytest.mark.parametrize("stem_padding", ["same", "symmetric"])
def test_densenet121_layer_names_order_and_parameter_count_match(
    densenet121, stem_padding
):
    theirs = densenet121["keras_hub"]
    assert_same_structure(densenet121[stem_padding], theirs)
    assert theirs.count_params() == 7_037_504


def test_small_weight_files_interchange_both_ways(tmp_path):
    images = random_images(2, 33, seed=3)

    ours = DenseNetBackbone(stem_padding="same", **SMALL)
    randomize_weights(ours, seed=1)
    theirs = keras_hub_backbone(SMALL)
    copy_through_file(ours, theirs, tmp_path / "ours.weights.h5")
    to_keras_hub = max_abs_diff(forward(theirs, images), forward(ours, images))

    randomize_weights(theirs, seed=2)
    ours_again = DenseNetBackbone(stem_padding="same", **SMALL)
    copy_through_file(theirs, ours_again, tmp_path / "theirs.weights.h5")
    to_ours = max_abs_diff(forward(ours_again, images), forward(theirs, images))

    print(f"small config: ours->KerasHub max |diff| {to_keras_hub:.3g}, "
          f"KerasHub->ours {to_ours:.3g}")
    assert to_keras_hub <= TOLERANCE
    assert to_ours <= TOLERANCE


def test_a_backbone_built_from_arguments_is_keras_hub_s_architecture(tmp_path):
    theirs = keras_hub_backbone(SMALL)
    randomize_weights(theirs, seed=6)
    ours = DenseNetBackbone(**SMALL)
    assert ours.stem_padding == "same"
    copy_through_file(theirs, ours, tmp_path / "theirs.weights.h5")
    # An even size, where the two paddings differ.
    images = random_images(1, 32, seed=7)
    assert max_abs_diff(forward(ours, images), forward(theirs, images)) <= TOLERANCE


@pytest.mark.parametrize("size", [32, 33])
def test_symmetric_model_loads_keras_hub_file(tmp_path, size):
    theirs = keras_hub_backbone(SMALL)
    randomize_weights(theirs, seed=4)
    ours = DenseNetBackbone(stem_padding="symmetric", **SMALL)
    copy_through_file(theirs, ours, tmp_path / "theirs.weights.h5")

    images = random_images(1, size, seed=size)
    diff = max_abs_diff(forward(ours, images), forward(theirs, images))
    print(f"symmetric vs KerasHub at {size}x{size}: max |diff| {diff:.3g}")
    # Only the stem padding differs, and only on even sizes.
    if size % 2:
        assert diff <= TOLERANCE
    else:
        assert diff > 1e-3


@pytest.mark.slow
def test_densenet121_keras_hub_file_gives_keras_hub_outputs(densenet121, tmp_path):
    theirs, ours = densenet121["keras_hub"], densenet121["same"]
    path = tmp_path / "densenet121.weights.h5"
    copy_through_file(theirs, ours, path)
    # The torch-padded model loads the same file: its extra layers hold no weights.
    copy_through_file(theirs, densenet121["symmetric"], path)

    images = random_images(1, 224, seed=5)
    expected = forward(theirs, images)
    diff = max_abs_diff(forward(ours, images), expected)
    print(f"DenseNet-121 at 224x224, stem 'same': max |diff| vs KerasHub {diff:.3g}")
    assert expected.std() > 0.1
    assert diff <= TOLERANCE
