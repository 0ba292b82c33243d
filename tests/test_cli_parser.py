"""The command line's words: every option of every command has help text,
`presets --help` names the table's columns, and library errors reach the
shell in flag words (`--on-error skip`), not Python's (`on_error='skip'`)."""

import argparse
import json

import pytest

from densenet_hub.cli.main import _option_strings
from densenet_hub.cli.main import build_parser
from densenet_hub.cli.main import main
from densenet_hub.cli.shell import in_flag_words


def _commands(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                yield from _commands(command, (*path, name))


def test_every_option_of_every_command_has_help():
    missing = []
    seen = 0
    for path, parser in _commands(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._SubParsersAction, argparse._HelpAction)):
                continue
            seen += 1
            # Hidden on purpose: an argument kept only for a former spelling.
            if action.dest.startswith("former_") and action.help == argparse.SUPPRESS:
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"densenet-hub {' '.join(path)} {action.option_strings or action.dest}")
    assert seen > 100
    assert missing == []


def test_presets_help_names_the_tables_columns(capsys):
    assert main(["presets"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header == ["name", "alias", "parameters", "cached"]
    commands = dict(_commands(build_parser()))
    description = " ".join(commands[("presets",)].description.split())
    table_part, _, json_part = description.partition("--json")
    assert "name, alias, parameters and cached" in table_part
    assert "description" not in table_part and "handle" not in table_part
    assert "description" in json_part and "handle" in json_part
    assert main(["presets", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert {"description", "handle", "cached"} <= set(row)


def test_a_library_choice_error_reads_in_flag_words():
    from densenet_hub.data import find_images

    with pytest.raises(ValueError) as info:
        find_images(["nowhere"], on_error="maybe")
    shown = in_flag_words(info.value, _option_strings(build_parser()))
    assert "`--on-error` must be one of 'skip', 'fail', got 'maybe'" in shown
    assert "on_error" not in shown


def test_assignments_become_flags_and_other_names_stay():
    options = _option_strings(build_parser())
    text = "precision='int8' needs `calibration`; runtime='openvino' with KERAS_BACKEND=jax, seed=3"
    assert in_flag_words(text, options) == (
        "--precision int8 needs `--calibration`; --runtime openvino with KERAS_BACKEND=jax, --seed 3"
    )


@pytest.mark.parametrize("table", [False, True])
def test_evaluate_never_replaces_a_picture_without_overwrite(table, tmp_path, capsys, monkeypatch):
    # Checked before any work: the preset is never even looked up.
    monkeypatch.chdir(tmp_path)
    data = tmp_path / ("labels.csv" if table else "classes")
    picture = tmp_path / ("roc_curves.png" if table else "confusion_matrix.png")
    picture.write_bytes(b"an earlier run's picture")
    if table:
        data.write_text("Path,Effusion\nx.png,1\n")
    assert main(["evaluate", "no_such_preset", str(data)]) == 1
    error = capsys.readouterr().err
    assert error == (
        f"densenet-hub: error: Cannot write {picture.name}: it already exists. Pass "
        "--overwrite to replace it, or choose a new path.\n"
    )
    assert picture.read_bytes() == b"an earlier run's picture"
