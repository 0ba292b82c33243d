"""Presets on the local side: built-in names, `from_preset` on every class,
`save_to_preset` round trips, config precedence. Tiny models throughout."""

import json
import os
import pathlib

import h5py
import keras
import numpy as np
import pytest
from stub_servers.loopback_guard import loopback_only

from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.layers import ImageConverter
from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier
from densenet_hub.models import ImageClassifierPreprocessor
from densenet_hub.models.densenet.densenet_config import backbone_size
from densenet_hub.models.densenet.densenet_presets import DENSENET_PRESETS
from densenet_hub.presets import resolver
from densenet_hub.presets import weights

TINY = {"stackwise_num_repeats": [2, 2], "growth_rate": 4, "image_shape": (32, 32, 3)}
KERAS_HUB_FILES = {"config.json", "metadata.json", "model.weights.h5"}
TASK_FILES = KERAS_HUB_FILES | {
    "task.json",
    "task.weights.h5",
    "preprocessor.json",
    "image_converter.json",
}
KAGGLE_121 = "models/keras/densenet/keras/densenet_121_imagenet/3"


def tiny_backbone(**kwargs):
    return DenseNetBackbone(**{**TINY, **kwargs})


def tiny_classifier(**kwargs):
    converter = DenseNetImageConverter(
        image_size=(32, 32), scale=[1 / 58.0, 1 / 57.0, 1 / 57.5], offset=[-2.1, -2.0, -1.8]
    )
    return DenseNetImageClassifier(
        tiny_backbone(**kwargs),
        num_classes=5,
        preprocessor=DenseNetImageClassifierPreprocessor(converter),
        activation="softmax",
    )


def max_diff(a, b):
    return float(np.max(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b))))


@pytest.fixture
def images(rng):
    return rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")


@pytest.fixture
def raw_images(rng):
    return rng.integers(0, 256, size=(3, 40, 48, 3)).astype("uint8")


@pytest.mark.parametrize("stem_padding", ["symmetric", "same"])
def test_backbone_round_trip_is_bitwise(tmp_path, images, stem_padding):
    backbone = tiny_backbone(stem_padding=stem_padding)
    backbone.save_to_preset(tmp_path / "preset")

    by_path = Backbone.from_preset(tmp_path / "preset")
    by_str = DenseNetBackbone.from_preset(str(tmp_path / "preset"))

    assert type(by_path) is DenseNetBackbone
    assert by_path.stem_padding == by_str.stem_padding == stem_padding
    assert max_diff(backbone(images), by_path(images)) == 0.0
    assert max_diff(backbone(images), by_str(images)) == 0.0


def test_keras_hub_expressible_backbone_is_saved_with_keras_hub_names(tmp_path):
    tiny_backbone(stem_padding="same").save_to_preset(tmp_path)

    assert {p.name for p in tmp_path.iterdir()} == KERAS_HUB_FILES
    text = (tmp_path / "config.json").read_text()
    assert text.startswith('{\n    "module": ')  # indent 4, as KerasHub
    config = json.loads(text)
    assert config["module"] == "keras_hub.src.models.densenet.densenet_backbone"
    assert config["registered_name"] == "keras_hub>DenseNetBackbone"
    for key in ("stem_padding", "stem_filters", "data_format"):
        assert key not in config["config"]
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["keras_hub_compatible"] is True
    assert metadata["parameter_count"] == tiny_backbone().count_params()


def test_backbone_keras_hub_cannot_express_keeps_our_keys(tmp_path):
    tiny_backbone(stem_padding="symmetric").save_to_preset(tmp_path)

    config = json.loads((tmp_path / "config.json").read_text())
    assert config["module"] == "densenet_hub.models.densenet.densenet_backbone"
    assert config["registered_name"] == "densenet_hub>DenseNetBackbone"
    assert config["config"]["stem_padding"] == "symmetric"
    assert "stem_filters" not in config["config"]  # 64, as KerasHub
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["keras_hub_compatible"] is False
    assert metadata["keras_hub_incompatibilities"] == [
        "stem_padding='symmetric' (KerasHub's DenseNetBackbone only does 'same')"
    ]


