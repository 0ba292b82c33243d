"""`accelerate(..., precision="int8")`: NNCF (OpenVINO) and ONNX Runtime
static quantization of tiny models, calibrated on raw images, checked
against float32 on held-out ones."""

import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier
from helpers.models import build_tiny_preprocessor

from densenet_hub.runtime import QuantizationRefused
from densenet_hub.runtime import accelerate
from densenet_hub.runtime.quantization import images_needed

RUNTIMES = ("onnxruntime", "openvino")
# Images `accelerate` needs with the default held_out=0.2: 16 held out
# (ceil(0.2 * 76)) and 60 left to calibrate.
NEEDED = 76


def with_random_statistics(model, seed=0):
    """Non-trivial BatchNorm statistics and head, so int8 has ranges to fit."""
    rng = np.random.default_rng(seed)
    for layer in model.backbone.layers if hasattr(model, "backbone") else model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            for variable in (layer.gamma, layer.beta, layer.moving_mean):
                variable.assign(rng.normal(0, 0.5, variable.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
    return model


def raw_images(count, seed=0, size=32):
    """Smooth 8-bit images (random gradients plus noise), so the network sees
    structure rather than pure noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size)[None, :, None, None]
    base = rng.uniform(0, 255, (count, 1, 1, 3)) * ramp + rng.uniform(0, 80, (count, 1, 1, 3))
    noise = rng.normal(0, 20, (count, size, size, 3))
    return np.clip(base + noise, 0, 255).astype("uint8")


@pytest.fixture(scope="module")
def classifier():
    return with_random_statistics(build_tiny_classifier(preprocessor=build_tiny_preprocessor()))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_int8_classifier_is_close_to_float32(runtime, classifier):
    calibration = raw_images(100)
    test_images = raw_images(40, seed=1)
    expected = classifier.predict(test_images, verbose=0)
    fast = accelerate(classifier, runtime=runtime, precision="int8", calibration=calibration)
    got = fast.predict(test_images)
    assert got.shape == expected.shape and got.dtype == np.float32
    change = np.abs(got - expected).max()
    # Observed: about 1-3% of the largest logit; int8 really is in use.
    assert 1e-6 < change < 0.1 * np.abs(expected).max()
    assert np.mean(got.argmax(-1) == expected.argmax(-1)) >= 0.9
    report = fast.quantization
    assert fast.precision == "int8" and fast.runtime == runtime
    assert (report.calibration_size, report.held_out_size, report.seed) == (80, 20, 0)
    assert report.measure == "top-1 agreement"
    assert report.min_agreement <= report.agreement <= 1
    assert 0 < report.max_logit_change < 0.1 * np.abs(expected).max()
    assert 0.99 < report.cosine_similarity <= 1
    assert ("nncf" if runtime == "openvino" else "onnxruntime") in report.versions
    assert report.method.endswith(", 80 images")


def test_calibration_size_limits_the_images_measured(classifier):
    fast = accelerate(
        classifier, runtime="onnxruntime", precision="int8", calibration=raw_images(100),
        calibration_size=40, held_out=0.3, seed=7,
    )
    report = fast.quantization
    assert (report.calibration_size, report.held_out_size, report.seed) == (40, 30, 7)


def test_backbone_reports_cosine_similarity_and_guard_refuses():
    backbone = with_random_statistics(build_tiny_backbone())
    images = np.random.default_rng(0).uniform(size=(NEEDED, 32, 32, 3)).astype("float32")
    fast = accelerate(backbone, runtime="onnxruntime", precision="int8", calibration=images)
    report = fast.quantization
    assert report.measure == "smallest cosine similarity"
    assert report.agreement == report.cosine_similarity
    assert 0.99 < report.agreement < 1  # int8 is close, never exact
    # A threshold above what int8 reaches is refused, with the numbers.
    refusal = r"cosine similarity with float32 on 16 held-out"
    with pytest.raises(QuantizationRefused, match=refusal) as refused:
        accelerate(
            backbone, runtime="onnxruntime", precision="int8", calibration=images,
            min_agreement=1.0,
        )
    assert f"{report.agreement:.4f}" in str(refused.value)
    assert "bfloat16" in str(refused.value) and "more" in str(refused.value)
    assert isinstance(refused.value, ValueError)


def test_calibration_from_a_folder_of_files(classifier, tmp_path):
    for index, image in enumerate(raw_images(NEEDED, size=40)):  # resized by the preprocessor
        PIL.Image.fromarray(image).save(tmp_path / f"{index:03d}.png")
    fast = accelerate(classifier, runtime="onnxruntime", precision="int8", calibration=tmp_path)
    assert (fast.quantization.calibration_size, fast.quantization.held_out_size) == (60, 16)
    with pytest.raises(ValueError, match="has no preprocessor"):
        accelerate(
            build_tiny_backbone(), runtime="onnxruntime", precision="int8", calibration=tmp_path
        )


def test_calibration_as_a_list_of_images_of_different_sizes(classifier):
    images = [raw_images(1, seed=index, size=32 + index % 9)[0] for index in range(NEEDED)]
    fast = accelerate(classifier, runtime="onnxruntime", precision="int8", calibration=images)
    assert fast.quantization.calibration_size == 60


def test_images_needed():
    assert images_needed(0.2) == NEEDED
    assert images_needed(0.5) == 32 + 32
    assert images_needed(0.1) == 151  # ceil(15.1) = 16 held out, 135 left
    assert images_needed(0.9) == 320  # 288 held out, 32 left; 319 leaves 31


def test_missing_calibration_says_how_many(tiny_backbone):
    with pytest.raises(ValueError, match=f"needs `calibration`.*at least {NEEDED}"):
        accelerate(tiny_backbone, precision="int8")


@pytest.mark.parametrize("count", [0, NEEDED - 1])
def test_too_few_images_give_both_counts(count, tiny_backbone):
    images = np.zeros((count, 32, 32, 3), "float32")
    with pytest.raises(ValueError, match=f"at least {NEEDED} calibration images.*got {count}"):
        accelerate(tiny_backbone, runtime="onnxruntime", precision="int8", calibration=images)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"held_out": 0}, "`held_out` must satisfy 0 < held_out < 1"),
        ({"held_out": 1.0}, "`held_out` must satisfy"),
        ({"min_agreement": 1.5}, "`min_agreement` must satisfy 0 <= min_agreement <= 1"),
        ({"calibration_size": 10}, "`calibration_size` must be an int of at least 32, got 10"),
        ({"seed": -1}, "`seed` must be a non-negative int"),
        ({"calibration": np.zeros((3, 32, 32), "float32")}, "4-D array"),
    ],
)
def test_bad_quantization_arguments(kwargs, message, tiny_backbone):
    kwargs = {"calibration": np.zeros((NEEDED, 32, 32, 3), "float32"), **kwargs}
    with pytest.raises(ValueError, match=message):
        accelerate(tiny_backbone, runtime="onnxruntime", precision="int8", **kwargs)


def test_calibration_is_for_int8_only(tiny_backbone):
    with pytest.raises(ValueError, match="`calibration` is for precision='int8' only"):
        accelerate(tiny_backbone, calibration=np.zeros((NEEDED, 32, 32, 3), "float32"))


def test_int8_defaults_to_openvino(classifier):
    fast = accelerate(classifier, precision="int8", calibration=raw_images(NEEDED))
    assert fast.runtime == "openvino"
    assert fast.quantization.method.startswith("nncf.quantize")


CTRL_C_AFTER_INT8 = """
import gc, os, signal, time
import numpy as np
import densenet_hub
backbone = densenet_hub.models.DenseNetBackbone(
    stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
)
images = np.random.default_rng(0).uniform(size=(80, 32, 32, 3)).astype("float32")
fast = densenet_hub.runtime.accelerate(
    backbone, runtime="openvino", precision="int8", calibration=images, min_agreement=0.0
)
fast.predict(images[:3])
del fast  # frees OpenVINO's inference requests
gc.collect()
signal.signal(signal.SIGINT, signal.default_int_handler)
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


@pytest.mark.slow
def test_ctrl_c_after_openvino_int8_raises_keyboard_interrupt():
    """OpenVINO's int8 inference left the thread a freed alternate signal
    stack, and the next Ctrl-C crashed Python with a segmentation fault."""
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_AFTER_INT8],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "KeyboardInterrupt" in done.stdout
