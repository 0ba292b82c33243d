"""DenseNetBackbone: config, saving, pyramid, formats, dtypes, sizes, errors."""

import json

import keras
import numpy as np
import pytest
from helpers.weights import forward
from helpers.weights import max_abs_diff
from helpers.weights import random_images
from helpers.weights import randomize_weights

from densenet_hub.models import DenseNetBackbone

TINY = {"stackwise_num_repeats": [2, 2], "growth_rate": 4, "stem_filters": 16}
# Relative error of bfloat16 (8 significant bits) is 2**-8 per rounding; a few
# dozen layers stay well inside 3% of the output range.
BFLOAT16_RELATIVE_TOLERANCE = 0.03


def build_unfilled(**kwargs):
    """A backbone whose variables have shapes but no values.

    Enough for parameter counts and static shapes, and it skips the random
    initialisation, which under JAX compiles one program per kernel shape
    (about a minute for DenseNet-201 on two CPU cores). `clear_session`, run
    after every test, forgets the pending initialisations.
    """
    with keras.StatelessScope(initialize_variables=False):
        return DenseNetBackbone(**kwargs)


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def batch_norm_channels(repeats, growth_rate, stem_filters, compression=0.5):
    """Total BatchNorm width of a DenseNet, from the architecture alone."""
    channels = total = stem_filters  # conv1_bn
    for stack, num_repeats in enumerate(repeats, start=1):
        for _ in range(num_repeats):
            total += channels + 4 * growth_rate  # _1_bn and _2_bn
            channels += growth_rate
        if stack < len(repeats):
            total += channels  # transition bn
            channels = int(channels * compression)
    return total + channels  # final bn


# === Config and saving ===


def test_config_round_trip_rebuilds_the_same_model():
    model = DenseNetBackbone(
        stackwise_num_repeats=[2, 3],
        growth_rate=4,
        compression_ratio=0.75,
        stem_filters=8,
        stem_padding="same",
        name="custom",
    )
    randomize_weights(model, seed=0)
    config = model.get_config()
    # Through JSON, as a preset file stores it (tuples come back as lists).
    restored = DenseNetBackbone.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    restored.set_weights(model.get_weights())

    images = random_images(2, 34)
    np.testing.assert_array_equal(forward(restored, images), forward(model, images))


def test_config_is_a_copy_of_the_model_state():
    model = DenseNetBackbone(**TINY)
    model.get_config()["stackwise_num_repeats"].append(5)
    assert model.get_config()["stackwise_num_repeats"] == [2, 2]


def test_keras_file_round_trip_gives_identical_outputs(tmp_path):
    model = DenseNetBackbone(**TINY)
    randomize_weights(model, seed=1)
    path = tmp_path / "backbone.keras"
    model.save(path)
    restored = keras.saving.load_model(path)

    assert type(restored) is DenseNetBackbone
    assert restored.get_config() == model.get_config()
    assert sorted(restored.pyramid_outputs) == ["P2", "P3"]
    images = random_images(2, 32)
    np.testing.assert_array_equal(forward(restored, images), forward(model, images))


# === Feature pyramid and sizes ===


@pytest.mark.parametrize(
    "repeats, expected",
    [
        ([2], {"P2": (8, 8, 24)}),
        ([2, 2, 2], {"P2": (8, 8, 24), "P3": (4, 4, 20), "P4": (2, 2, 18)}),
    ],
    ids=["1-stage", "3-stage"],
)
def test_pyramid_outputs_are_the_dense_block_outputs(repeats, expected):
    model = DenseNetBackbone(
        stackwise_num_repeats=repeats,
        growth_rate=4,
        stem_filters=16,
        image_shape=(32, 32, 3),
    )
    pyramid = model.pyramid_outputs
    assert list(pyramid) == list(expected)
    assert {k: tuple(v.shape[1:]) for k, v in pyramid.items()} == expected
    for stack, (level, tensor) in enumerate(pyramid.items(), start=1):
        last_block = f"stack{stack}_block{repeats[stack - 1]}_concat"
        assert tensor is model.get_layer(last_block).output

    extractor = keras.Model(model.inputs, pyramid)
    features = extractor.predict(random_images(1, 32), verbose=0)
    assert {k: v.shape[1:] for k, v in features.items()} == expected


