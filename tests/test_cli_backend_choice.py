"""The real `densenet-hub` entry point with `KERAS_BACKEND` unset: it picks
an installed backend and says which (TensorFlow missing made every command,
`--help` included, end in a Keras traceback), and `--help` works with no
backend at all. "Not installed" is a package on PYTHONPATH whose import
fails as a missing one does."""

import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(sys.executable).with_name("densenet-hub")
REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def _hide(folder, *modules):
    for module in modules:
        package = folder / module
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{module}'\", name={module!r})\n"
        )
    return folder


def _run(command, tmp_path, hidden):
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(_hide(tmp_path / "hidden", *hidden)), str(REPO_ROOT)])
    env["KERAS_HOME"] = str(tmp_path / "keras_home")  # no keras.json naming a backend
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
    )


@pytest.mark.slow
def test_without_tensorflow_an_installed_backend_is_chosen_and_named(tmp_path):
    result = _run([str(SCRIPT), "presets"], tmp_path, ["tensorflow"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    notes = [line for line in result.stderr.splitlines() if "using the" in line]
    assert notes == [
        "densenet_hub: KERAS_BACKEND is not set; using the jax backend "
        "(set KERAS_BACKEND to choose: jax, torch, tensorflow)."
    ]
    assert "densenet_121_imagenet" in result.stdout


@pytest.mark.slow
def test_python_dash_m_without_tensorflow_or_jax(tmp_path):
    # --help chooses no backend (it imports none); a command does.
    result = _run([sys.executable, "-m", "densenet_hub", "--help"], tmp_path, ["tensorflow", "jax"])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "predict" in result.stdout
    result = _run([sys.executable, "-m", "densenet_hub", "presets"], tmp_path, ["tensorflow", "jax"])
    assert result.returncode == 0, result.stderr
    assert "using the torch backend" in result.stderr and "Traceback" not in result.stderr


def test_help_and_errors_without_any_backend(tmp_path):
    hidden = ["tensorflow", "jax", "torch"]
    result = _run([str(SCRIPT), "--help"], tmp_path, hidden)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: densenet-hub")
    assert "pip install 'densenet-hub[jax]'" in " ".join(result.stdout.split())

    result = _run([str(SCRIPT), "presets"], tmp_path, hidden)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("densenet-hub: error: densenet_hub needs a Keras backend")


def test_library_import_without_any_backend_says_what_to_install(tmp_path):
    # `import densenet_hub` chooses nothing; the first module that imports
    # Keras gets the choice, and with no backend the error that fixes it.
    code = "import densenet_hub; import densenet_hub.models"
    result = _run([sys.executable, "-c", code], tmp_path, ["tensorflow", "jax", "torch"])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "densenet_hub.base.backend.NoKerasBackendError: densenet_hub needs a Keras backend"
    )
