"""One meaning per output flag across the commands: `--json` is a switch
that prints to stdout (never a file name), `--overwrite` is a switch, and
an existing output stops `convert`, `export`, `embed` and `bench` before
any work, with an error naming the path and --overwrite. The inputs below
are broken on purpose: had the command read them first, the error would
be about them instead."""

import argparse

import numpy as np
import PIL.Image
import pytest
from helpers.cli import error_line

from densenet_hub.cli.main import build_parser
from densenet_hub.cli.main import main


def _commands(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _commands(sub, (*prefix, name))


def _option(parser, flag):
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_json_and_overwrite_are_switches_and_out_takes_a_path():
    seen = {"--json": [], "--overwrite": [], "--out": []}
    for name, parser in _commands(build_parser()):
        for flag, commands in seen.items():
            action = _option(parser, flag)
            if action is None:
                continue
            commands.append(" ".join(name))
            if flag == "--out":
                assert action.nargs is None, name  # one path: a file or a folder
            else:
                assert action.nargs == 0 and action.const is True, (name, flag)
    assert {"bench inference", "bench startup", "evaluate", "info", "predict", "presets"} <= set(
        seen["--json"]
    )
    assert {"bench inference", "evaluate", "train", "embed"} <= set(seen["--out"])
    assert {"bench startup", "convert", "evaluate", "export", "train"} <= set(seen["--overwrite"])


@pytest.fixture
def broken(tmp_path):
    """A preset folder whose files cannot be read, a file that is no
    checkpoint, and an image."""
    preset = tmp_path / "broken_preset"
    preset.mkdir()
    for name in ("config.json", "metadata.json"):
        (preset / name).write_text("{not json")
    (tmp_path / "checkpoint.h5").write_bytes(b"not HDF5")
    (tmp_path / "images").mkdir()
    PIL.Image.fromarray(np.zeros((32, 32, 3), "uint8")).save(tmp_path / "images" / "a.png")
    return tmp_path


def _refused(argv, target, capsys):
    assert main(argv) == 1
    line = error_line(capsys)
    assert str(target) in line and "--overwrite" in line, line


def test_convert_refuses_a_full_folder_before_reading_the_checkpoint(broken, capsys):
    out = broken / "preset_out"
    out.mkdir()
    (out / "config.json").write_text("{}")
    _refused(["convert", str(broken / "checkpoint.h5"), str(out)], out, capsys)
    assert [path.name for path in out.iterdir()] == ["config.json"]


def test_export_refuses_an_existing_file_before_reading_the_preset(broken, capsys):
    out = broken / "model.onnx"
    out.write_bytes(b"earlier")
    _refused(["export", str(broken / "broken_preset"), str(out)], out, capsys)
    assert out.read_bytes() == b"earlier"


@pytest.mark.parametrize("existing", ["features.npy", "features.json"])
def test_embed_refuses_an_existing_file_before_loading_the_model(broken, existing, capsys):
    # The image list beside the .npy file is an output too.
    (broken / existing).write_bytes(b"earlier")
    argv = ["embed", str(broken / "broken_preset"), str(broken / "images"),
            "--out", str(broken / "features.npy")]  # fmt: skip
    _refused(argv, broken / existing, capsys)
    assert (broken / existing).read_bytes() == b"earlier"


def test_bench_refuses_an_existing_out_before_timing(tmp_path, capsys):
    out = tmp_path / "results.json"
    out.write_text("earlier")
    # Ten rounds of ten seconds each: had it started timing, it would run for minutes.
    argv = ["bench", "inference", "--candidates", "densenet_hub", "--rounds", "10",
            "--min-seconds", "10", "--out", str(out)]  # fmt: skip
    _refused(argv, out, capsys)
    assert out.read_text() == "earlier"


def test_bench_json_takes_no_file_name(tmp_path, capsys):
    # `--json FILE` was bench's spelling once; the file now goes to --out.
    assert main(["bench", "inference", "--json", str(tmp_path / "results.json")]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_predict_json_with_parquet_output_is_refused(broken, capsys):
    argv = ["predict", str(broken / "broken_preset"), str(broken / "images"), "--json",
            "--output", str(broken / "rows")]  # fmt: skip
    assert main(argv) == 1
    line = error_line(capsys)
    assert f"--json prints the predictions on stdout, but --output {broken / 'rows'}" in line
    assert not (broken / "rows").exists()