def test_extra_metadata_is_written_in_the_same_save(tmp_path, images):
    classifier = tiny_classifier()
    extra = {"trained_on": "flowers", "epochs": 3, "source": {"sha256": "ab" * 32}}

    classifier.save_to_preset(tmp_path / "preset", metadata=extra)

    assert [p.name for p in tmp_path.iterdir()] == ["preset"]  # nothing staged is left
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert {key: metadata[key] for key in extra} == extra
    assert metadata["parameter_count"] == classifier.backbone.count_params()
    reloaded = DenseNetImageClassifier.from_preset(tmp_path / "preset")
    assert max_diff(classifier(images), reloaded(images)) == 0.0


@pytest.mark.parametrize(
    "metadata, error, match",
    [
        ({"parameter_count": 1}, ValueError, r"keys \['parameter_count'\] are written by the saver"),
        ({"loss": float("nan")}, TypeError, "only JSON values"),
        ({"data": pathlib.Path("photos")}, TypeError, "only JSON values"),
        (["trained_on"], TypeError, "must be a dict with str keys, got list"),
        ({1: "one"}, TypeError, "must be a dict with str keys"),
    ],
)
def test_bad_metadata_is_refused_and_nothing_is_written(tmp_path, metadata, error, match):
    with pytest.raises(error, match=match):
        tiny_backbone().save_to_preset(tmp_path / "preset", metadata=metadata)
    assert list(tmp_path.iterdir()) == []


def test_metadata_needs_a_preset_with_a_metadata_file(tmp_path):
    preprocessor = tiny_classifier().preprocessor

    with pytest.raises(ValueError, match="DenseNetImageClassifierPreprocessor preset has no"):
        preprocessor.save_to_preset(tmp_path / "preset", metadata={"note": "x"})
    assert list(tmp_path.iterdir()) == []


def test_weight_files_match_keras_save_weights(tmp_path):
    """Our writer gives Keras' own `.weights.h5` layout, value for value."""
    classifier = tiny_classifier()
    classifier.backbone.save_weights(tmp_path / "keras.weights.h5")
    (tmp_path / "ours.weights.h5").write_bytes(
        weights.weights_file_bytes(weights.weight_layout(classifier.backbone))
    )
    classifier.save_weights(tmp_path / "task_keras.weights.h5")
    head = weights.weight_layout(classifier, skip=[classifier.backbone])

    def datasets(path):
        found = {}
        with h5py.File(path) as file:
            file.visititems(
                lambda name, item: found.__setitem__(name, item[()])
                if isinstance(item, h5py.Dataset)
                else None
            )
        return found

    keras_file, ours = datasets(tmp_path / "keras.weights.h5"), datasets(tmp_path / "ours.weights.h5")
    assert sorted(keras_file) == sorted(ours)
    assert max(max_diff(keras_file[k], ours[k]) for k in ours) == 0.0
    assert sorted(head) == ["layers/dense/vars/0", "layers/dense/vars/1"]
    task_file = datasets(tmp_path / "task_keras.weights.h5")
    assert max_diff(task_file["layers/dense/vars/0"], head["layers/dense/vars/0"]) == 0.0


def test_config_without_stem_padding_means_same_and_kwargs_override(tmp_path, images):
    same = tiny_backbone(stem_padding="same")
    same.save_to_preset(tmp_path)
    assert "stem_padding" not in json.loads((tmp_path / "config.json").read_text())["config"]

    loaded = Backbone.from_preset(tmp_path)
    overridden = Backbone.from_preset(tmp_path, stem_padding="symmetric")

    assert loaded.stem_padding == "same"
    assert max_diff(same(images), loaded(images)) == 0.0
    assert overridden.stem_padding == "symmetric"
    # Same weights, other padding: at 32x32 "same" pads asymmetrically.
    assert max_diff(same(images), overridden(images)) > 1e-3


