"""Fixtures for the hub tests: stub servers with the real clients pointed at
them, fresh caches per test, and the loopback guard armed throughout.

Import the fixtures a test module needs from here (this is not a conftest,
so other test modules are unaffected).
"""

import random

import pytest
from stub_servers.huggingface import HuggingFaceStub
from stub_servers.kaggle import KaggleStub
from stub_servers.loopback_guard import loopback_only

KAGGLE_VARIATION = "keras/densenet/keras/densenet_121_imagenet"
HF_REPO = "keras/densenet_121_imagenet"


def preset_files(seed=0, weights_size=40_000):
    """The files of a KerasHub-format classifier preset; the weight files
    are random bytes, since these tests move files and never load them."""
    rng = random.Random(seed)
    config = {
        "module": "keras_hub.src.models.densenet.densenet_backbone",
        "class_name": "DenseNetBackbone",
        "config": {"stackwise_num_repeats": [2, 2], "growth_rate": 4, "seed": seed},
        "registered_name": "keras_hub>DenseNetBackbone",
    }
    return {
        "config.json": _json(config),
        "metadata.json": _json({"keras_version": "3.15.1", "parameter_count": 1}),
        "model.weights.h5": rng.randbytes(weights_size),
        "task.json": _json({"class_name": "DenseNetImageClassifier", "config": {}}),
        "task.weights.h5": rng.randbytes(2_000),
        "preprocessor.json": _json({"class_name": "DenseNetImageClassifierPreprocessor"}),
        "image_converter.json": _json({"class_name": "DenseNetImageConverter"}),
    }


def _json(value):
    import json

    return json.dumps(value, indent=4).encode()


def folder_files(folder):
    """`{name: bytes}` of the regular files directly inside `folder`."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(autouse=True)
def _seed_and_reset():
    """Replaces the conftest fixture of this name in the hub test modules:
    they build no Keras objects, and its per-test `clear_session` (a full
    garbage collection, about 0.6 s) would dominate their run time."""
    yield


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
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    yield stub
    stub.stop()


def set_hf_offline(monkeypatch, offline=True):
    """Switch huggingface_hub's offline mode, as HF_HUB_OFFLINE=1 would."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
