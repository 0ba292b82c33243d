"""The `densenet-hub` commands other than `train` and `demo`, through
`main([...])` on a tiny classifier preset and tiny image folders."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import PIL.Image
import pytest

from densenet_hub.training import classifier as loading
from densenet_hub.cli.main import main
from densenet_hub.models.image_classifier import ImageClassifier
from densenet_hub.presets.class_labels import ClassLabels
from helpers.cli import error_line
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier
from helpers.paths import GOLDEN
from helpers.paths import REPO_ROOT

CLASSES = ["cat", "dog", "fox"]
IMAGE_SIZE = 32


def write_png(path, rng, size=(IMAGE_SIZE, IMAGE_SIZE)):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = rng.integers(0, 256, size=(*size, 3), dtype="uint8")
    PIL.Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """A 3-class classifier preset with class names, as `train` writes it."""
    keras.utils.set_random_seed(7)
    backbone = build_tiny_backbone(image_shape=(None, None, 3))
    classifier = build_tiny_classifier(backbone, num_classes=len(CLASSES))
    folder = tmp_path_factory.mktemp("presets") / "tiny"
    loading.save_classifier(classifier, ClassLabels(CLASSES), folder)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Five images of two sizes in a folder."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("images")
    return [
        write_png(folder / f"{i}.png", rng, size=(IMAGE_SIZE, IMAGE_SIZE + 8 * (i % 2)))
        for i in range(5)
    ]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A folder with a sub-folder of images for each class."""
    rng = np.random.default_rng(4)
    root = tmp_path_factory.mktemp("labelled")
    for name in CLASSES:
        for i in range(3):
            write_png(root / name / f"{i}.png", rng)
    return root


def expected_probabilities(preset, paths):
    classifier = ImageClassifier.from_preset(str(preset))
    pixels = [np.asarray(PIL.Image.open(path).convert("RGB")) for path in paths]
    logits = classifier.predict_on_batch(pixels)
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))


# === Parsing and errors ===


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("presets", "info", "predict", "embed", "train", "evaluate", "explain",
                    "convert", "demo"):  # fmt: skip
        assert command in out


