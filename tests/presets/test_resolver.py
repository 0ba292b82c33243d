"""Resolving a preset argument before anything loads: built-in names and aliases
from the cache, close-match suggestions, bad handles and missing files, all
without network."""

import json
import os
import pathlib

import pytest
from stub_servers.loopback_guard import loopback_only

from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetBackbone
from densenet_hub.presets import resolver


KAGGLE_121 = "models/keras/densenet/keras/densenet_121_imagenet/3"


def _cache_builtin_121(cache, config):
    """Puts a KerasHub-format config for the pinned 121 preset in kagglehub's
    cache, as a finished download leaves it."""
    folder = cache / KAGGLE_121
    folder.mkdir(parents=True)
    (cache / (KAGGLE_121 + ".complete")).write_text("")
    reference = {
        "module": "keras_hub.src.models.densenet.densenet_backbone",
        "class_name": "DenseNetBackbone",
        "config": config,
        "registered_name": "keras_hub>DenseNetBackbone",
    }
    (folder / "config.json").write_text(json.dumps(reference, indent=4))
    return folder


@pytest.mark.slow
def test_builtin_names_and_alias_load_from_cache_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "cache"))
    _cache_builtin_121(
        tmp_path / "cache",
        {"stackwise_num_repeats": [6, 12, 24, 16], "compression_ratio": 0.5, "growth_rate": 32},
    )
    # A folder named like the built-in is shadowed by it, as in KerasHub.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "densenet_121_imagenet").mkdir()
    # The architecture is shrunk by keyword arguments to keep the test fast;
    # the cached config itself must still be the registry's.
    tiny = {"stackwise_num_repeats": [2, 2], "growth_rate": 4, "load_weights": False}

    with loopback_only() as network:
        alias = Backbone.from_preset("densenet121_imagenet", **tiny)
        canonical = DenseNetBackbone.from_preset("densenet_121_imagenet", **tiny)
        same = Backbone.from_preset("densenet_121_imagenet", stem_padding="same", **tiny)

    assert network.connections == [] and network.lookups == []
    source = resolver.resolve("densenet121_imagenet")
    assert source == resolver.resolve("densenet_121_imagenet")
    assert source.directory == tmp_path / "cache" / KAGGLE_121
    assert alias.stem_padding == canonical.stem_padding == "symmetric"
    assert alias.growth_rate == 4
    assert same.stem_padding == "same"


def test_builtin_download_that_is_not_the_registry_preset_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path))
    _cache_builtin_121(
        tmp_path,
        {"stackwise_num_repeats": [6, 12, 24, 16], "compression_ratio": 0.5, "growth_rate": 16},
    )

    with loopback_only(), pytest.raises(ValueError, match="`growth_rate` is 16 but the built-in"):
        Backbone.from_preset("densenet_121_imagenet", load_weights=False)


def test_unknown_name_suggests_close_matches_without_network():
    with loopback_only() as network, pytest.raises(ValueError) as error:
        Backbone.from_preset("densenet_12_imagenet")

    message = str(error.value)
    assert "Did you mean 'densenet_121_imagenet'" in message
    assert "densenet_169_imagenet" in message and "densenet_201_imagenet" in message
    assert network.connections == [] and network.lookups == []


@pytest.mark.parametrize(
    "preset, error, match",
    [
        (123, TypeError, "must be a str"),
        (None, TypeError, "must be a str"),
        ("", ValueError, "empty or only whitespace"),
        ("   ", ValueError, "empty or only whitespace"),
        ("ftp://host/model", ValueError, "unknown scheme 'ftp://'"),
        ("hf://user/../x", ValueError, "Invalid preset handle"),
        ("hf://a/b/c", ValueError, "exactly 2"),
        ("hf://a--b/c", ValueError, "contains '--'"),
        ("kaggle://a/../keras/b", ValueError, "is not a slug"),
        ("kaggle://a/b/c/d/latest", ValueError, "not a positive integer"),
        ("./no/such/folder", ValueError, "does not exist"),
    ],
)
def test_bad_preset_arguments_are_refused_before_any_request(preset, error, match):
    with loopback_only() as network, pytest.raises(error, match=match):
        Backbone.from_preset(preset)
    assert network.connections == []


def test_missing_files_and_file_paths_are_named(tmp_path, tiny_backbone):
    tiny_backbone.save_to_preset(tmp_path / "preset")

    with pytest.raises(ValueError, match="is a file, not a preset folder"):
        Backbone.from_preset(tmp_path / "preset" / "config.json")
    os.remove(tmp_path / "preset" / "model.weights.h5")
    with pytest.raises(ValueError, match=r"no model.weights.h5 \(backbone weights\)"):
        Backbone.from_preset(tmp_path / "preset")
    os.remove(tmp_path / "preset" / "config.json")
    with pytest.raises(ValueError, match=r"no config.json \(the backbone config\)"):
        Backbone.from_preset(pathlib.Path(tmp_path / "preset"), load_weights=False)
