"""The backbone's NumPy-side initializers: Keras' distributions, seeded by
`keras.utils.set_random_seed`, and nothing compiled per shape."""

import math

import keras
import numpy as np

from helpers.models import build_tiny_backbone

from densenet_hub.models.host_initializers import HostConstant
from densenet_hub.models.host_initializers import HostGlorotUniform


def test_glorot_uniform_limit_and_spread_match_keras():
    shape = (3, 3, 64, 128)
    ours = keras.ops.convert_to_numpy(HostGlorotUniform()(shape, "float32"))
    theirs = keras.ops.convert_to_numpy(keras.initializers.GlorotUniform(seed=1)(shape))
    limit = math.sqrt(6 / (9 * 64 + 9 * 128))
    assert ours.dtype == np.float32
    assert np.abs(ours).max() <= limit
    assert np.abs(ours).max() > 0.99 * limit
    # Uniform(-a, a) has standard deviation a / sqrt(3); both within 1%.
    assert abs(ours.std() / theirs.std() - 1) < 0.01
    assert abs(ours.std() - limit / math.sqrt(3)) < 0.01 * limit


def test_dense_kernel_fans():
    kernel = keras.ops.convert_to_numpy(HostGlorotUniform()((300, 100), "float32"))
    assert np.abs(kernel).max() <= math.sqrt(6 / 400)


def test_constant_fills_and_round_trips():
    values = keras.ops.convert_to_numpy(HostConstant(1.0)((5,), "float32"))
    np.testing.assert_array_equal(values, np.ones(5, "float32"))
    again = HostConstant.from_config(HostConstant(0.5).get_config())
    assert again.value == 0.5


def test_builds_are_reproducible_under_set_random_seed():
    keras.utils.set_random_seed(7)
    first = [keras.ops.convert_to_numpy(w) for w in build_tiny_backbone().weights]
    keras.utils.set_random_seed(7)
    second = [keras.ops.convert_to_numpy(w) for w in build_tiny_backbone().weights]
    keras.utils.set_random_seed(8)
    third = [keras.ops.convert_to_numpy(w) for w in build_tiny_backbone().weights]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    kernels = [i for i, a in enumerate(first) if a.ndim == 4]
    assert kernels and not any(np.array_equal(first[i], third[i]) for i in kernels)


def test_bfloat16_backbone_gets_bfloat16_variables():
    backbone = build_tiny_backbone(dtype="bfloat16")
    assert {w.dtype for w in backbone.weights} == {"bfloat16"}
