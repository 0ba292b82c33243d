"""`densenet-hub quantize`, `predict` on its folder and `export --precision
int8`: tiny presets quantized on a folder of real PNG files, compared with
the float32 Keras model, and the accuracy guard's and the options' errors."""

import json
import shutil

import numpy as np
import onnx
import onnxruntime
import PIL.Image
import pytest

from densenet_hub.training.classifier import save_classifier
from densenet_hub.cli.main import main
from densenet_hub.base.openvino import import_openvino
from densenet_hub.models import ImageClassifier
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.base.openvino import signal_stack_kept
from helpers.cli import error_line
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier
from helpers.models import build_tiny_preprocessor
from helpers.weights import randomize_weights

CLASSES = ["ant", "bee", "cat", "dog", "eel"]
FINDINGS = ["Edema", "Effusion", "Mass"]
THRESHOLDS = [0.31, 0.52, 0.47]
# 80 images: 16 held out (with --held-out 0.2), 64 to calibrate.
CALIBRATION_IMAGES = 80


def smooth_images(count, seed, size=32):
    """8-bit images of random gradients plus noise: structure for the
    network, unlike pure noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size)[None, :, None, None]
    base = rng.uniform(0, 255, (count, 1, 1, 3)) * ramp + rng.uniform(0, 80, (count, 1, 1, 3))
    noise = rng.normal(0, 20, (count, size, size, 3))
    return np.clip(base + noise, 0, 255).astype("uint8")


def write_pngs(folder, images):
    folder.mkdir(parents=True)
    for index, image in enumerate(images):
        PIL.Image.fromarray(image).save(folder / f"{index:03d}.png")
    return folder


def tiny_classifier(seed, head_seed, head_scale, bias, **kwargs):
    """A tiny classifier whose weights all come from numpy, so that every
    backend computes the same outputs. Random tiny models put (nearly) every
    image in one class; the seeds and bias here make that top class win by
    a margin far above int8's changes (no near-ties to flip)."""
    backbone = build_tiny_backbone()
    randomize_weights(backbone, seed=seed)
    classifier = build_tiny_classifier(
        backbone, preprocessor=build_tiny_preprocessor(), num_classes=len(bias), **kwargs
    )
    head = classifier.get_layer("predictions")
    scale = head_scale / np.sqrt(head.kernel.shape[0])
    rng = np.random.default_rng(head_seed)
    head.kernel.assign(rng.normal(0, scale, head.kernel.shape).astype("float32"))
    head.bias.assign(np.asarray(bias, "float32"))
    return classifier


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The calibration folder, test images, a single-label preset (logits
    head, class names) and a multi-label one (sigmoid head, thresholds)."""
    root = tmp_path_factory.mktemp("int8")
    save_classifier(
        tiny_classifier(seed=1, head_seed=2, head_scale=4, bias=[0] * len(CLASSES)),
        ClassLabels(CLASSES),
        root / "preset",
    )
    save_classifier(
        tiny_classifier(seed=2, head_seed=0, head_scale=1, bias=[1.5, 0, -1.5],
                        activation="sigmoid"),  # fmt: skip
        ClassLabels(FINDINGS, thresholds=THRESHOLDS, threshold_rule="fixed for the test"),
        root / "multi",
    )
    return {
        "root": root,
        "calibration": write_pngs(root / "calibration", smooth_images(CALIBRATION_IMAGES, 0)),
        "images": write_pngs(root / "images", smooth_images(12, seed=1)),
        "preset": root / "preset",
        "multi": root / "multi",
    }


@pytest.fixture(scope="module")
def int8_folder(folders):
    out = folders["root"] / "int8"
    assert main(["quantize", str(folders["preset"]), str(out),
                 "--calibration", str(folders["calibration"])]) == 0  # fmt: skip
    return out


def float32_outputs(preset, images_folder):
    classifier = ImageClassifier.from_preset(str(preset))
    paths = sorted(images_folder.iterdir())
    pixels = np.stack([np.asarray(PIL.Image.open(path)) for path in paths])
    return paths, classifier.predict(pixels, verbose=0)


def softmax(logits):
    exponentials = np.exp(logits - logits.max(-1, keepdims=True))
    return exponentials / exponentials.sum(-1, keepdims=True)


# === quantize, then predict ===


def test_quantize_reports_and_saves_the_labels(folders, capsys):
    out = folders["root"] / "reported"
    status = main(["quantize", str(folders["preset"]), str(out),
                   "--calibration", str(folders["calibration"]), "--seed", "3"])  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 0
    assert "NNCF" in printed and f"on {CALIBRATION_IMAGES} images" in printed
    assert "calibration images: 64 (seed 3)" in printed
    assert "held-out images: 16" in printed
    agreement = float(printed.split("top-1 agreement with float32: ")[1].split()[0])
    assert 0.99 <= agreement <= 1
    assert "largest output change" in printed and str(out) in printed
    assert {"accelerated.json", "model.xml", "model.bin", "class_names.json"} <= {
        path.name for path in out.iterdir()
    }
    assert json.loads((out / "class_names.json").read_text()) == CLASSES
    settings = json.loads((out / "accelerated.json").read_text())
    assert settings["precision"] == "int8" and settings["activation"] is None
    assert settings["quantization"]["seed"] == 3


def test_predict_with_the_int8_folder_is_close_to_float32(folders, int8_folder, capsys):
    paths, logits = float32_outputs(folders["preset"], folders["images"])
    expected = softmax(logits)
    status = main(["predict", str(int8_folder), str(folders["images"]), "--json",
                   "--top-k", str(len(CLASSES)), "--quiet"])  # fmt: skip
    assert status == 0
    results = json.loads(capsys.readouterr().out)
    assert [result["image"] for result in results] == list(map(str, paths))
    got = np.zeros_like(expected)
    for row, result in zip(got, results):
        for prediction in result["predictions"]:
            assert prediction["label"] == CLASSES[prediction["index"]]
            row[prediction["index"]] = prediction["probability"]
    # The logits head's outputs get the softmax Keras' predictions get here.
    np.testing.assert_allclose(got.sum(-1), 1, atol=1e-5)
    change = np.abs(got - expected).max()
    assert 0 < change < 0.05  # int8 really ran, and stays close (observed 0.006)
    np.testing.assert_array_equal(got.argmax(-1), expected.argmax(-1))
    assert main(["predict", str(int8_folder), str(paths[0]), "--top-k", "1"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[2].split()[1:3] == ["1", CLASSES[int(got[0].argmax())]]


def test_multi_label_int8_keeps_the_thresholds(folders, capsys):
    out = folders["root"] / "multi_int8"
    status = main(["quantize", str(folders["multi"]), str(out),
                   "--calibration", str(folders["calibration"]), "--runtime", "onnxruntime"])  # fmt: skip
    assert status == 0
    assert "onnxruntime.quantization.quantize_static" in capsys.readouterr().out
    assert (out / "multi_label.json").is_file() and (out / "model.onnx").is_file()
    paths, expected = float32_outputs(folders["multi"], folders["images"])
    status = main(["predict", str(out), *map(str, paths), "--json", "--top-k", "3", "--quiet"])
    assert status == 0
    results = json.loads(capsys.readouterr().out)
    for result, row in zip(results, expected):
        assert len(result["findings"]) == len(FINDINGS)
        for finding in result["findings"]:
            index = FINDINGS.index(finding["finding"])
            assert finding["threshold"] == THRESHOLDS[index]
            assert finding["positive"] == (finding["probability"] >= THRESHOLDS[index])
            # Sigmoid outputs pass through as they are.
            assert abs(finding["probability"] - row[index]) < 0.05
    assert {f["positive"] for result in results for f in result["findings"]} == {True, False}


def test_predict_int8_folder_refuses_other_options(folders, int8_folder, capsys):
    image = str(next(folders["images"].iterdir()))
    for options, message in [
        (["--runtime", "onnxruntime"], "int8 model for openvino, but --runtime onnxruntime"),
        (["--precision", "float32"], "drop --precision"),
        (["--image-size", "64"], "drop --image-size"),
    ]:
        assert main(["predict", str(int8_folder), image, *options]) == 1
        assert message in error_line(capsys)
    # Matching options are accepted.
    assert main(["predict", str(int8_folder), image, "--runtime", "openvino",
                 "--precision", "int8", "--quiet"]) == 0  # fmt: skip


def test_predict_int8_with_a_preset_says_to_quantize_first(folders, capsys):
    image = str(next(folders["images"].iterdir()))
    status = main(["predict", str(folders["preset"]), image, "--runtime", "openvino",
                   "--precision", "int8"])  # fmt: skip
    assert status == 1
    line = error_line(capsys)
    assert f"densenet-hub quantize {folders['preset']} OUT --calibration DIR" in line
    assert "at least 76 images" in line


# === the accuracy guard and bad input ===


def test_backbone_refused_below_the_threshold_and_saved_above(folders, capsys):
    # A backbone is measured by cosine similarity, which int8 never brings to 1.
    preset = folders["root"] / "backbone"
    backbone = build_tiny_backbone()
    randomize_weights(backbone, seed=3)
    backbone.save_to_preset(str(preset))
    build_tiny_preprocessor().image_converter.save_to_preset(str(folders["root"] / "converter"))
    shutil.copy(folders["root"] / "converter" / "image_converter.json", preset)
    out = folders["root"] / "refused"
    status = main(["quantize", str(preset), str(out), "--calibration", str(folders["calibration"]),
                   "--runtime", "onnxruntime", "--min-agreement", "1.0"])  # fmt: skip
    assert status == 1
    line = error_line(capsys)
    assert "smallest cosine similarity with float32 on 16 held-out" in line
    assert "below --min-agreement 1.0" in line and "lower --min-agreement" in line
    assert not out.exists()
    status = main(["quantize", str(preset), str(out), "--calibration", str(folders["calibration"]),
                   "--runtime", "onnxruntime"])  # fmt: skip
    assert status == 0
    assert "smallest cosine similarity with float32: 0.99" in capsys.readouterr().out
    assert not (out / "class_names.json").exists()
    image = str(next(folders["images"].iterdir()))
    assert main(["predict", str(out), image]) == 1
    assert "holds a backbone's feature model" in error_line(capsys)


def test_too_few_images_say_how_many_are_needed(folders, tmp_path, capsys):
    few = write_pngs(tmp_path / "few", smooth_images(20, seed=4))
    status = main(["quantize", str(folders["preset"]), str(tmp_path / "out"),
                   "--calibration", str(few)])  # fmt: skip
    assert status == 1
    line = error_line(capsys)
    assert "needs at least 76 images with --held-out 0.2" in line and "found 20" in line
    # A larger held-out share needs fewer images (32 + 32 with one half held out).
    status = main(["quantize", str(folders["preset"]), str(tmp_path / "out"),
                   "--calibration", str(few), "--held-out", "0.5"])  # fmt: skip
    assert status == 1 and "needs at least 64 images" in error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_quantize_refuses_a_non_empty_out_before_working(folders, int8_folder, capsys):
    status = main(["quantize", str(folders["preset"]), str(int8_folder),
                   "--calibration", str(folders["calibration"])])  # fmt: skip
    assert status == 1 and "--overwrite" in error_line(capsys)


def test_calibration_is_an_option_and_the_former_spelling_still_runs(folders, tmp_path, capsys):
    preset, calibration = str(folders["preset"]), str(folders["calibration"])
    assert main(["quantize", preset, str(tmp_path / "none")]) == 1
    line = error_line(capsys)
    assert "quantize needs --calibration DIR" in line and "at least 76 with" in line
    assert f"densenet-hub quantize {preset} {tmp_path / 'none'} --calibration DIR" in line
    status = main(["quantize", preset, calibration, str(tmp_path / "twice"),
                   "--calibration", calibration])  # fmt: skip
    assert status == 1
    line = error_line(capsys)
    assert f"twice: --calibration {calibration} and the former positional {calibration}" in line
    assert f"densenet-hub quantize {preset} {tmp_path / 'twice'} --calibration DIR" in line
    assert not (tmp_path / "none").exists() and not (tmp_path / "twice").exists()
    # `quantize PRESET CALIBRATION OUT`, as scripts wrote it before.
    former = tmp_path / "former"
    assert main(["quantize", preset, calibration, str(former)]) == 0
    err = capsys.readouterr().err
    assert err.count("is deprecated") == 1
    assert f"densenet-hub quantize {preset} {former} --calibration {calibration}" in err
    assert (former / "accelerated.json").is_file() and (former / "class_names.json").is_file()


def test_keep_keras_refuses_a_backbone(folders, tmp_path, capsys):
    preset = tmp_path / "backbone"
    build_tiny_backbone().save_to_preset(str(preset))
    status = main(["quantize", str(preset), str(tmp_path / "out"), "--keep-keras",
                   "--calibration", str(folders["calibration"])])  # fmt: skip
    assert status == 1
    assert "is a backbone preset" in error_line(capsys)
    assert not (tmp_path / "out").exists()


# === export --precision int8 ===


def test_export_int8_onnx_runs_on_raw_pixels(folders, capsys):
    out = folders["root"] / "model.onnx"
    status = main(["export", str(folders["preset"]), str(out), "--precision", "int8",
                   "--calibration", str(folders["calibration"])])  # fmt: skip
    assert status == 0
    assert "top-1 agreement with float32" in capsys.readouterr().out
    session = onnxruntime.InferenceSession(str(out))
    assert "QuantizeLinear" in {node.op_type for node in onnx.load(str(out)).graph.node}
    paths, expected = float32_outputs(folders["preset"], folders["images"])
    pixels = np.stack([np.asarray(PIL.Image.open(path)) for path in paths]).astype("float32")
    (got,) = session.run(None, {session.get_inputs()[0].name: pixels})
    scale = np.abs(expected).max()
    assert 0 < np.abs(got - expected).max() < 0.1 * scale
    np.testing.assert_array_equal(got.argmax(-1), expected.argmax(-1))


def test_export_int8_openvino_is_read_by_openvino(folders, capsys):
    out = folders["root"] / "openvino_int8"
    status = main(["export", str(folders["preset"]), str(out), "--format", "openvino",
                   "--precision", "int8",
                   "--calibration", str(folders["calibration"])])  # fmt: skip
    assert status == 0
    ov = import_openvino("the test")
    paths, expected = float32_outputs(folders["preset"], folders["images"])
    pixels = np.stack([np.asarray(PIL.Image.open(path)) for path in paths]).astype("float32")
    with signal_stack_kept():  # else a later Ctrl-C test of this worker crashes
        core = ov.Core()
        model = core.read_model(str(out / "model.xml"))
        assert "FakeQuantize" in {op.get_type_name() for op in model.get_ops()}
        model.reshape({0: list(pixels.shape)})
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        got = compiled(pixels)[0]
    assert 0 < np.abs(got - expected).max() < 0.1 * np.abs(expected).max()
    np.testing.assert_array_equal(got.argmax(-1), expected.argmax(-1))


def test_export_int8_needs_calibration_and_an_int8_format(folders, tmp_path, capsys):
    preset = str(folders["preset"])
    assert main(["export", preset, str(tmp_path / "m.onnx"), "--precision", "int8"]) == 1
    assert "--precision int8 needs --calibration DIR" in error_line(capsys)
    status = main(["export", preset, str(tmp_path / "sm"), "--format", "saved_model",
                   "--precision", "int8",
                   "--calibration", str(folders["calibration"])])  # fmt: skip
    assert status == 1 and "--format onnx or openvino" in error_line(capsys)
    status = main(["export", preset, str(tmp_path / "m.onnx"),
                   "--calibration", str(folders["calibration"])])  # fmt: skip
    assert status == 1 and "--calibration is for --precision int8" in error_line(capsys)
    assert list(tmp_path.iterdir()) == []