@pytest.fixture(scope="module")
def densenet121_224():
    return build_unfilled(
        stackwise_num_repeats=[6, 12, 24, 16], image_shape=(224, 224, 3)
    )


@pytest.mark.slow
def test_densenet121_pyramid_shapes_at_224(densenet121_224):
    shapes = {k: tuple(v.shape[1:]) for k, v in densenet121_224.pyramid_outputs.items()}
    assert shapes == {
        "P2": (56, 56, 256),
        "P3": (28, 28, 512),
        "P4": (14, 14, 1024),
        "P5": (7, 7, 1024),
    }
    assert tuple(densenet121_224.output.shape[1:]) == (7, 7, 1024)


@pytest.mark.parametrize(
    "repeats, smallest", [([2, 2], 5), ([1, 1, 1, 1], 29)], ids=["2-stage", "4-stage"]
)
@pytest.mark.parametrize("stem_padding", ["symmetric", "same"])
def test_smallest_static_size_builds_and_one_less_is_rejected(
    repeats, smallest, stem_padding
):
    common = {
        "stackwise_num_repeats": repeats,
        "growth_rate": 4,
        "stem_padding": stem_padding,
    }
    model = DenseNetBackbone(image_shape=(smallest, smallest, 3), **common)
    features = forward(model, random_images(1, smallest))
    assert features.shape[1:3] == (1, 1)

    too_small = smallest - 1
    with pytest.raises(ValueError) as error:
        DenseNetBackbone(image_shape=(too_small, smallest, 3), **common)
    message = str(error.value)
    assert "image_shape" in message
    assert f"{too_small}" in message and f"at least {smallest}" in message


# === Parameter counts ===


@pytest.mark.slow
@pytest.mark.parametrize(
    "repeats, expected",
    [([6, 12, 32, 32], 12_642_880), ([6, 12, 48, 32], 18_321_984)],
    ids=["densenet169", "densenet201"],
)
def test_parameter_counts_match_keras_hub_presets(repeats, expected):
    assert build_unfilled(stackwise_num_repeats=repeats).count_params() == expected


@pytest.mark.slow
def test_densenet121_parameter_counts(densenet121_224):
    # 6,953,856 trainable: torchvision's 7,978,856 minus its 1024x1000 head.
    assert densenet121_224.count_params() == 7_037_504
    assert trainable_count(densenet121_224) == 7_978_856 - (1024 * 1000 + 1000)
    assert batch_norm_channels([6, 12, 24, 16], 32, 64) * 2 == 83_648


@pytest.mark.slow
def test_densenet161_matches_torchvision_feature_count():
    repeats = [6, 12, 36, 24]
    model = build_unfilled(
        stackwise_num_repeats=repeats, growth_rate=48, stem_filters=96
    )
    # torchvision densenet161: 28,681,000 parameters with a 2208 -> 1000 head;
    # its BatchNorm moving statistics are buffers, not parameters.
    torchvision_features = 28_681_000 - (2208 * 1000 + 1000)
    moving_statistics = 2 * batch_norm_channels(repeats, 48, 96)
    assert tuple(model.output.shape[1:]) == (None, None, 2208)
    assert trainable_count(model) == torchvision_features == 26_472_000
    assert model.count_params() == torchvision_features + moving_statistics


# === Data format and dtype ===


def test_channels_first_with_default_image_shape_matches_channels_last():
    channels_last = DenseNetBackbone(**TINY, data_format="channels_last")
    channels_first = DenseNetBackbone(**TINY, data_format="channels_first")
    assert channels_first.input_shape == (None, 3, None, None)
    assert tuple(channels_first.pyramid_outputs["P2"].shape[1:2]) == (24,)

    randomize_weights(channels_last, seed=2)
    channels_first.set_weights(channels_last.get_weights())
    images = random_images(2, 32)
    expected = forward(channels_last, images)
    actual = forward(channels_first, np.transpose(images, (0, 3, 1, 2)))
    diff = max_abs_diff(np.transpose(actual, (0, 2, 3, 1)), expected)
    print(f"channels_first vs channels_last: max |diff| {diff:.3g}")
    assert diff <= 1e-5


