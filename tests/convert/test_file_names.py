"""Checkpoint file names people actually have: CheXNet's `*.pth.tar` (converted
into a complete preset that reloads with the source's outputs), and a name the
converter cannot place, whose error names the option to pass."""

import importlib.util
import json
import shutil

import keras
import numpy as np
import pytest
from helpers.paths import GOLDEN

from densenet_hub.cli.main import main
from densenet_hub.convert import convert
from densenet_hub.models import ImageClassifier

requires_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="reading a pickled checkpoint needs torch (pip install torch)",
)


# What a converted classifier preset holds: KerasHub's file set.
CLASSIFIER_PRESET_FILES = [
    "config.json",
    "image_converter.json",
    "metadata.json",
    "model.weights.h5",
    "preprocessor.json",
    "task.json",
    "task.weights.h5",
]
TOLERANCE = 1e-4


@requires_torch
def test_chexnet_pth_tar_converts_to_a_preset_with_the_source_outputs(tmp_path):
    # The README's example file name; torch.save wrote it, as the .pth fixture.
    source = tmp_path / "chexnet.pth.tar"
    shutil.copy(GOLDEN / "chexnet_style_legacy.pth", source)
    out = convert(source, tmp_path / "chexnet_preset", activation="sigmoid")

    assert out == tmp_path / "chexnet_preset"
    assert sorted(p.name for p in out.iterdir()) == CLASSIFIER_PRESET_FILES
    model = ImageClassifier.from_preset(out)
    facts = json.loads((GOLDEN / "manifest.json").read_text())["chexnet_style_legacy"]
    assert model.backbone.stackwise_num_repeats == facts["stackwise_num_repeats"]
    assert model.num_classes == facts["num_classes"]
    # The reloaded preset gives the torch model's sigmoid outputs (golden,
    # from torch), on preprocessed NCHW inputs turned channels-last.
    inputs = np.load(GOLDEN / "inputs.npz")
    expected = np.load(GOLDEN / "chexnet_style_legacy_outputs.npz")
    for size in ("even", "odd"):
        images = np.transpose(inputs[f"inputs_{size}"], (0, 2, 3, 1))
        ours = keras.ops.convert_to_numpy(model(images))
        difference = np.max(np.abs(ours - expected[f"outputs_{size}"]))
        assert difference <= TOLERANCE, (size, difference)


def test_unknown_suffix_names_source_format_in_python(tmp_path):
    source = tmp_path / "weights.data"
    source.write_bytes(b"\0")
    with pytest.raises(ValueError, match="`source_format=` one of torchvision"):
        convert(source, tmp_path / "out")


def test_unknown_suffix_names_format_option_in_cli(tmp_path, capsys):
    source = tmp_path / "weights.data"
    source.write_bytes(b"\0")
    assert main(["convert", str(source), str(tmp_path / "out")]) == 1
    assert "--format" in capsys.readouterr().err
