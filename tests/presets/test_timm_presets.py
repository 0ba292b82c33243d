"""timm checkpoints as presets: a folder or `hf://` repository whose
`config.json` has an "architecture" is converted when loaded, in memory, and
the model is built once.

The checkpoint is the committed golden fixture (a tiny densenet121 built and
saved by the real timm, see tools/make_golden_fixtures.py), served as a local
folder and through the Hugging Face stub to the real huggingface_hub client.
"""

import contextlib
import json
import os
import shutil
import sys
import tempfile

import keras
import numpy as np
import pytest

from helpers.paths import GOLDEN
from safetensors.numpy import load_file
from safetensors.numpy import save_file

from densenet_hub.convert import convert
from densenet_hub.layers import DenseNetImageConverter
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


def with_tensors(tmp_path, edit):
    """A copy of the timm fixture whose tensors `edit(tensors)` changed."""
    folder = tmp_path / "edited"
    shutil.copytree(TIMM_FOLDER, folder)
    tensors = load_file(folder / "model.safetensors")
    edit(tensors)
    save_file(tensors, str(folder / "model.safetensors"))
    return folder


# The paths a `files_written` block created or opened for writing, or `None`
# outside one. Python's audit hooks see every `open` and `os.mkdir` of the
# process and cannot be removed, so one hook serves every block.
_written = None
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND


def _record_writes(event, args):
    if _written is None:
        return
    if event == "os.mkdir" or (event == "open" and args[2] & WRITE_FLAGS):
        _written.append(str(args[0]))


sys.addaudithook(_record_writes)


@contextlib.contextmanager
def files_written():
    """Yields the list of paths created or opened for writing meanwhile."""
    global _written
    _written = []
    try:
        yield _written
    finally:
        _written = None


@contextlib.contextmanager
def constructions(*classes):
    """Yields a list that gets each instance of `classes` built meanwhile:
    their real `__init__` runs, wrapped to note the instance."""
    built = []
    originals = {cls: cls.__init__ for cls in classes}

    def noting(original):
        def __init__(self, *args, **kwargs):
            if type(self) in originals:
                built.append(self)
            original(self, *args, **kwargs)

        return __init__

    for cls, original in originals.items():
        cls.__init__ = noting(original)
    try:
        yield built
    finally:
        for cls, original in originals.items():
            cls.__init__ = original


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


def test_a_timm_checkpoint_loads_in_one_pass_as_the_converted_preset_did(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()

    with files_written() as written, constructions(
        DenseNetBackbone, DenseNetImageClassifier
    ) as built:
        model = ImageClassifier.from_preset(TIMM_FOLDER)

    # Converted in memory: no preset folder, no file, built once.
    assert written == []
    assert list((tmp_path / "temp").iterdir()) == []
    assert built == [model.backbone, model]
    # The same model, bit for bit, as the preset that `convert` writes (what
    # loading a timm folder used to do: convert into a folder, load it).
    with files_written() as written:
        preset = convert(TIMM_FOLDER, tmp_path / "preset")
    assert written
    saved = ImageClassifier.from_preset(preset)
    images = np.random.default_rng(1).uniform(-2, 2, (2, 40, 40, 3)).astype("float32")
    assert np.array_equal(
        keras.ops.convert_to_numpy(model(images)), keras.ops.convert_to_numpy(saved(images))
    )
    assert without_names(model.get_config()) == without_names(saved.get_config())
    assert_matches_timm(model)


def without_names(config):
    """A config without its (numbered per session) `name` keys, nested too."""
    if isinstance(config, dict):
        return {key: without_names(value) for key, value in config.items() if key != "name"}
    return config


def test_converted_weights_go_through_the_weight_checks(tmp_path):
    # The two head tensors disagree: the loader's shape check names the variable.
    def shorter_bias(tensors):
        tensors["classifier.bias"] = tensors["classifier.bias"][:4]

    with pytest.raises(ValueError) as error:
        ImageClassifier.from_preset(with_tensors(tmp_path, shorter_bias))
    message = str(error.value)
    assert "`predictions/bias`" in message
    assert "(4,) in the file but the model expects (5,)" in message
    assert message.startswith(str(tmp_path / "edited"))


def test_a_headless_timm_checkpoint_converts_into_a_backbone_preset(tmp_path):
    def headless(tensors):
        del tensors["classifier.weight"], tensors["classifier.bias"]

    folder = with_tensors(tmp_path, headless)
    backbone = Backbone.from_preset(folder)
    classifier = ImageClassifier.from_preset(folder, num_classes=3)

    assert type(backbone) is DenseNetBackbone and classifier.preprocessor is None
    images = np.random.default_rng(2).uniform(-2, 2, (1, 32, 32, 3)).astype("float32")
    assert np.array_equal(
        keras.ops.convert_to_numpy(backbone(images)),
        keras.ops.convert_to_numpy(classifier.backbone(images)),
    )
    with pytest.raises(ValueError, match="it is a backbone preset"):
        ImageClassifier.from_preset(folder)
    with pytest.raises(ValueError) as error:
        DenseNetImageConverter.from_preset(folder)
    assert str(error.value).startswith(f"{folder} converts into a preset without image_converter.json")


def test_non_finite_checkpoint_tensors_are_named_before_anything_is_built(tmp_path):
    def nan(tensors):
        tensors["features.norm0.weight"][0] = np.nan

    folder = with_tensors(tmp_path, nan)
    with constructions(DenseNetBackbone) as built, pytest.raises(ValueError) as error:
        Backbone.from_preset(folder)
    assert "NaN or Inf values in features.norm0.weight -> conv1_bn/gamma" in str(error.value)
    assert built == []


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
