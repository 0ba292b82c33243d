"""Test set-up and fixtures shared by every test module.

torch must be imported before TensorFlow in one process (the other order has
crashed on this machine), and keras_hub pulls in TensorFlow, so torch comes
first whenever it is installed.

Shared builders (plain functions, for parametrised tests and module-scoped
fixtures) are in `tests/helpers/`; this folder is on `sys.path` during a
run, so `from helpers.models import build_tiny_backbone` works from any sub-folder.

Tests marked `slow` build full-size models or otherwise take seconds; they
run by default, and `pytest -m "not slow"` skips them for a quick loop.
"""

import importlib.util

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401

import keras
import numpy as np
import pytest
from helpers import models
from stub_servers.huggingface import HuggingFaceStub
from stub_servers.kaggle import KaggleStub
from stub_servers.loopback_guard import loopback_only

# The tests compare float32 numbers with references computed on the CPU. On
# a GPU, JAX, torch's cuDNN and TensorFlow multiply float32 as TF32 by
# default, which moved converted logits by up to 1e-2 on an H200.
if keras.config.backend() == "jax":
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
elif keras.config.backend() == "torch":
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
else:
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(False)


@pytest.fixture(autouse=True)
def _seed_and_reset():
    keras.utils.set_random_seed(1234)
    yield
    # free_memory=False skips a full gc.collect() (about 0.6 s a test).
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# === Tiny models and presets ===


@pytest.fixture
def tiny_backbone():
    """A fresh `helpers.models.build_tiny_backbone()`: two dense blocks of two
    layers, growth rate 4, 32x32x3 images."""
    return models.build_tiny_backbone()


@pytest.fixture
def tiny_classifier(tiny_backbone):
    """A fresh 5-class classifier on `tiny_backbone`, with a preprocessor
    that resizes to 32x32 and scales by 1/255."""
    return models.build_tiny_classifier(tiny_backbone)


@pytest.fixture
def tiny_preset(tiny_classifier, tmp_path):
    """`tiny_classifier` saved as a preset folder in `tmp_path`."""
    folder = tmp_path / "tiny_preset"
    tiny_classifier.save_to_preset(str(folder))
    return folder


# === Hub stubs: the real clients pointed at local servers ===


@pytest.fixture
def guard():
    """The loopback guard's record for this test; fails the test if any
    connection or lookup named a non-loopback host."""
    with loopback_only() as record:
        yield record
    assert record.refused == [], f"non-loopback network use: {record.refused}"


@pytest.fixture
def kaggle(guard, tmp_path, monkeypatch):
    """A Kaggle stub reached by the real kagglehub, with a fresh cache.

    kagglesdk only knows fixed endpoints; `LOCALHOST` means
    `http://localhost`, and the HTTP proxy setting (honoured by `requests`)
    sends those requests to the stub's free port. Requests to 127.0.0.1 (the
    upload URLs, the Hugging Face stub) bypass the proxy.
    """
    stub = KaggleStub()
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1")
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE", "TBE_RUNTIME_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", stub.url)
    monkeypatch.setenv("http_proxy", stub.url)
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "stub-token")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle_config"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    yield stub
    stub.stop()


@pytest.fixture
def hf(guard, tmp_path, monkeypatch):
    """A Hugging Face stub reached by the real huggingface_hub, with a fresh
    cache and no token.

    huggingface_hub reads its settings into `constants` at import (possibly
    before this test), so the constants are set as well as the variables.
    """
    from huggingface_hub import constants

    stub = HuggingFaceStub()
    home = tmp_path / "hf_home"
    settings = {
        "ENDPOINT": stub.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": stub.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_HUB_OFFLINE": False,
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json"),
    }
    for name, value in settings.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setenv("HF_ENDPOINT", stub.url)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    # HUGGING_FACE_HUB_TOKEN is the older name the client still reads.
    names = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_OIDC_RESOURCE")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    yield stub
    stub.stop()