def test_missing_command_and_bad_option_are_usage_errors(capsys):
    assert main([]) == 2
    assert main(["predict", "x", "y.png", "--top-k", "0"]) == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_reports_unknown_preset_in_one_line(tmp_path):
    image = write_png(tmp_path / "a.png", np.random.default_rng(0))
    result = subprocess.run(
        [sys.executable, "-m", "densenet_hub", "predict", "densenet_12_imagenet", str(image)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=300,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "densenet-hub: error:" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "Did you mean 'densenet_121_imagenet'" in errors[0]


# === presets and info ===


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Empty Kaggle and Hugging Face caches; returns the Kaggle one."""
    import huggingface_hub.constants

    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kaggle"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path / "kaggle"


def test_presets_shows_the_table_and_what_is_cached(empty_caches, capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("densenet_121_imagenet"))
    assert "7,037,504" in row and "densenet121_imagenet" in row
    assert row.split()[-1] == "no"
    assert max(len(line) for line in out.splitlines()) <= 100

    # A complete kagglehub download: the folder and its completion marker.
    variation = empty_caches / "models/keras/densenet/keras/densenet_169_imagenet"
    (variation / "3").mkdir(parents=True)
    (variation / "3.complete").touch()
    assert main(["presets", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["densenet_169_imagenet"]["cached"] == str(variation / "3")
    assert rows["densenet_121_imagenet"]["cached"] is None
    assert rows["densenet_201_imagenet"]["parameters"] == 18_321_984
    assert rows["densenet_201_imagenet"]["aliases"] == ["densenet201_imagenet"]
    assert rows["densenet_121_imagenet"]["handle"].startswith("kaggle://")


def test_info_describes_a_local_preset(preset, capsys):
    assert main(["info", str(preset), "--json"]) == 0
    details = json.loads(capsys.readouterr().out)
    classifier = ImageClassifier.from_preset(str(preset))
    assert details["num_classes"] == 3
    assert details["class_names"] == CLASSES
    assert details["parameters"] == classifier.count_params()
    assert details["backbone_parameters"] == classifier.backbone.count_params()
    assert details["input_size"] == [IMAGE_SIZE, IMAGE_SIZE]
    assert details["config"]["stackwise_num_repeats"] == [2, 2]
    assert {"config.json", "task.json", "model.weights.h5", "class_names.json"} <= set(
        details["files"]
    )
    assert main(["info", str(preset)]) == 0
    out = capsys.readouterr().out
    assert "input size: 32x32" in out and "class names: cat, dog, fox" in out
    assert "  dtype: float32\n" in out


def test_info_on_an_uncached_builtin_needs_no_download(empty_caches, capsys):
    assert main(["info", "densenet121_imagenet"]) == 0
    out = capsys.readouterr().out
    assert "not in the local cache" in out
    assert "stackwise_num_repeats: [6, 12, 24, 16]" in out


def test_info_verify_checks_the_download_against_its_digests(kaggle, preset, capsys):
    import hashlib

    files = {path.name: path.read_bytes() for path in preset.iterdir()}
    kaggle.add_version("someone/tiny/keras/tiny", 1, files)
    handle = "kaggle://someone/tiny/keras/tiny/1"

    assert main(["info", handle, "--verify", "--json"]) == 0
    details = json.loads(capsys.readouterr().out)
    assert details["verified_sha256"] == {
        name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())
    }

    weights = pathlib.Path(details["folder"]) / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:-1] + b"!")
    assert main(["info", handle]) == 0  # without --verify, nothing is checked
    capsys.readouterr()
    assert main(["info", handle, "--verify"]) == 1
    line = error_line(capsys)
    assert str(weights) in line and hashlib.sha256(files["model.weights.h5"]).hexdigest() in line


# === predict ===


def test_predict_json_matches_the_model(preset, images, capsys):
    status = main(["predict", str(preset), *map(str, images), "--json", "--top-k", "2",
                   "--batch-size", "2"])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0
    results = json.loads(captured.out)
    expected = expected_probabilities(preset, images)
    assert [r["image"] for r in results] == [str(p) for p in images]
    for result, row in zip(results, expected):
        best = np.argsort(-row)[:2]
        assert [p["label"] for p in result["predictions"]] == [CLASSES[i] for i in best]
        scores = np.array([p["probability"] for p in result["predictions"]])
        assert np.max(np.abs(scores - row[best])) < 1e-5
    # Three batches: the progress bar's last line is on stderr, not stdout.
    assert "5/5 images" in captured.err


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_predict_on_an_engine_matches_keras(preset, images, capsys, runtime):
    status = main(["predict", str(preset), *map(str, images), "--json", "--top-k", "3",
                   "--runtime", runtime, "--quiet"])  # fmt: skip
    assert status == 0
    results = json.loads(capsys.readouterr().out)
    expected = expected_probabilities(preset, images)
    for result, row in zip(results, expected):
        got = {p["index"]: p["probability"] for p in result["predictions"]}
        assert max(abs(got[i] - row[i]) for i in range(len(CLASSES))) < 1e-4


def test_predict_bfloat16_needs_an_engine(preset, images, capsys):
    status = main(["predict", str(preset), str(images[0]), "--precision", "bfloat16"])
    assert status == 1
    assert "--precision bfloat16 needs --runtime openvino" in error_line(capsys)


def test_predict_table_reads_folders_and_globs(preset, images, capsys):
    folder = images[0].parent
    assert main(["predict", str(preset), str(folder), "--top-k", "1", "--quiet"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["image", "rank", "label", "probability"]
    assert len(table) == 2 + len(images)
    assert main(["predict", str(preset), str(folder / "[01].png"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_predict_skips_or_refuses_bad_files(preset, images, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    args = ["predict", str(preset), str(images[0]), str(notes), str(broken), "--json"]

    assert main(args) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 1
    assert f"skipped {notes}" in captured.err and f"skipped {broken}" in captured.err

    assert main([*args, "--on-error", "fail"]) == 1
    assert str(notes) in error_line(capsys)


@pytest.mark.parametrize(
    "target, message",
    [
        ("missing.png", "does not exist"),
        ("*.jpeg", "matches no files"),
        ("empty", "no readable images found"),
    ],
)
def test_predict_reports_missing_inputs(preset, tmp_path, capsys, target, message):
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(preset), str(tmp_path / target)]) == 1
    assert message in error_line(capsys)


def test_predict_looks_the_preset_up_once(preset, images, capsys, monkeypatch):
    from densenet_hub.presets import resolver

    looked_up = []
    for name in ("resolve", "local_folder"):
        original = getattr(resolver, name)
        monkeypatch.setattr(resolver, name, lambda preset, original=original, name=name: (
            looked_up.append((name, preset)) or original(preset)))  # fmt: skip
    assert main(["predict", str(preset), str(images[0]), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[2].split()[0] == str(images[0])
    # Loading reuses the resolved preset rather than looking it up again.
    assert [entry for entry in looked_up if not isinstance(entry[1], resolver.ResolvedPreset)] == [
        ("resolve", str(preset))
    ]


def test_predict_refuses_a_backbone_preset(preset, images, tmp_path, capsys):
    backbone_preset = tmp_path / "backbone"
    ImageClassifier.from_preset(str(preset)).backbone.save_to_preset(str(backbone_preset))
    assert main(["predict", str(backbone_preset), str(images[0])]) == 1
    assert "has no classification head" in error_line(capsys)


# === embed ===


def test_embed_writes_pooled_features_and_levels(preset, images, tmp_path, capsys):
    out = tmp_path / "features.npy"
    status = main(["embed", str(preset), *map(str, images), "--out", str(out),
                   "--batch-size", "2", "--quiet"])  # fmt: skip
    assert status == 0
    features = np.load(out)
    classifier = ImageClassifier.from_preset(str(preset))
    pixels = [np.asarray(PIL.Image.open(path).convert("RGB")) for path in images]
    feature_map = classifier.backbone(classifier.preprocessor(pixels))
    expected = keras.ops.convert_to_numpy(keras.ops.mean(feature_map, axis=(1, 2)))
    assert features.shape == expected.shape == (5, 44)
    assert np.max(np.abs(features - expected)) < 1e-5
    index = json.loads((tmp_path / "features.json").read_text())
    assert index["images"] == [str(p) for p in images] and index["unreadable"] == []

    level = tmp_path / "p2.npy"
    assert main(["embed", str(preset), str(images[0]), "--out", str(level), "--level", "P2",
                 "--pooling", "none"]) == 0  # fmt: skip
    assert np.load(level).shape == (1, 8, 8, 72)
    capsys.readouterr()


def test_embed_refuses_an_unknown_level_and_an_existing_output(preset, images, tmp_path, capsys):
    out = tmp_path / "f.npy"
    assert main(["embed", str(preset), str(images[0]), "--out", str(out), "--level", "P9"]) == 1
    assert "unknown --level 'P9'" in error_line(capsys)
    assert not out.exists() and not list(tmp_path.iterdir())
    out.write_bytes(b"old")
    assert main(["embed", str(preset), str(images[0]), "--out", str(out)]) == 1
    assert "--overwrite" in error_line(capsys)
    assert out.read_bytes() == b"old"


# === evaluate ===


def test_evaluate_reports_metrics_and_writes_a_confusion_matrix(
    preset, labelled, tmp_path, capsys
):
    picture = tmp_path / "cm.png"
    status = main(["evaluate", str(preset), str(labelled), "--confusion-matrix", str(picture),
                   "--json", "--quiet"])  # fmt: skip
    assert status == 0
    metrics = json.loads(capsys.readouterr().out)
    paths = sorted(labelled.rglob("*.png"))
    truth = np.array([CLASSES.index(path.parent.name) for path in paths])
    predicted = np.argmax(expected_probabilities(preset, paths), axis=-1)
    assert metrics["images"] == 9
    assert metrics["accuracy"] == pytest.approx(np.mean(predicted == truth))
    assert metrics["top_k"] == 3 and metrics["top_k_accuracy"] == 1.0
    for index, name in enumerate(CLASSES):
        hits = np.sum((predicted == index) & (truth == index))
        assert metrics["classes"][name]["recall"] == pytest.approx(hits / 3)
        assert metrics["classes"][name]["images"] == 3
    with PIL.Image.open(picture) as image:
        assert image.format == "PNG" and image.width > 3 * 40


def test_evaluate_refuses_folders_that_are_not_classes_of_the_preset(
    preset, tmp_path, capsys
):
    write_png(tmp_path / "wolf" / "0.png", np.random.default_rng(0))
    status = main(["evaluate", str(preset), str(tmp_path),
                   "--confusion-matrix", str(tmp_path / "cm.png")])  # fmt: skip
    assert status == 1
    assert "'wolf' are not classes of the preset" in error_line(capsys)


def test_evaluate_writes_every_file_into_out(preset, labelled, tmp_path, capsys):
    out = tmp_path / "results" / "run1"
    absolute = tmp_path / "elsewhere.csv"
    args = ["evaluate", str(preset), str(labelled), "--quiet", "--out", str(out),
            "--predictions", str(absolute), "--report-json", "numbers.json"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert sorted(path.name for path in out.iterdir()) == ["confusion_matrix.png", "numbers.json"]
    assert absolute.is_file()
    assert f"confusion matrix: {out / 'confusion_matrix.png'}" in printed
    # A second run stops before any work on the first existing file, in --out.
    before = (out / "confusion_matrix.png").stat().st_mtime_ns
    assert main(args) == 1
    line = error_line(capsys)
    assert str(out / "confusion_matrix.png") in line and "--overwrite" in line
    assert (out / "confusion_matrix.png").stat().st_mtime_ns == before
    assert main([*args, "--overwrite"]) == 0
    (tmp_path / "file").write_text("x")
    assert main(["evaluate", str(preset), str(labelled), "--out", str(tmp_path / "file")]) == 1
    line = error_line(capsys)
    assert f"--out {tmp_path / 'file'} is a file" in line


# === explain ===


def test_explain_replaces_a_picture_only_with_overwrite(preset, images, tmp_path, capsys):
    out = tmp_path / "heat.png"
    out.write_bytes(b"old")
    args = ["explain", str(preset), str(images[1]), "--out", str(out)]
    assert main(args) == 1
    line = error_line(capsys)
    assert str(out) in line and "--overwrite" in line
    assert out.read_bytes() == b"old"
    sheet = tmp_path / "sheet.png"
    sheet.write_bytes(b"old")
    assert main(["explain", str(preset), *map(str, images[:2]), "--out", str(sheet)]) == 1
    assert "--overwrite" in error_line(capsys) and sheet.read_bytes() == b"old"
    assert main([*args, "--overwrite"]) == 0
    assert PIL.Image.open(out).format == "PNG"


def test_explain_writes_the_heat_map_over_the_image(preset, images, tmp_path, capsys):
    out = tmp_path / "heat.png"
    assert main(["explain", str(preset), str(images[1]), "--out", str(out), "--class", "dog"]) == 0
    assert "class 'dog' (index 1" in capsys.readouterr().out
    with PIL.Image.open(out) as picture:
        # Two panels (the input, the heat map over it), a colour bar, a title.
        assert picture.format == "PNG" and picture.width > 1.5 * picture.height > 300
        heat = np.asarray(picture.convert("RGB"), dtype="float64")
    # With the heat map hidden the right panel shows the input again: the
    # two pictures differ only where the map is drawn.
    assert main(["explain", str(preset), str(images[1]), "--out", str(out), "--opacity", "0",
                 "--overwrite"]) == 0  # fmt: skip
    with PIL.Image.open(out) as plain:
        assert np.abs(np.asarray(plain.convert("RGB"), dtype="float64") - heat).mean() > 1
    assert main(["explain", str(preset), str(images[1]), "--out", str(out), "--class", "do"]) == 1
    assert "Close names: 'dog'" in error_line(capsys)


def test_pictures_without_matplotlib_say_which_pip_command(preset, images, tmp_path,
                                                           monkeypatch, capsys):  # fmt: skip
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    out = tmp_path / "heat.png"
    assert main(["explain", str(preset), str(images[1]), "--out", str(out)]) == 1
    assert "pip install 'densenet-hub[plots]'" in error_line(capsys)


# === convert ===


def test_convert_writes_a_preset_that_predict_uses(images, tmp_path, capsys):
    source = GOLDEN / "torchvision_densenet.pth"
    out = tmp_path / "converted"
    assert main(["convert", str(source), str(out)]) == 0
    assert f"wrote {out}: DenseNetImageClassifier with 5 classes" in capsys.readouterr().out
    assert main(["predict", str(out), str(images[0]), "--json", "--top-k", "5"]) == 0
    predictions = json.loads(capsys.readouterr().out)[0]["predictions"]
    # Without stored class names a 5-class head shows class indices.
    assert sorted(p["label"] for p in predictions) == [f"class_{i}" for i in range(5)]
    assert sum(p["probability"] for p in predictions) == pytest.approx(1.0, abs=1e-5)

    assert main(["convert", str(source), str(out)]) == 1
    assert str(out) in error_line(capsys)
    assert main(["convert", str(tmp_path / "missing.pth"), str(tmp_path / "x")]) == 1
    assert "missing.pth" in error_line(capsys)
