"""Data for the hub tests: preset files to serve, the stubs' names, and
huggingface_hub's offline switch and token. The `guard`, `kaggle` and `hf` fixtures
(stub servers with the real clients pointed at them) are in
`tests/conftest.py`."""

import random

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


def set_hf_offline(monkeypatch, offline=True):
    """Switch huggingface_hub's offline mode, as HF_HUB_OFFLINE=1 would."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")


def set_hf_token(monkeypatch, token="hf_stub_token"):
    """Give huggingface_hub a token, as HF_TOKEN does (it reads the variable
    on every request). The Hugging Face stub takes any token as the owner's."""
    monkeypatch.setenv("HF_TOKEN", token)
