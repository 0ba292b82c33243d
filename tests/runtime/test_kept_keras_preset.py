"""`AcceleratedModel.save(keras_preset=)` (what `quantize --keep-keras`
writes): the Keras classifier kept in `keras_preset/` scores as the one saved,
and a save that fails while writing it leaves no folder, or the old one
untouched."""

import json

import numpy as np
import pytest

from helpers.models import build_tiny_classifier
from helpers.models import build_tiny_preprocessor

from densenet_hub.inference import load_model
from densenet_hub.runtime import accelerate

CLASS_NAMES = json.dumps(["a", "b", "c", "d", "e"]).encode("utf-8")


def contents(folder):
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def classifier():
    return build_tiny_classifier(preprocessor=build_tiny_preprocessor(offset=[-0.4, -0.5, -0.6]))


def test_the_kept_preset_scores_as_the_classifier_saved(classifier, tmp_path):
    folder = tmp_path / "fast"
    accelerate(classifier, runtime="onnxruntime").save(
        folder, extra_files={"class_names.json": CLASS_NAMES}, keras_preset=classifier
    )
    kept = folder / "keras_preset"
    assert (kept / "class_names.json").read_bytes() == CLASS_NAMES
    model, labels = load_model(str(kept))
    assert list(labels.names) == ["a", "b", "c", "d", "e"]
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    expected = classifier.predict(images, verbose=0)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-6)


def test_a_failure_writing_the_kept_preset_leaves_nothing(classifier, tmp_path):
    fast = accelerate(classifier, runtime="onnxruntime")
    # The engine's files allow `config.json`; the Keras preset writes its
    # own, so the save fails only at `keras_preset/`, after the rest.
    clashing = {"config.json": b"{}"}
    with pytest.raises(ValueError, match="'config.json', a file the saver writes itself"):
        fast.save(tmp_path / "fresh", extra_files=clashing, keras_preset=classifier)
    assert not (tmp_path / "fresh").exists()
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old"
    fast.save(old)
    before = contents(old)
    with pytest.raises(ValueError, match="config.json"):
        fast.save(old, overwrite=True, extra_files=clashing, keras_preset=classifier)
    assert contents(old) == before