@pytest.mark.parametrize(
    "policy, variable_dtype", [("bfloat16", "bfloat16"), ("mixed_bfloat16", "float32")]
)
def test_bfloat16_policies_reach_every_layer(policy, variable_dtype):
    reference = DenseNetBackbone(**TINY)
    randomize_weights(reference, seed=3)
    model = DenseNetBackbone(**TINY, dtype=policy)

    assert model.dtype_policy.name == policy
    assert DenseNetBackbone.from_config(model.get_config()).dtype_policy.name == policy
    computing = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    assert {l.compute_dtype for l in computing} == {"bfloat16"}
    assert {w.dtype for w in model.weights} == {variable_dtype}

    model.set_weights(reference.get_weights())
    images = random_images(2, 32)
    output = model.predict(images, verbose=0)
    assert model.output.dtype == output.dtype == "bfloat16"
    expected = forward(reference, images)
    diff = max_abs_diff(output.astype("float32"), expected)
    scale = float(np.max(np.abs(expected)))
    print(f"{policy} vs float32: max |diff| {diff:.3g} on outputs up to {scale:.3g}")
    assert diff <= BFLOAT16_RELATIVE_TOLERANCE * scale


# === Invalid arguments ===


@pytest.mark.parametrize(
    "kwargs, argument, shown",
    [
        ({"stackwise_num_repeats": []}, "stackwise_num_repeats", "[]"),
        ({"stackwise_num_repeats": [2, 0]}, "stackwise_num_repeats", "[2, 0]"),
        ({"stackwise_num_repeats": [2, -1]}, "stackwise_num_repeats", "[2, -1]"),
        ({"stackwise_num_repeats": [2, 2.0]}, "stackwise_num_repeats", "[2, 2.0]"),
        ({"stackwise_num_repeats": 4}, "stackwise_num_repeats", "4"),
        ({"stackwise_num_repeats": "22"}, "stackwise_num_repeats", "'22'"),
        ({"growth_rate": 0}, "growth_rate", "0"),
        ({"growth_rate": -4}, "growth_rate", "-4"),
        ({"stem_filters": 0}, "stem_filters", "0"),
        ({"compression_ratio": 0}, "compression_ratio", "0"),
        ({"compression_ratio": -0.5}, "compression_ratio", "-0.5"),
        ({"compression_ratio": 1.5}, "compression_ratio", "1.5"),
        ({"image_shape": (32, 32)}, "image_shape", "(32, 32)"),
        ({"image_shape": (1, 32, 32, 3)}, "image_shape", "(1, 32, 32, 3)"),
        ({"image_shape": (32, 32, 0)}, "image_shape", "(32, 32, 0)"),
        ({"stem_padding": "valid"}, "stem_padding", "'valid'"),
        ({"data_format": "NHWC"}, "data_format", "'NHWC'"),
        ({"input_shape": (32, 32, 3)}, "input_shape", "input_shape"),
        ({"growth": 4}, "growth", "growth"),
    ],
    ids=lambda value: None if isinstance(value, dict) else str(value),
)
def test_invalid_arguments_name_the_argument_and_value(kwargs, argument, shown):
    arguments = {"stackwise_num_repeats": [2, 2], **kwargs}
    with pytest.raises(ValueError) as error:
        DenseNetBackbone(**arguments)
    message = str(error.value)
    print(message)
    assert f"`{argument}`" in message
    assert shown in message


def test_compression_ratio_one_keeps_every_channel():
    model = DenseNetBackbone(**TINY, compression_ratio=1.0)
    assert model.get_layer("transition1_conv").filters == 16 + 2 * 4
