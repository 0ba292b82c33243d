"""The one batch loop over image files (`iterate_batches`) and the two
library functions on it, `score_files` and `embed_files`: every path is its
own row, so a path listed twice and an unreadable file are treated alike by
both."""

import json
import os

import keras
import numpy as np
import PIL.Image
import pytest

from densenet_hub.data import SkippedImageWarning
from densenet_hub.inference import embed_files
from densenet_hub.inference import iterate_batches
from densenet_hub.inference import score_files
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier


@pytest.fixture
def files(tmp_path):
    """Two readable images of different sizes and one broken file."""
    rng = np.random.default_rng(0)
    paths = {}
    for name, size in (("a", (32, 32)), ("b", (40, 24))):
        paths[name] = tmp_path / f"{name}.png"
        PIL.Image.fromarray(rng.integers(0, 256, (*size, 3), dtype="uint8")).save(paths[name])
    paths["broken"] = tmp_path / "broken.png"
    paths["broken"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return paths


def test_each_path_is_its_own_row(files):
    paths = [files["a"], files["broken"], files["a"], files["b"], files["broken"]]
    with pytest.warns(SkippedImageWarning):
        batches = list(iterate_batches(paths, batch_size=2))
    assert [(b.start, b.stop, b.rows, b.skipped) for b in batches] == [
        (0, 2, [0], [1]),
        (2, 4, [2, 3], []),
        (4, 5, [], [4]),  # a batch with no readable image is still yielded
    ]
    assert [b.size for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(batches[1].images[0], batches[0].images[0])
    assert batches[1].images[1].shape == (40, 24, 3)


def test_bad_arguments_are_refused_at_the_call(files):
    with pytest.raises(ValueError, match="on_error"):
        iterate_batches([files["a"]], on_error="ignore")
    with pytest.raises(ValueError, match="batch_size"):
        iterate_batches([files["a"]], batch_size=0)
    with pytest.raises(ValueError, match="broken.png"):
        list(iterate_batches([files["broken"]], on_error="fail"))


def test_scoring_and_embedding_give_a_path_listed_twice_two_rows(files, tmp_path):
    keras.utils.set_random_seed(1)
    classifier = build_tiny_classifier(num_classes=3, activation="softmax")
    paths = [files["a"], files["b"], files["a"], files["broken"]]
    progress = []
    with pytest.warns(SkippedImageWarning):
        probabilities, kept = score_files(classifier, paths, 2, on_batch=progress.append)
    assert kept == [0, 1, 2] and progress == [2, 2]
    np.testing.assert_array_equal(probabilities[0], probabilities[2])

    converter = classifier.preprocessor.image_converter
    with pytest.warns(SkippedImageWarning):
        written = embed_files(classifier.backbone, converter, paths, tmp_path / "f.npy",
                              batch_size=3)  # fmt: skip
    features = np.load(written.features)
    assert features.shape == written.shape == (4, 44)
    np.testing.assert_array_equal(features[0], features[2])
    assert np.isfinite(features[:3]).all() and np.isnan(features[3]).all()
    assert written.unreadable == [files["broken"]]
    index = json.loads(written.index.read_text())
    assert index["images"] == list(map(str, paths)) and index["unreadable"] == [
        str(files["broken"])
    ]
    assert index["shape"] == [4, 44] and index["preset"] is None


def test_embedding_files_are_published_with_the_same_mode(files, tmp_path):
    out = tmp_path / "features.npy"
    written = embed_files(build_tiny_backbone(), build_tiny_classifier().preprocessor.image_converter,
                          [files["a"]], out)  # fmt: skip
    assert written.index == tmp_path / "features.json"
    modes = {os.stat(path).st_mode & 0o777 for path in (written.features, written.index)}
    assert len(modes) == 1, modes  # not a private .npy beside a public .json
    assert sorted(path.name for path in tmp_path.iterdir() if path.suffix in (".npy", ".json")) == [
        "features.json", "features.npy"
    ]
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_embedding_checks_everything_before_reading_an_image(files, tmp_path):
    backbone = build_tiny_backbone(image_shape=(None, None, 3))
    converter = build_tiny_classifier(backbone).preprocessor.image_converter
    (tmp_path / "old.json").write_text("{}")
    with pytest.raises(FileExistsError, match="--overwrite"):
        embed_files(backbone, converter, [files["a"]], tmp_path / "old.npy")
    with pytest.raises(ValueError, match="unknown --level 'P9'.*output, P2, P3"):
        embed_files(backbone, converter, [files["a"]], tmp_path / "f.npy", level="P9")
    with pytest.raises(ValueError, match=r"ends with \.json"):
        embed_files(backbone, converter, [files["a"]], tmp_path / "f.json")
    with pytest.raises(FileNotFoundError, match="create it first"):
        embed_files(backbone, converter, [files["a"]], tmp_path / "missing" / "f.npy")
    converter.image_size = None
    with pytest.raises(ValueError, match="needs a fixed input size"):
        embed_files(backbone, converter, [files["a"]], tmp_path / "f.npy", pooling="none")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "a.png", "b.png", "broken.png", "old.json"
    ]
