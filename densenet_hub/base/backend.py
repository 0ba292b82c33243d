"""Which Keras backend to run on, decided before anything imports Keras.

Keras fixes its backend when it is first imported: `KERAS_BACKEND`, else
the `backend` of `$KERAS_HOME/keras.json` (`~/.keras/keras.json`, which
Keras writes on first use with "tensorflow"), else TensorFlow. On a machine
without TensorFlow and with neither set, `import keras` fails with a
traceback, although `jax` or `torch` may be installed. This module keeps
the user's choice when it can run and otherwise picks an installed backend,
says which on stderr once, and sets `KERAS_BACKEND` so that child processes
use the same one.
"""

import importlib
import json
import os
import sys

# Preference when the user chose nothing that runs: JAX first, as the
# README's set-up installs it and its demo, CPU inference and multi-device
# training are measured on it; torch next, still a light import with every
# feature but multi-device training; TensorFlow last, the slowest to import
# (seconds on every command) and the one whose absence brought us here.
PREFERENCE = ("jax", "torch", "tensorflow")
INSTALL_FIX = (
    "pip install 'densenet-hub[jax]' (or [torch], or [tensorflow]) and, "
    "optionally, choose it with KERAS_BACKEND=jax"
)


def choose_backend():
    """Sets `KERAS_BACKEND` to a backend that can be imported, unless the
    user's choice (the variable, or Keras' `keras.json`) can be.

    Returns:
        The backend Keras will use, or None when none of jax, torch and
        tensorflow can be imported (then nothing is set).
    """
    if "KERAS_BACKEND" in os.environ:
        return os.environ["KERAS_BACKEND"]
    configured = _configured_backend()
    if configured in PREFERENCE and _importable(configured):
        return configured
    for backend in PREFERENCE:
        if _importable(backend):
            os.environ["KERAS_BACKEND"] = backend
            unusable = f"{configured} from keras.json is not installed" if configured else (
                "KERAS_BACKEND is not set"
            )
            print(
                f"densenet_hub: {unusable}; using the {backend} backend "
                f"(set KERAS_BACKEND to choose: {', '.join(PREFERENCE)}).",
                file=sys.stderr,
            )
            return backend
    return None


def choose_backend_on_keras_import():
    """Makes the first `import keras` call `choose_backend` first, so that
    `import densenet_hub`, `densenet-hub --help` and a usage error choose
    nothing and import no backend (seconds for TensorFlow), while any
    module that imports Keras still gets a backend that runs.

    With no backend, that import fails with `NoKerasBackendError`, which
    says what to install. Nothing changes once Keras is imported.
    """
    if "keras" in sys.modules:
        return
    if not any(isinstance(finder, _ChooseBeforeKeras) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ChooseBeforeKeras())


class _ChooseBeforeKeras:
    """An import finder that finds nothing: it chooses the backend when
    `keras` is looked up, and leaves the finding to Python's finders."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        # Out of the way first: importing a backend (TensorFlow) may look up
        # `keras` itself.
        sys.meta_path.remove(self)
        if choose_backend() is None:
            sys.meta_path.insert(0, self)
            raise NoKerasBackendError()
        return None


class NoKerasBackendError(ImportError):
    """None of Keras' backends (jax, torch, tensorflow) can be imported."""

    def __init__(self):
        super().__init__(
            "densenet_hub needs a Keras backend, and none of "
            f"{', '.join(PREFERENCE)} can be imported. Fix: {INSTALL_FIX}."
        )


def _configured_backend():
    """The backend named in Keras' `keras.json`, found as Keras finds it."""
    if "KERAS_HOME" in os.environ:
        folder = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        base = home if os.access(home, os.W_OK) else "/tmp"
        folder = os.path.join(base, ".keras")
    try:
        with open(os.path.join(folder, "keras.json")) as file:
            backend = json.load(file).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return backend if isinstance(backend, str) else None


def _importable(module):
    # Importing, not just finding, the package: a broken or partial install
    # fails here rather than inside Keras. Keras imports it next anyway.
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
