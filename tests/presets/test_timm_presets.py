"""timm checkpoints as presets: a folder or `hf://` repository whose
`config.json` has an "architecture" is converted when loaded.

The checkpoint is the committed golden fixture (a tiny densenet121 built and
saved by the real timm, see tools/make_golden_fixtures.py), served as a local
folder and through the Hugging Face stub to the real huggingface_hub client.
"""

import json
import shutil
import tempfile

import keras
import numpy as np
import pytest

from helpers.paths import GOLDEN

from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier
from densenet_hub.models import ImageClassifierPreprocessor

TIMM_FOLDER = GOLDEN / "timm_densenet121"
TOLERANCE = 1e-4


def fixture_files():
    return {path.name: path.read_bytes() for path in TIMM_FOLDER.iterdir()}


def with_architecture(tmp_path, architecture):
    """A copy of the timm fixture whose config names `architecture`."""
    folder = tmp_path / architecture
    shutil.copytree(TIMM_FOLDER, folder)
    config = json.loads((folder / "config.json").read_text())
    config["architecture"] = architecture
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def channels_last(images):
    return np.transpose(images, (0, 2, 3, 1))


def assert_matches_timm(model):
    """Logits on the golden inputs equal timm's, within TOLERANCE, same top-1."""
    inputs = np.load(GOLDEN / "inputs.npz")
    expected = np.load(GOLDEN / "timm_densenet121_outputs.npz")
    for size in ("even", "odd"):
        # Called directly, the model skips its preprocessor: the golden inputs
        # are already normalised.
        ours = keras.ops.convert_to_numpy(model(channels_last(inputs[f"inputs_{size}"])))
        reference = expected[f"outputs_{size}"]
        assert np.max(np.abs(ours - reference)) <= TOLERANCE, size
        np.testing.assert_array_equal(ours.argmax(-1), reference.argmax(-1))


@pytest.mark.parametrize("cls", [ImageClassifier, DenseNetImageClassifier])
def test_timm_folder_loads_as_a_classifier_with_timm_logits(cls):
    model = cls.from_preset(str(TIMM_FOLDER))

    assert type(model) is DenseNetImageClassifier
    assert model.num_classes == 5
    assert model.backbone.stackwise_num_repeats == [2, 2]
    assert model.backbone.stem_padding == "symmetric"
    assert_matches_timm(model)
    # The preprocessor is timm's eval transform from the pretrained config.
    converter = model.preprocessor.image_converter
    assert type(model.preprocessor) is DenseNetImageClassifierPreprocessor
    assert converter.interpolation == "bicubic"
    assert converter.image_size == (224, 224)
    assert converter.crop_pct == 0.875
    np.testing.assert_allclose(
        converter.scale, 1 / (255 * np.array([0.229, 0.224, 0.225])), rtol=1e-6
    )


def test_backbone_and_preprocessor_of_a_timm_folder():
    classifier = DenseNetImageClassifier.from_preset(TIMM_FOLDER)
    backbone = Backbone.from_preset(TIMM_FOLDER)
    preprocessor = ImageClassifierPreprocessor.from_preset(TIMM_FOLDER)

    assert type(backbone) is DenseNetBackbone
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    assert np.array_equal(
        keras.ops.convert_to_numpy(backbone(images)),
        keras.ops.convert_to_numpy(classifier.backbone(images)),
    )
    # Names are numbered per session, so each conversion's differ.
    configs = [
        {**p.image_converter.get_config(), "name": None}
        for p in (preprocessor, classifier.preprocessor)
    ]
    assert configs[0] == configs[1]


def test_keyword_arguments_and_fresh_weights_apply_to_timm_checkpoints():
    bigger = DenseNetImageClassifier.from_preset(
        TIMM_FOLDER, num_classes=3, image_shape=(48, 48, 3), stem_padding="same"
    )
    fresh = Backbone.from_preset(TIMM_FOLDER, load_weights=False)
    converted = Backbone.from_preset(TIMM_FOLDER)

    assert bigger.num_classes == 3
    assert bigger.backbone.image_shape == (48, 48, 3)
    assert bigger.backbone.stem_padding == "same"
    assert {**fresh.get_config(), "name": None} == {**converted.get_config(), "name": None}
    stem = [keras.ops.convert_to_numpy(m.get_layer("conv1_conv").kernel) for m in (fresh, converted)]
    assert np.max(np.abs(stem[0] - stem[1])) > 1e-3


def test_the_temporary_conversion_is_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    DenseNetImageClassifier.from_preset(TIMM_FOLDER)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("architecture", ["densenetblur121d", "densenet264d", "resnet50"])
def test_architectures_densenet_backbone_cannot_express_are_named(tmp_path, architecture):
    folder = with_architecture(tmp_path, architecture)

    with pytest.raises(ValueError) as error:
        Backbone.from_preset(folder)

    message = str(error.value)
    assert repr(architecture) in message
    for supported in ("densenet121", "densenet161", "densenet169", "densenet201"):
        assert supported in message


def test_weights_linked_out_of_the_folder_are_refused(tmp_path):
    folder = tmp_path / "timm"
    folder.mkdir()
    shutil.copy(TIMM_FOLDER / "config.json", folder)
    (folder / "model.safetensors").symlink_to(TIMM_FOLDER / "model.safetensors")

    with pytest.raises(ValueError, match="outside the preset folder"):
        ImageClassifier.from_preset(folder)


def test_hf_timm_repository_is_downloaded_and_converted(hf, guard):
    files = fixture_files()
    # Files the download must not fetch: timm repos also hold a pickle.
    hf.add_commit("timm/densenet121.tv_in1k", {**files, "pytorch_model.bin": b"pickle"})

    model = ImageClassifier.from_preset("hf://timm/densenet121.tv_in1k")

    assert_matches_timm(model)
    fetched = {p.rsplit("/", 1)[1] for p in hf.paths("GET") if "/resolve/" in p}
    assert fetched == {"config.json", "model.safetensors"}
    assert {host for _, host, _ in guard.connections} == {"127.0.0.1"}


def test_builtin_densenet_161_is_converted_from_timm_and_checked(hf):
    # The stub serves the tiny densenet121 under DenseNet-161's repository:
    # the conversion runs, and the registry's check refuses the result.
    commit = hf.add_commit("timm/densenet161.tv_in1k", fixture_files())

    with pytest.raises(ValueError) as error:
        Backbone.from_preset("densenet161_imagenet")

    message = str(error.value)
    assert (
        "`stackwise_num_repeats` is [2, 2] but the built-in preset "
        "'densenet_161_imagenet' has [6, 12, 36, 24]" in message
    )
    # It names the download, not the temporary conversion.
    assert message.split(":")[0].endswith(f"/snapshots/{commit}")
    assert any("timm/densenet161.tv_in1k" in path for path in hf.paths("GET"))