def test_kwargs_override_image_shape_and_dtype(tmp_path):
    backbone = tiny_backbone()
    backbone.save_to_preset(tmp_path)

    bigger = Backbone.from_preset(tmp_path, image_shape=(64, 64, 3))
    half = Backbone.from_preset(tmp_path, dtype="bfloat16")

    assert bigger.output.shape[1:3] == (8, 8)
    assert max_diff(bigger.get_layer("bn").gamma, backbone.get_layer("bn").gamma) == 0.0
    assert half.dtype_policy.name == "bfloat16"
    assert {keras.backend.standardize_dtype(v.dtype) for v in half.weights} == {"bfloat16"}
    kernel = backbone.get_layer("conv1_conv").kernel
    half_kernel = half.get_layer("conv1_conv").kernel
    assert max_diff(keras.ops.cast(kernel, "bfloat16"), half_kernel) == 0.0


def test_load_weights_false_gives_the_architecture_with_fresh_weights(tmp_path):
    backbone = tiny_backbone()
    backbone.save_to_preset(tmp_path)

    fresh = Backbone.from_preset(tmp_path, load_weights=False)

    assert fresh.count_params() == backbone.count_params()
    kernel = backbone.get_layer("conv1_conv").kernel
    assert max_diff(kernel, fresh.get_layer("conv1_conv").kernel) > 0


def test_class_is_inferred_and_checked(tmp_path):
    @keras.saving.register_keras_serializable(package="test_presets_local")
    class OtherBackbone(Backbone):
        pass

    tiny_backbone().save_to_preset(tmp_path)

    assert type(Backbone.from_preset(tmp_path)) is DenseNetBackbone
    with pytest.raises(ValueError, match="DenseNetBackbone, which is not a OtherBackbone"):
        OtherBackbone.from_preset(tmp_path)
    with pytest.raises(ValueError, match="no image_converter.json"):
        ImageConverter.from_preset(tmp_path)


def test_classifier_round_trip_with_preprocessor(tmp_path, images, raw_images):
    classifier = tiny_classifier(stem_padding="same")
    classifier.save_to_preset(tmp_path)

    loaded = ImageClassifier.from_preset(tmp_path)

    assert {p.name for p in tmp_path.iterdir()} == TASK_FILES
    task = json.loads((tmp_path / "task.json").read_text())
    assert task["registered_name"] == "keras_hub>DenseNetImageClassifier"
    assert type(loaded) is DenseNetImageClassifier
    assert type(loaded.preprocessor) is DenseNetImageClassifierPreprocessor
    assert type(loaded.preprocessor.image_converter) is DenseNetImageConverter
    assert loaded.activation == "softmax"
    assert max_diff(classifier(images), loaded(images)) == 0.0
    preprocessed = classifier.preprocessor(raw_images)
    assert max_diff(preprocessed, loaded.preprocessor(raw_images)) == 0.0
    assert max_diff(classifier(preprocessed), loaded(preprocessed)) == 0.0


def test_num_classes_gives_a_fresh_head_on_the_pretrained_backbone(tmp_path, images):
    classifier = tiny_classifier()
    classifier.save_to_preset(tmp_path)

    retargeted = DenseNetImageClassifier.from_preset(tmp_path, num_classes=7)

    assert retargeted.output_dense.kernel.shape == (44, 7)
    assert max_diff(classifier.backbone(images), retargeted.backbone(images)) == 0.0
    assert retargeted.preprocessor is not None


