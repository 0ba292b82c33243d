"""`densenet_hub.runtime.export_model`: float32 as `densenet_hub.export`
writes it, int8 as `accelerate(precision="int8")` quantizes it, with the
normalisation inside the graph when the export includes preprocessing."""

import numpy as np
import onnx
import onnxruntime
import onnxruntime.quantization  # noqa: F401
import pytest

from densenet_hub.runtime import TooFewCalibrationImages
from densenet_hub.runtime import accelerate
from densenet_hub.runtime import export_model
from densenet_hub.runtime.quantization import DEFAULT_HELD_OUT
from densenet_hub.runtime.quantization import calibration_images
from helpers.models import build_tiny_classifier
from helpers.weights import randomize_weights


@pytest.fixture(scope="module")
def classifier():
    classifier = build_tiny_classifier(num_classes=4)
    randomize_weights(classifier.backbone, seed=0)
    return classifier


def raw_images(count, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 32, 32, 3)).astype("float32")


def run_onnx(path, pixels):
    session = onnxruntime.InferenceSession(str(path))
    return session.run(None, {session.get_inputs()[0].name: pixels})[0]


def test_include_preprocessing_puts_the_rescaling_in_the_graph(classifier):
    images = raw_images(4, seed=1)
    inside = accelerate(classifier, include_preprocessing=True)
    assert inside.preprocessor.image_converter.scale is None  # Keras only resizes
    expected = classifier.predict(images, verbose=0)
    np.testing.assert_allclose(inside.predict(images), expected, atol=1e-4)
    np.testing.assert_allclose(inside.network_input(images), images)


def test_int8_onnx_export_takes_raw_pixels_and_reports(classifier, tmp_path):
    exported = export_model(
        classifier, tmp_path / "int8.onnx", precision="int8",
        calibration=raw_images(80, seed=2), min_agreement=0,
    )  # fmt: skip
    assert exported.path == tmp_path / "int8.onnx" and exported.precision == "int8"
    report = exported.quantization
    assert (report.calibration_size, report.held_out_size) == (64, 16)
    assert report.method.startswith("onnxruntime.quantization.quantize_static")
    graph = onnx.load(str(exported.path)).graph
    assert "QuantizeLinear" in {node.op_type for node in graph.node}
    images = raw_images(8, seed=3)
    expected = classifier.predict(images, verbose=0)
    got = run_onnx(exported.path, images)
    # Raw pixels in: int8 stays close to float32 (normalised input would not).
    assert 0 < np.abs(got - expected).max()
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.95


def test_float32_is_the_export_packages_own(classifier, tmp_path):
    exported = export_model(classifier, tmp_path / "f32.onnx")
    assert (exported.precision, exported.quantization) == ("float32", None)
    images = raw_images(3, seed=4)
    np.testing.assert_allclose(
        run_onnx(exported.path, images), classifier.predict(images, verbose=0), atol=1e-4
    )


def test_bad_int8_requests_write_nothing(classifier, tmp_path):
    images = raw_images(80, seed=5)
    with pytest.raises(ValueError, match="'onnx' or 'openvino'"):
        export_model(classifier, tmp_path / "m", format="saved_model", precision="int8",
                     calibration=images)  # fmt: skip
    with pytest.raises(ValueError, match="`calibration` is for precision='int8' only"):
        export_model(classifier, tmp_path / "m.onnx", calibration=images)
    with pytest.raises(ValueError, match="ends with '.onnx'"):
        export_model(classifier, tmp_path / "m.onn", precision="int8", calibration=images)
    with pytest.raises(TooFewCalibrationImages, match="at least 76 calibration images.*got 20"):
        export_model(classifier, tmp_path / "m.onnx", precision="int8", calibration=images[:20])
    assert list(tmp_path.iterdir()) == []


def test_too_few_calibration_images_carry_the_numbers(tmp_path):
    with pytest.raises(TooFewCalibrationImages) as raised:
        calibration_images(raw_images(30, seed=6), held_out=0.5)
    assert (raised.value.needed, raised.value.found, raised.value.held_out) == (64, 30, 0.5)
    assert isinstance(raised.value, ValueError)
    images, from_files = calibration_images(raw_images(76, seed=7))
    assert len(images) == 76 and not from_files and DEFAULT_HELD_OUT == 0.2
