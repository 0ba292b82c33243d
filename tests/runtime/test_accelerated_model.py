"""`densenet_hub.runtime.accelerate`: the same outputs as Keras' `predict`,
on ONNX Runtime and OpenVINO, with and without a preprocessor."""

import numpy as np
import pytest

from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier
from helpers.models import build_tiny_preprocessor

from densenet_hub.runtime import accelerate

RUNTIMES = ("onnxruntime", "openvino")


def with_random_statistics(model, rng):
    """Non-trivial BatchNorm statistics, so folding them is really tested."""
    for layer in model.backbone.layers if hasattr(model, "backbone") else model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            for variable in (layer.gamma, layer.beta, layer.moving_mean):
                variable.assign(rng.normal(0, 0.5, variable.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
    return model


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_backbone_equals_keras(runtime, rng, tiny_backbone):
    backbone = with_random_statistics(tiny_backbone, rng)
    images = rng.uniform(size=(5, 32, 32, 3)).astype("float32")
    expected = backbone.predict(images, verbose=0)
    fast = accelerate(backbone, runtime=runtime)
    got = fast.predict(images, batch_size=2)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_classifier_runs_its_preprocessor(runtime, rng):
    classifier = with_random_statistics(
        build_tiny_classifier(preprocessor=build_tiny_preprocessor(offset=[-0.4, -0.5, -0.6])), rng
    )
    raw = rng.integers(0, 256, size=(4, 40, 48, 3)).astype("uint8")  # resized on the way
    expected = classifier.predict(raw, verbose=0)
    got = accelerate(classifier, runtime=runtime).predict(raw)
    assert np.abs(got - expected).max() < 1e-4


def test_channels_first_model(rng):
    backbone = build_tiny_backbone(image_shape=(3, 32, 32), data_format="channels_first")
    backbone = with_random_statistics(backbone, rng)
    images = rng.uniform(size=(2, 3, 32, 32)).astype("float32")
    expected = backbone.predict(images, verbose=0)
    got = accelerate(backbone).predict(images)
    assert np.abs(got - expected).max() < 1e-4


def test_bfloat16_is_really_reduced_precision(rng, tiny_backbone):
    backbone = with_random_statistics(tiny_backbone, rng)
    images = rng.uniform(size=(4, 32, 32, 3)).astype("float32")
    expected = backbone.predict(images, verbose=0)
    full = accelerate(backbone, runtime="openvino").predict(images)
    half = accelerate(backbone, runtime="openvino", precision="bfloat16").predict(images)
    scale = np.abs(expected).max()
    assert np.abs(full - expected).max() < 1e-4
    # bfloat16 keeps 8 bits of mantissa: visibly different, still close.
    assert 1e-4 < np.abs(half - expected).max() < 0.1 * scale


def test_onnxruntime_refuses_bfloat16(tiny_backbone):
    with pytest.raises(ValueError, match="runtime='openvino' for bfloat16"):
        accelerate(tiny_backbone, runtime="onnxruntime", precision="bfloat16")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"runtime": "tensorrt"}, "`runtime` must be one of 'onnxruntime', 'openvino'"),
        ({"precision": "float16"}, "`precision` must be one of 'float32', 'bfloat16'"),
        ({"threads": 0}, "`threads` must be a positive int"),
    ],
)
def test_bad_arguments(kwargs, message, tiny_backbone):
    with pytest.raises(ValueError, match=message):
        accelerate(tiny_backbone, **kwargs)


def test_empty_input_is_an_error(tiny_backbone):
    fast = accelerate(tiny_backbone)
    with pytest.raises(ValueError, match="got 0 images"):
        fast.predict(np.zeros((0, 32, 32, 3), "float32"))
