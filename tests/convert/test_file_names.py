"""Checkpoint file names people actually have: CheXNet's `*.pth.tar`, and a
name the converter cannot place, whose error names the option to pass."""

import importlib.util
import shutil

import pytest
from helpers.paths import GOLDEN

from densenet_hub.cli.main import main
from densenet_hub.convert import convert

requires_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="reading a pickled checkpoint needs torch (pip install torch)",
)


@requires_torch
def test_chexnet_pth_tar_converts(tmp_path):
    # The README's example file name; torch.save wrote it, as the .pth fixture.
    source = tmp_path / "chexnet.pth.tar"
    shutil.copy(GOLDEN / "chexnet_style_legacy.pth", source)
    out = convert(source, tmp_path / "chexnet_preset", activation="sigmoid")
    assert (out / "config.json").is_file()


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
