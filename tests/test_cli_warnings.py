"""Warnings in the shell: each distinct one once, as a `densenet-hub:
warning:` line, and none from NumPy 2's `__array__` copy keyword, which
`densenet-hub convert` used to print for every weight it saved."""

import os
import subprocess
import sys
import warnings

import pytest
from helpers.paths import GOLDEN

from densenet_hub.cli.shell import warnings_as_lines

CHECKPOINT = GOLDEN / "torchvision_densenet.safetensors"


def _convert(out, *python_options, backend=None):
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    if backend:
        env["KERAS_BACKEND"] = backend
    command = [sys.executable, *python_options, "-m", "densenet_hub", "--debug", "convert"]
    return subprocess.run(
        [*command, str(CHECKPOINT), str(out)], capture_output=True, text=True, env=env, timeout=300
    )


def _warning_lines(stderr):
    # Python's (`file:line: DeprecationWarning: ...`) and the shell's
    # (`densenet-hub: warning: ...`); TensorFlow's C++ log lines are neither.
    return [line for line in stderr.splitlines() if "Warning:" in line or "warning:" in line]


@pytest.mark.slow
def test_convert_prints_no_warning(tmp_path):
    result = _convert(tmp_path / "preset")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {tmp_path / 'preset'}: DenseNetImageClassifier")
    assert "__array__" not in result.stderr
    assert _warning_lines(result.stderr) == []


@pytest.mark.slow
def test_our_code_never_hands_numpy_a_keras_variable(tmp_path):
    # With the warning an error, any call of ours that converts a Keras
    # variable with NumPy fails the command. On JAX only: on torch and
    # TensorFlow, Keras' own convert_to_numpy calls np.array on a
    # torch.Tensor or tf.Variable, whose __array__ takes no `copy` either
    # (pyproject.toml's filter says so).
    result = _convert(tmp_path / "preset", "-W", "error::DeprecationWarning", backend="jax")
    assert result.returncode == 0, result.stderr[-3000:]


def test_each_distinct_warning_is_shown_once(capsys):
    with warnings_as_lines():
        for _ in range(3):
            warnings.warn("no preprocessor")
            warnings.warn("threshold of Effusion is 0")
            warnings.warn(RuntimeWarning("no preprocessor"))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "densenet-hub: warning: no preprocessor",
        "densenet-hub: warning: threshold of Effusion is 0",
    ]