def test_a_backbone_preset_needs_num_classes_for_a_task(tmp_path, images):
    backbone = tiny_backbone()
    backbone.save_to_preset(tmp_path)

    with pytest.raises(ValueError, match="needs num_classes=N"):
        ImageClassifier.from_preset(tmp_path)
    classifier = ImageClassifier.from_preset(tmp_path, num_classes=3, pooling="max")

    assert type(classifier) is DenseNetImageClassifier
    assert classifier.preprocessor is None and classifier.pooling == "max"
    assert max_diff(backbone(images), classifier.backbone(images)) == 0.0


def test_preprocessor_and_converter_round_trip(tmp_path, raw_images):
    preprocessor = tiny_classifier().preprocessor
    preprocessor.save_to_preset(tmp_path)

    assert {p.name for p in tmp_path.iterdir()} == {"preprocessor.json", "image_converter.json"}
    loaded = ImageClassifierPreprocessor.from_preset(tmp_path)
    converter = ImageConverter.from_preset(tmp_path, image_size=(16, 16))

    assert type(loaded) is DenseNetImageClassifierPreprocessor
    assert max_diff(preprocessor(raw_images), loaded(raw_images)) == 0.0
    assert type(converter) is DenseNetImageConverter
    assert tuple(converter(raw_images).shape) == (3, 16, 16, 3)


def test_presets_property_lists_the_registry_on_every_class():
    for cls in (
        Backbone,
        DenseNetBackbone,
        ImageClassifier,
        DenseNetImageClassifier,
        ImageClassifierPreprocessor,
        DenseNetImageConverter,
    ):
        presets = cls.presets
        assert sorted(presets) == [
            "densenet_121_imagenet",
            "densenet_161_imagenet",
            "densenet_169_imagenet",
            "densenet_201_imagenet",
        ]
    entry = Backbone.presets["densenet_121_imagenet"]
    assert entry["metadata"]["params"] == 7_037_504
    assert entry["metadata"]["aliases"] == ["densenet121_imagenet"]
    assert entry["metadata"]["overrides"] == {"stem_padding": "symmetric"}
    assert entry["kaggle_handle"] == "kaggle://keras/densenet/keras/densenet_121_imagenet/3"
    assert entry["hf_handle"] == "hf://keras/densenet_121_imagenet"
    assert Backbone.presets["densenet_201_imagenet"]["metadata"]["params"] == 18_321_984
    # DenseNet-161 has one handle, timm's repository, converted on load.
    entry = Backbone.presets["densenet_161_imagenet"]
    assert entry["metadata"]["aliases"] == ["densenet161_imagenet"]
    assert entry["handles"] == ["hf://timm/densenet161.tv_in1k"]
    assert entry["kaggle_handle"] == entry["hf_handle"] == "hf://timm/densenet161.tv_in1k"


@pytest.mark.parametrize("preset", DENSENET_PRESETS, ids=lambda preset: preset.name)
def test_each_builtin_states_the_parameter_count_of_its_model(preset):
    config = {**preset.config, **preset.overrides, "image_shape": (224, 224, 3)}
    # Shapes only: allocating DenseNet-201's values would take seconds.
    with keras.StatelessScope(initialize_variables=False):
        backbone = DenseNetBackbone(**config)
        count = sum(int(np.prod(variable.shape)) for variable in backbone.weights)
    assert count == preset.parameter_count
    assert backbone_size(config)[0] == preset.parameter_count


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


def test_missing_files_and_file_paths_are_named(tmp_path):
    tiny_backbone().save_to_preset(tmp_path / "preset")

    with pytest.raises(ValueError, match="is a file, not a preset folder"):
        Backbone.from_preset(tmp_path / "preset" / "config.json")
    os.remove(tmp_path / "preset" / "model.weights.h5")
    with pytest.raises(ValueError, match=r"no model.weights.h5 \(backbone weights\)"):
        Backbone.from_preset(tmp_path / "preset")
    os.remove(tmp_path / "preset" / "config.json")
    with pytest.raises(ValueError, match=r"no config.json \(the backbone config\)"):
        Backbone.from_preset(pathlib.Path(tmp_path / "preset"), load_weights=False)
