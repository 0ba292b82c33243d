"""`AcceleratedModel.save` and `load_accelerated`: the same predictions after
a round trip, and clear errors for missing or damaged files."""

import json

import numpy as np
import pytest

from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier
from helpers.models import build_tiny_preprocessor

from densenet_hub.runtime import accelerate
from densenet_hub.runtime import load_accelerated

RUNTIMES = ("onnxruntime", "openvino")


def raw_images(count, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3)).astype("uint8")


@pytest.fixture(scope="module")
def classifier():
    return build_tiny_classifier(preprocessor=build_tiny_preprocessor(offset=[-0.4, -0.5, -0.6]))


@pytest.fixture(scope="module", params=RUNTIMES)
def int8_model(request, classifier):
    return accelerate(
        classifier, runtime=request.param, precision="int8", calibration=raw_images(80)
    )


def test_int8_round_trip_predicts_the_same(int8_model, tmp_path):
    images = raw_images(6, seed=1)
    before = int8_model.predict(images)
    int8_model.save(tmp_path / "fast")
    loaded = load_accelerated(tmp_path / "fast")
    assert loaded.model is None
    assert (loaded.runtime, loaded.precision) == (int8_model.runtime, "int8")
    assert loaded.quantization == int8_model.quantization
    assert type(loaded.preprocessor) is type(int8_model.preprocessor)
    np.testing.assert_allclose(loaded.predict(images), before, rtol=0, atol=1e-6)
    settings = json.loads((tmp_path / "fast" / "accelerated.json").read_text())
    assert settings["input_shape"] == [None, 32, 32, 3]
    assert settings["output"] == "predictions"
    assert settings["preprocessor"] == "preprocessor"


@pytest.mark.parametrize(
    "runtime, precision", [("onnxruntime", "float32"), ("openvino", "bfloat16")]
)
def test_float_channels_first_backbone_round_trip(runtime, precision, tmp_path):
    backbone = build_tiny_backbone(image_shape=(3, 32, 32), data_format="channels_first")
    fast = accelerate(backbone, runtime=runtime, precision=precision)
    images = np.random.default_rng(0).uniform(size=(2, 3, 32, 32)).astype("float32")
    fast.save(tmp_path / "fast")
    loaded = load_accelerated(tmp_path / "fast")
    assert loaded.preprocessor is None and loaded.quantization is None
    np.testing.assert_allclose(loaded.predict(images), fast.predict(images), rtol=0, atol=1e-6)
    assert loaded.predict(images).shape == backbone.predict(images, verbose=0).shape


def test_openvino_ir_keeps_float32_weights(tiny_backbone, tmp_path):
    fast = accelerate(tiny_backbone, runtime="openvino")
    fast.save(tmp_path / "fast")
    # float16 compression (OpenVINO's default) would change the outputs.
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    expected = tiny_backbone.predict(images, verbose=0)
    assert np.abs(load_accelerated(tmp_path / "fast").predict(images) - expected).max() < 1e-4


def test_save_refuses_a_non_empty_folder_unless_overwrite(tiny_backbone, tmp_path):
    fast = accelerate(tiny_backbone)
    (tmp_path / "fast").mkdir()
    (tmp_path / "fast" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fast.save(tmp_path / "fast")
    fast.save(tmp_path / "fast", overwrite=True)
    written = sorted(path.name for path in (tmp_path / "fast").iterdir())
    assert written == ["accelerated.json", "model.onnx"]


@pytest.fixture
def saved_openvino(tiny_backbone, tmp_path):
    folder = tmp_path / "fast"
    accelerate(tiny_backbone, runtime="openvino").save(folder)
    return folder


@pytest.mark.parametrize("name", ["model.bin", "model.xml", "accelerated.json"])
def test_missing_file_is_named(name, saved_openvino):
    (saved_openvino / name).unlink()
    with pytest.raises(ValueError, match=f"has no {name}"):
        load_accelerated(saved_openvino)


def test_corrupt_model_file_is_named(saved_openvino):
    (saved_openvino / "model.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match=r"could not read model\.xml \+ model\.bin"):
        load_accelerated(saved_openvino)


def test_corrupt_onnx_file_is_named(tiny_backbone, tmp_path):
    accelerate(tiny_backbone).save(tmp_path / "fast")
    (tmp_path / "fast" / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"could not read model\.onnx"):
        load_accelerated(tmp_path / "fast")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"precision": "float8"}, "`precision` must be one of"),
        ({"runtime": "tensorrt"}, "`runtime` must be one of"),
        ({"format_version": 2}, "version 2; this densenet_hub reads"),
        ({"densenet_hub_version": "99.0"}, "newer than this"),
        ({"preprocessor": "../elsewhere"}, "not a plain file name"),
        ({"preprocessor": "gone"}, "preprocessor folder 'gone', which is missing"),
        ({"precision": "int8"}, "must record its `quantization`"),
        ({"quantization": {"method": "x"}}, "`quantization` must be an object with the keys"),
    ],
)
def test_bad_settings_are_named(change, message, saved_openvino):
    path = saved_openvino / "accelerated.json"
    settings = json.loads(path.read_text())
    path.write_text(json.dumps({**settings, **change}))
    with pytest.raises(ValueError, match=message):
        load_accelerated(saved_openvino)


def test_settings_that_are_not_json_are_named(saved_openvino):
    (saved_openvino / "accelerated.json").write_text("{not json")
    with pytest.raises(ValueError, match="accelerated.json is not valid JSON"):
        load_accelerated(saved_openvino)


def test_not_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        load_accelerated(tmp_path / "nothing")
