"""Numerical parity with `keras.applications` DenseNet-121/169/201.

keras.applications pads the stem symmetrically, like the torch models the
public weights come from, so our default `stem_padding="symmetric"` must
match it exactly at every input size. Weights travel through a
`.weights.h5` file, which Keras loads positionally by layer class and order.
"""

from types import SimpleNamespace

import keras
import numpy as np
import pytest
from helpers.weights import forward
from helpers.weights import max_abs_diff
from helpers.weights import random_images
from helpers.weights import randomize_weights

from densenet_hub.models import DenseNetBackbone

# Every test here builds full-size DenseNet-121/169/201 models.
pytestmark = pytest.mark.slow

TOLERANCE = 1e-5
APPLICATIONS = {
    121: (keras.applications.DenseNet121, [6, 12, 24, 16]),
    169: (keras.applications.DenseNet169, [6, 12, 32, 32]),
    201: (keras.applications.DenseNet201, [6, 12, 48, 32]),
}
EVEN_SIZE = 224
ODD_SIZE = 193


def applications_layer_name(name):
    """The keras.applications name of our layer `name`.

    keras.applications numbers dense blocks from 2 (`conv2` ... `conv5`),
    calls its conv-block layers `_0_bn`, `_1_conv`, `_1_bn`, `_2_conv`, and
    its transitions `pool{s+1}`; the stem and the final `bn` share our names.
    """
    if name.startswith("stack"):
        stack, block, step, kind = name.split("_")
        stack_number = int(stack[len("stack") :]) + 1
        step = {("1", "bn"): "0", ("2", "bn"): "1"}.get((step, kind), step)
        return f"conv{stack_number}_{block}_{step}_{kind}"
    if name.startswith("transition"):
        stack, kind = name.split("_")
        return f"pool{int(stack[len('transition') :]) + 1}_{kind}"
    return name


@pytest.fixture(
    scope="module", params=sorted(APPLICATIONS), ids=lambda depth: f"densenet{depth}"
)
def reference(request, tmp_path_factory):
    """keras.applications DenseNet with random weights, saved to a weights file."""
    depth = request.param
    application, repeats = APPLICATIONS[depth]
    model = application(weights=None, include_top=False, input_shape=(None, None, 3))
    randomize_weights(model, seed=depth)
    path = tmp_path_factory.mktemp(f"densenet{depth}") / "model.weights.h5"
    model.save_weights(path)
    return SimpleNamespace(
        depth=depth, repeats=repeats, model=model, weights_path=path, outputs={}
    )


def reference_output(reference, size):
    """The reference's output on `sample_images(size)`, computed once per model
    because a forward pass compiles the whole graph under JAX."""
    if size not in reference.outputs:
        reference.outputs[size] = forward(reference.model, sample_images(size))
    return reference.outputs[size]


def sample_images(size):
    return random_images(1, size, seed=size)


def load_ours(reference, stem_padding):
    model = DenseNetBackbone(
        stackwise_num_repeats=reference.repeats, stem_padding=stem_padding
    )
    model.load_weights(reference.weights_path)
    return model


@pytest.fixture(scope="module")
def ours(reference):
    """Our default (symmetric padding) model holding the reference's weights."""
    return load_ours(reference, "symmetric")


def test_positional_load_puts_each_tensor_in_the_matching_layer(reference, ours):
    checked = 0
    for layer in ours.layers:
        if not layer.weights:
            continue
        twin = reference.model.get_layer(applications_layer_name(layer.name))
        assert type(twin) is type(layer)
        for variable, ours_value, twin_value in zip(
            layer.weights, layer.get_weights(), twin.get_weights(), strict=True
        ):
            np.testing.assert_array_equal(
                ours_value, twin_value, err_msg=f"{layer.name} / {variable.name}"
            )
            checked += 1
    assert checked == len(reference.model.weights)


@pytest.mark.parametrize("size", [EVEN_SIZE, ODD_SIZE])
def test_outputs_match_keras_applications(reference, ours, size):
    expected = reference_output(reference, size)
    diff = max_abs_diff(forward(ours, sample_images(size)), expected)
    print(
        f"DenseNet-{reference.depth} at {size}x{size}: "
        f"max |diff| vs keras.applications {diff:.3g}"
    )
    # Random weights that produced a constant map would make the check void.
    assert expected.std() > 0.1
    assert diff <= TOLERANCE


@pytest.fixture(scope="module")
def ours_same_padding(reference):
    return load_ours(reference, "same")


# Only DenseNet-121: the padding lives in the stem, which all depths share.
@pytest.mark.parametrize("reference", [121], indirect=True, ids=["densenet121"])
@pytest.mark.parametrize(
    "size, differs", [(EVEN_SIZE, True), (ODD_SIZE, False)], ids=["even", "odd"]
)
def test_same_padding_differs_only_at_even_size(
    reference, ours_same_padding, size, differs
):
    expected = reference_output(reference, size)
    diff = max_abs_diff(forward(ours_same_padding, sample_images(size)), expected)
    print(
        f"stem_padding='same' at {size}x{size}: "
        f"max |diff| vs keras.applications {diff:.3g}"
    )
    if differs:
        # At 224 "same" pads (2, 3) then (0, 1); keras.applications (3, 3), (1, 1).
        assert diff > 1e-3
    else:
        assert diff <= TOLERANCE
