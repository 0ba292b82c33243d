"""An int8 folder from `densenet-hub quantize` taken by `evaluate`, `embed`,
`info` and `explain`: evaluate's numbers equal scoring the same images with
the folder in Python, embed writes the int8 features of a backbone's folder
(and refuses a classifier's, saying why), info describes the folder, and
explain runs through the Keras preset kept beside it or says what to pass."""

import json
import shutil

import numpy as np
import PIL.Image
import pytest
from test_cli_quantize import CLASSES
from test_cli_quantize import smooth_images
from test_cli_quantize import tiny_classifier
from test_cli_quantize import write_pngs

from densenet_hub.cli.main import main
from densenet_hub.inference import score_files
from densenet_hub.models import Backbone
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.runtime import load_accelerated
from densenet_hub.runtime.model_folders import KERAS_PRESET_FOLDER
from densenet_hub.training.classifier import save_classifier
from helpers.cli import error_line
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_preprocessor
from helpers.weights import randomize_weights

pytestmark = pytest.mark.slow
CALIBRATION_IMAGES = 80


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A classifier preset and its int8 folder (OpenVINO), a backbone preset
    and its int8 folder (ONNX Runtime), and a class folder to evaluate on."""
    root = tmp_path_factory.mktemp("int8_folders")
    calibration = write_pngs(root / "calibration", smooth_images(CALIBRATION_IMAGES, 0))
    classifier = tiny_classifier(seed=1, head_seed=2, head_scale=4, bias=[0] * len(CLASSES))
    save_classifier(classifier, ClassLabels(CLASSES), root / "preset")
    backbone = build_tiny_backbone()
    randomize_weights(backbone, seed=3)
    backbone.save_to_preset(str(root / "backbone"))
    build_tiny_preprocessor().image_converter.save_to_preset(str(root / "converter"))
    shutil.copy(root / "converter" / "image_converter.json", root / "backbone")
    for preset, out, runtime in (("preset", "int8", "openvino"),
                                 ("backbone", "backbone_int8", "onnxruntime")):  # fmt: skip
        status = main(["quantize", str(root / preset), str(root / out),
                       "--calibration", str(calibration), "--runtime", runtime])  # fmt: skip
        assert status == 0
    images = smooth_images(15, seed=1)
    for name, chunk in zip(CLASSES, np.array_split(images, len(CLASSES))):
        write_pngs(root / "labelled" / name, chunk)
    return root


def test_evaluate_an_int8_folder_scores_as_the_folder_does_in_python(folders, tmp_path, capsys):
    matrix = tmp_path / "matrix.png"
    status = main(["evaluate", str(folders / "int8"), str(folders / "labelled"), "--json",
                   "--quiet", "--confusion-matrix", str(matrix)])  # fmt: skip
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    model = load_accelerated(folders / "int8")
    paths = sorted((folders / "labelled").glob("*/*.png"))
    truth = np.asarray([CLASSES.index(path.parent.name) for path in paths])
    probabilities, kept = score_files(model, paths)
    assert kept == list(range(len(paths)))
    predicted = probabilities.argmax(-1)
    assert report["images"] == len(paths)
    assert report["accuracy"] == pytest.approx(np.mean(predicted == truth), abs=1e-12)
    for name, row in report["classes"].items():
        output = CLASSES.index(name)
        assert row["recall"] == pytest.approx(np.mean(predicted[truth == output] == output))
    assert matrix.is_file()


def test_evaluate_refuses_image_size_for_a_folder(folders, capsys):
    status = main(["evaluate", str(folders / "int8"), str(folders / "labelled"),
                   "--image-size", "64", "--quiet"])  # fmt: skip
    assert status == 1
    assert "resizes images as it was saved; drop --image-size" in error_line(capsys)


def test_embed_a_backbone_int8_folder(folders, tmp_path, capsys):
    out = tmp_path / "features.npy"
    paths = sorted((folders / "labelled").glob("*/*.png"))
    status = main(["embed", str(folders / "backbone_int8"), *map(str, paths), "--out", str(out),
                   "--quiet"])  # fmt: skip
    assert status == 0
    assert "float32 features" in capsys.readouterr().out
    features = np.load(out)
    index = json.loads(out.with_suffix(".json").read_text())
    assert index["images"] == list(map(str, paths)) and index["precision"] == "int8"
    # Against the float32 Keras backbone, average-pooled: int8 stays close.
    backbone = Backbone.from_preset(str(folders / "backbone"))
    converter = build_tiny_preprocessor().image_converter
    pixels = np.stack([np.asarray(PIL.Image.open(path)) for path in paths])
    expected = np.asarray(backbone.predict(converter(pixels), verbose=0)).mean(axis=(1, 2))
    assert features.shape == expected.shape == (len(paths), expected.shape[1])
    cosine = (features * expected).sum(-1) / (
        np.linalg.norm(features, axis=-1) * np.linalg.norm(expected, axis=-1)
    )
    assert cosine.min() > 0.99 and np.abs(features - expected).max() > 0


def test_embed_a_classifier_folder_says_why_not(folders, tmp_path, capsys):
    image = str(next((folders / "labelled" / CLASSES[0]).iterdir()))
    status = main(["embed", str(folders / "int8"), image, "--out", str(tmp_path / "f.npy")])
    assert status == 1
    line = error_line(capsys)
    assert "int8 classifier: its engine gives class scores only" in line
    assert "densenet-hub embed PRESET" in line
    assert not (tmp_path / "f.npy").exists()


def test_info_describes_an_int8_folder(folders, capsys):
    assert main(["info", str(folders / "int8"), "--json"]) == 0
    details = json.loads(capsys.readouterr().out)
    assert details["runtime"] == "openvino" and details["precision"] == "int8"
    assert details["output"] == "predictions" and details["input_size"] == [32, 32]
    assert details["num_classes"] == len(CLASSES) and details["class_names"] == CLASSES
    assert details["quantization"]["held_out_size"] == 16
    assert details["keras_preset"] is None
    assert {"accelerated.json", "model.xml", "model.bin"} <= set(details["files"])
    assert main(["info", str(folders / "backbone_int8")]) == 0
    text = capsys.readouterr().out
    assert "int8 on onnxruntime" in text and "output: features" in text
    assert "smallest cosine similarity" in text and "input size: 32x32" in text


def test_explain_through_the_keras_preset_kept_beside(folders, tmp_path, capsys):
    image = str(next((folders / "labelled" / CLASSES[0]).iterdir()))
    out = tmp_path / "why.png"
    assert main(["explain", str(folders / "int8"), image, "--out", str(out)]) == 1
    line = error_line(capsys)
    assert "Grad-CAM needs gradients" in line and "Pass the classifier preset" in line
    assert "quantize again with `--keep-keras`" in line
    assert not out.exists()
    folder = tmp_path / "int8"
    assert main(["quantize", str(folders / "preset"), str(folder), "--keep-keras",
                 "--calibration", str(folders / "calibration")]) == 0  # fmt: skip
    assert "kept the float32 Keras preset" in capsys.readouterr().out
    kept = folder / KERAS_PRESET_FOLDER
    assert (kept / "class_names.json").read_bytes() == (folder / "class_names.json").read_bytes()
    assert main(["explain", str(folder), image, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "the heat map is the float32 Keras classifier's" in captured.err
    assert "top-1 agreement on held-out images" in captured.err
    assert PIL.Image.open(out).format == "PNG"
    # The same picture as explaining the preset itself.
    reference = tmp_path / "reference.png"
    assert main(["explain", str(folders / "preset"), image, "--out", str(reference)]) == 0
    assert np.array_equal(np.asarray(PIL.Image.open(out)), np.asarray(PIL.Image.open(reference)))


def test_evaluate_an_int8_folder_with_test_time_augmentation(folders, tmp_path, capsys):
    matrix = str(tmp_path / "m.png")
    status = main(["evaluate", str(folders / "int8"), str(folders / "labelled"), "--json",
                   "--quiet", "--tta", "flip", "--confusion-matrix", matrix])  # fmt: skip
    assert status == 0
    assert json.loads(capsys.readouterr().out)["images"] == 15
    # Ten-crop cuts the resized images inside Keras, which an engine has not.
    status = main(["evaluate", str(folders / "int8"), str(folders / "labelled"), "--quiet",
                   "--tta", "ten-crop", "--confusion-matrix", matrix + ".2.png"])  # fmt: skip
    assert status == 1
    line = error_line(capsys)
    assert "ten-crop crops the classifier's resized images" in line
    # In shell words, not the Python argument the library names.
    assert "or use --tta flip." in line and "tta=" not in line


def test_a_logits_folder_read_for_a_table_goes_through_a_sigmoid(folders):
    from densenet_hub.runtime.model_folders import load_scoring_model

    with pytest.warns(UserWarning, match="reading them through a sigmoid"):
        model, labels = load_scoring_model(folders / "int8", multi_label=True)
    assert model.multi_label and labels.names == CLASSES and model.num_classes == len(CLASSES)
    paths = sorted((folders / "labelled").glob("*/*.png"))[:3]
    logits = load_accelerated(folders / "int8").predict(
        np.stack([np.asarray(PIL.Image.open(path)) for path in paths])
    )
    probabilities, _ = score_files(model, paths)
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), atol=1e-6)
