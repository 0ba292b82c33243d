"""A benchmark candidate this machine or install cannot run is skipped, with
the reason in the table, and the others still run; `densenet-hub bench`'s
`--json` prints JSON, `--out` writes it, and every option has help text."""

import argparse
import json
import types

import pytest

from densenet_hub.cli.main import build_parser
from densenet_hub.cli.main import main
from densenet_hub.profiling import inference
from densenet_hub.profiling import peers
from densenet_hub.runtime import engines
from helpers.cli import error_line
from helpers.models import build_tiny_backbone

# ONNX Runtime has no bfloat16 kernels, on any CPU.
CANNOT_RUN = "densenet_hub+onnxruntime-bf16"


def test_bfloat16_on_a_cpu_without_it_is_unavailable(monkeypatch):
    class CpuWithoutBfloat16:
        def get_property(self, device, name):
            return ["FP32", "INT8"]

    fake_openvino = types.SimpleNamespace(Core=CpuWithoutBfloat16)
    monkeypatch.setattr(engines, "import_openvino", lambda purpose: fake_openvino)
    with pytest.raises(peers.Unavailable, match="needs a CPU with bfloat16 instructions"):
        peers.ours_accelerated(build_tiny_backbone(), "openvino", "bfloat16")


def test_a_missing_package_is_unavailable(monkeypatch):
    installed = engines.import_package

    def missing(module, extra, purpose):
        return installed("no_such_package_here", extra, purpose)

    monkeypatch.setattr(engines, "import_package", missing)
    with pytest.raises(peers.Unavailable, match="no_such_package_here"):
        peers.ours_accelerated(build_tiny_backbone(), "onnxruntime", "float32")


@pytest.mark.slow
def test_the_run_goes_on_and_the_table_says_why(capsys):
    lines = []
    names = ["densenet_hub", CANNOT_RUN]
    rows = inference.run([121], [32], [1], names, rounds=1, min_seconds=0.01,
                         print_fn=lines.append)  # fmt: skip
    assert [row["candidate"] for row in rows] == ["densenet_hub"]
    header = next(index for index, line in enumerate(lines) if line.startswith("candidate"))
    assert lines[header + 1].startswith("densenet_hub ")
    assert lines[header + 2].startswith(f"{CANNOT_RUN} ")
    assert "skipped: runtime='onnxruntime' runs precision='float32' or 'int8'" in lines[header + 2]
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.slow
def test_json_prints_and_out_writes(tmp_path, capsys):
    out = tmp_path / "results.json"
    args = ["bench", "inference", "--candidates", "densenet_hub", "--sizes", "32",
            "--batches", "1", "--rounds", "1", "--min-seconds", "0.01"]  # fmt: skip
    assert main([*args, "--json", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)  # stdout holds only the JSON
    assert [row["candidate"] for row in printed] == ["densenet_hub"]
    assert "img/s" in captured.err  # the table went to stderr
    assert json.loads(out.read_text()) == printed
    assert main([*args, "--out", str(out)]) == 1
    assert "--overwrite" in error_line(capsys)


def _options(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _options(sub)
        elif not isinstance(action, argparse._HelpAction):
            yield parser.prog, action


def test_every_bench_option_has_help():
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    options = list(_options(commands.choices["bench"]))
    assert {prog.split()[-1] for prog, _ in options} == {"inference", "startup"}
    assert [(prog, action.dest) for prog, action in options if not action.help] == []
