"""`save_offline_copy` / `densenet-hub download`: a preset fetched through
the real hub clients (against the local stubs) into a folder that then
loads with no network and gives the same outputs, with what its source only
implied written out."""

import json

import numpy as np
import pytest
from helpers.cli import error_line
from helpers.hub import HF_REPO
from helpers import full_size

from densenet_hub.cli.main import main
from densenet_hub.convert import save_offline_copy
from densenet_hub.models import ImageClassifier
from densenet_hub.models.densenet.densenet_presets import KAGGLE_VERSION
from densenet_hub.presets import inspect

BUILTIN = "densenet_121_imagenet"
IMAGES = np.random.default_rng(0).integers(0, 256, size=(2, 40, 36, 3), dtype="uint8")


def _served(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


@pytest.mark.slow
def test_a_builtin_preset_is_copied_with_its_stem_padding_and_class_names(kaggle, tmp_path):
    # KerasHub's own files for the built-in name: full size, as the table checks.
    files = full_size.keras_hub_preset_files(121)
    kaggle.add_version(full_size.kaggle_variation(121), KAGGLE_VERSION, files)
    images = np.random.default_rng(0).integers(0, 256, size=(1, 230, 240, 3), dtype="uint8")
    expected = ImageClassifier.from_preset(BUILTIN).predict(images, verbose=0)

    copy = save_offline_copy(BUILTIN, tmp_path / "copy")
    kaggle.stop()  # nothing below may need the hub

    # KerasHub's files leave it out; the built-in table supplies torch's.
    assert "stem_padding" not in json.loads(files["config.json"])["config"]
    config = json.loads((copy.folder / "config.json").read_text())["config"]
    assert config["stem_padding"] == "symmetric"
    assert copy.kind == "classifier" and copy.labels.names[:2] == ["tench", "goldfish"]
    loaded = ImageClassifier.from_preset(str(copy.folder))
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), expected)


def test_download_command_copies_an_hf_classifier_with_its_labels(hf, tiny_preset, tmp_path, capsys):
    names = ["cat", "dog", "fox", "owl", "yak"]
    files = _served(tiny_preset) | {"class_names.json": json.dumps(names).encode()}
    hf.add_commit(HF_REPO, files)
    out = tmp_path / "copy"

    assert main(["download", f"hf://{HF_REPO}", str(out)]) == 0
    assert f"wrote {out}: a classifier preset" in capsys.readouterr().out
    assert inspect(str(out)).labels.names == names
    expected = ImageClassifier.from_preset(f"hf://{HF_REPO}").predict(IMAGES, verbose=0)
    np.testing.assert_array_equal(ImageClassifier.from_preset(str(out)).predict(IMAGES, verbose=0), expected)

    assert main(["download", f"hf://{HF_REPO}", str(out)]) == 1
    assert "--overwrite" in error_line(capsys)


def test_an_unknown_name_writes_nothing(tmp_path):
    with pytest.raises(ValueError):
        save_offline_copy("densenet_999_imagenet", tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
