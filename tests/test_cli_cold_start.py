"""`densenet-hub --help`, every command's `--help`, `--version` and usage
errors import neither Keras nor a backend nor NumPy (they took 4.5 s when
they did; benchmarks/bench_cold_start.py times them), and the choices the
parsers offer from `densenet_hub.base.choices` are those the library acts on.
"""

import json
import os
import subprocess
import sys

from densenet_hub.base import choices
from densenet_hub.cli.main import build_parser

HEAVY = ("keras", "jax", "tensorflow", "torch", "numpy", "PIL", "scipy", "matplotlib")
# Each runs through `main` in one fresh interpreter; after each, the heavy
# top-level packages then in `sys.modules` are recorded.
CHILD = f"""
import json, sys
from densenet_hub.cli.main import main
results = []
for argv in json.loads(sys.argv[1]):
    try:
        status = main(argv)
    except SystemExit as exit:
        status = exit.code
    loaded = sorted({{name.partition(".")[0] for name in sys.modules}} & set({HEAVY!r}))
    results.append([argv, status, loaded])
print(json.dumps(results), file=sys.__stdout__)
"""


def _command_names():
    subparsers = build_parser()._subparsers._group_actions[0]
    return sorted(subparsers.choices)


def _run_child(argvs):
    env = dict(os.environ)
    # The backend choice is part of what must not happen; with the variable
    # unset, choosing would import a backend to check it.
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(argvs)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_help_version_and_usage_errors_import_nothing_heavy():
    commands = _command_names()
    assert {"predict", "train", "evaluate", "serve", "demo"} <= set(commands)
    argvs = [["--help"], ["--version"], ["no-such-command"], ["predict"],
             ["predict", "p", "i.png", "--top-k", "0"], ["embed", "p", "i", "--pooling", "mean"],
             ["export", "p", "out", "--format", "tflite"], ["bench", "inference", "--depths", "7"]]  # fmt: skip
    argvs += [[command, "--help"] for command in commands]
    argvs += [["bench", "inference", "--help"], ["bench", "startup", "--help"]]
    results = _run_child(argvs)
    assert len(results) == len(argvs)
    for argv, status, loaded in results:
        usage_error = argv[0] == "no-such-command" or "--help" not in argv and argv != ["--version"]
        assert status == (2 if usage_error else 0), argv
        assert loaded == [], f"densenet-hub {' '.join(argv)} imported {loaded}"


def test_the_parsers_choices_are_the_librarys():
    from densenet_hub.inference import embedding
    from densenet_hub.models.densenet import densenet_layout
    from densenet_hub.runtime import engines

    assert choices.POOLING_CHOICES == (*embedding.POOLERS, "none")
    assert choices.RUNTIMES == tuple(engines.ENGINES)
    published = sorted(depth for depth, spec in densenet_layout.DEPTHS.items() if spec.default_widths)
    assert list(choices.BENCH_DEPTHS) == published
    # Every INT8 format is an export format and its runtime a runtime.
    assert set(choices.INT8_RUNTIMES) <= set(choices.EXPORT_FORMATS)
    assert set(choices.INT8_RUNTIMES.values()) <= set(choices.RUNTIMES)


def test_images_needed_keeps_both_minimums():
    for held_out in (0.05, 0.1, 0.2, 0.5, 0.9):
        needed = choices.images_needed(held_out)
        held = choices.held_out_count(needed, held_out)
        assert held >= choices.MIN_HELD_OUT_IMAGES
        assert needed - held >= choices.MIN_CALIBRATION_IMAGES
        fewer = needed - 1
        held = choices.held_out_count(fewer, held_out)
        assert held < choices.MIN_HELD_OUT_IMAGES or fewer - held < choices.MIN_CALIBRATION_IMAGES
