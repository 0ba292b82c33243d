"""torchvision / timm checkpoints -> densenet_hub: golden parity, safe loading,
strict mapping.

The golden fixtures (tests/fixtures/golden, made by
tools/make_golden_fixtures.py with the real torchvision 0.29.1 and timm) hold
small random DenseNets and their eval-mode outputs on fixed inputs, so these
tests need neither torchvision nor timm. `.pth` files need torch; the tests
that read them are skipped when it is absent.
"""

import hashlib
import importlib.util
import json
import pickle
import subprocess
import warnings

import keras
import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

from helpers.paths import GOLDEN

from densenet_hub.convert import EvalTransform
from densenet_hub.convert import convert
from densenet_hub.convert import load_checkpoint
from densenet_hub.convert import load_torch_state_dict
from densenet_hub.convert.mapping import apply_mapping
from densenet_hub.convert.mapping import oihw_to_hwio
from densenet_hub.convert.mapping import out_in_to_in_out
from densenet_hub.convert.torch_mapping import TORCH_BN_EPSILON
from densenet_hub.convert.torch_mapping import infer_torch_architecture
from densenet_hub.convert.torch_mapping import mapping_table
from densenet_hub.convert.torch_mapping import normalize_torch_keys
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier

MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
TOLERANCE = 1e-4
HAS_TORCH = importlib.util.find_spec("torch") is not None
requires_torch = pytest.mark.skipif(
    not HAS_TORCH, reason="reading .pth needs torch (pip install torch)"
)

# (fixture, file or folder, source_format, activation)
GOLDEN_CASES = [
    pytest.param(
        "torchvision_densenet", "torchvision_densenet.pth", None, None,
        marks=requires_torch, id="torchvision-pth",
    ),
    pytest.param(
        "torchvision_densenet", "torchvision_densenet.safetensors", None, None,
        id="torchvision-safetensors",
    ),
    pytest.param(
        "chexnet_style_legacy", "chexnet_style_legacy.pth", None, "sigmoid",
        marks=requires_torch, id="legacy-keys-module-prefix",
    ),
    pytest.param(
        "timm_densenet121", "timm_densenet121", None, None, id="timm-hf-folder"
    ),
    pytest.param(
        "timm_densenet121", "timm_densenet121/model.safetensors", "timm", None,
        id="timm-safetensors",
    ),
]


def golden_outputs(name):
    return np.load(GOLDEN / f"{name}_outputs.npz")


def channels_last(images):
    return np.transpose(images, (0, 2, 3, 1))


def golden_tensors():
    return load_torch_state_dict(GOLDEN / "torchvision_densenet.safetensors")


# === Golden parity ===


@pytest.mark.parametrize("fixture, source, source_format, activation", GOLDEN_CASES)
def test_converted_model_matches_the_source_framework(
    fixture, source, source_format, activation
):
    model = load_checkpoint(
        GOLDEN / source, source_format=source_format, activation=activation
    )
    facts = MANIFEST[fixture]
    assert model.backbone.stackwise_num_repeats == facts["stackwise_num_repeats"]
    assert model.backbone.growth_rate == facts["growth_rate"]
    assert model.backbone.stem_filters == facts["stem_filters"]
    assert model.backbone.stem_padding == "symmetric"
    assert model.num_classes == facts["num_classes"]

    inputs = np.load(GOLDEN / "inputs.npz")
    expected = golden_outputs(fixture)
    for size in ("even", "odd"):
        # Called directly, the model skips its preprocessor: the fixture
        # inputs are already preprocessed tensors.
        images = channels_last(inputs[f"inputs_{size}"])
        ours = keras.ops.convert_to_numpy(model(images))
        reference = expected[f"outputs_{size}"]
        assert np.max(np.abs(ours - reference)) <= TOLERANCE, size
        np.testing.assert_array_equal(ours.argmax(axis=-1), reference.argmax(axis=-1))


@requires_torch
def test_pth_and_safetensors_hold_the_same_tensors():
    from_pickle = load_torch_state_dict(GOLDEN / "torchvision_densenet.pth")
    from_safetensors = golden_tensors()
    assert sorted(from_pickle) == sorted(from_safetensors)
    for key, value in from_pickle.items():
        np.testing.assert_array_equal(value, from_safetensors[key])


def test_headless_checkpoint_gives_a_backbone(save_checkpoint):
    tensors = headless(golden_tensors())
    backbone = load_checkpoint(save_checkpoint(tensors))
    assert isinstance(backbone, DenseNetBackbone)
    kernel = keras.ops.convert_to_numpy(backbone.get_layer("conv1_conv").kernel)
    expected = np.transpose(tensors["features.conv0.weight"], (2, 3, 1, 0))
    np.testing.assert_array_equal(kernel, expected)


# === The mapping table ===


def test_mapping_table_names_every_transform():
    rows = mapping_table([2, 3], with_head=True)
    by_source = {row.source: row for row in rows}
    assert by_source["features.conv0.weight"].target == "conv1_conv/kernel"
    assert by_source["features.conv0.weight"].transform is oihw_to_hwio
    assert by_source["classifier.weight"].transform is out_in_to_in_out
    norm = by_source["features.denseblock2.denselayer3.norm2.weight"]
    assert norm.target == "stack2_block3_2_bn/gamma"
    transition = by_source["features.transition1.conv.weight"]
    assert transition.target == "transition1_conv/kernel"
    # num_batches_tracked is listed, and mapped to nothing.
    ignored = [row.source for row in rows if row.target is None]
    assert ignored and all(key.endswith("num_batches_tracked") for key in ignored)
    # Every conv is transposed; nothing but kernels is.
    transposes = (oihw_to_hwio, out_in_to_in_out)
    transposed = {row.source for row in rows if row.transform in transposes}
    kernels = {row.source for row in rows if (row.target or "").endswith("/kernel")}
    assert transposed == kernels


def test_bn_epsilon_is_folded_into_the_variance(save_checkpoint):
    """torch's eps 1e-5 vs Keras' 1.001e-5 matters where the variance is
    tiny: unfolded, a channel of variance 1e-7 would be 5e-4 off, relative."""
    tensors = headless(golden_tensors())
    channels = tensors["features.norm5.running_var"].size
    variance = np.geomspace(1e-7, 1.0, channels).astype("float32")
    tensors["features.norm5.running_var"] = variance
    # Identity affine part, so the output is the normalisation alone.
    tensors["features.norm5.weight"] = np.ones(channels, "float32")
    tensors["features.norm5.bias"] = np.zeros(channels, "float32")
    tensors["features.norm5.running_mean"] = np.zeros(channels, "float32")
    layer = load_checkpoint(save_checkpoint(tensors)).get_layer("bn")
    x = np.random.default_rng(1).normal(size=(4, 4, 4, channels)).astype("float32")
    ours = keras.ops.convert_to_numpy(layer(x, training=False)).astype("float64")
    torch_result = x / np.sqrt(variance.astype("float64") + TORCH_BN_EPSILON)
    assert np.max(np.abs(ours / torch_result - 1)) < 1e-6


# === Key handling and strictness ===


def test_prefix_legacy_names_and_sequential_head_are_normalized():
    tensors = {
        "module.densenet121.features.conv0.weight": 0,
        "module.densenet121.features.denseblock1.denselayer1.norm.1.running_var": 1,
        "module.densenet121.features.denseblock1.denselayer1.conv.2.weight": 2,
        "module.densenet121.classifier.0.bias": 3,
        "other.weight": 4,
    }
    assert normalize_torch_keys(tensors) == {
        "features.conv0.weight": 0,
        "features.denseblock1.denselayer1.norm1.running_var": 1,
        "features.denseblock1.denselayer1.conv2.weight": 2,
        "classifier.bias": 3,
        "other.weight": 4,
    }


def test_missing_and_unexpected_keys_are_both_listed(save_checkpoint):
    tensors = golden_tensors()
    del tensors["features.transition1.conv.weight"]
    tensors["features.extra.weight"] = np.zeros(3, "float32")
    with pytest.raises(ValueError) as error:
        load_checkpoint(save_checkpoint(tensors))
    message = str(error.value)
    assert "Missing keys (1): features.transition1.conv.weight" in message
    assert "Unexpected keys (1): features.extra.weight" in message


def test_a_dense_layer_with_a_missing_tensor_is_reported(save_checkpoint):
    """Block sizes are counted by each layer's 3x3 conv; without it the
    layer's other tensors are left over and reported."""
    tensors = golden_tensors()
    del tensors["features.denseblock1.denselayer2.conv2.weight"]
    with pytest.raises(ValueError, match="Unexpected keys .*denseblock1.denselayer2"):
        load_checkpoint(save_checkpoint(tensors))


# (tensor, replacement, what the error must say)
WRONG_TENSORS = {
    "shape": (
        "features.denseblock2.denselayer1.conv2.weight",
        np.zeros((5, 16, 3, 3), "float32"),
        r"denselayer1.conv2.weight.*\(3, 3, 16, 5\).*\(3, 3, 16, 4\)",
    ),
    "deep-stem": (
        "features.conv0.weight",
        np.zeros((12, 3, 3, 3), "float32"),
        "3x3, expected 7x7.*densenetblur121d",
    ),
    "bottleneck-width": (
        "features.denseblock1.denselayer1.conv1.weight",
        np.zeros((8, 12, 1, 1), "float32"),
        "bn_size 2",
    ),
    "integer-dtype": (
        "features.norm5.weight",
        np.ones(19, "int32"),
        "features.norm5.weight.*int32.*floating",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG_TENSORS))
def test_a_wrong_tensor_is_named(save_checkpoint, case):
    key, value, message = WRONG_TENSORS[case]
    tensors = golden_tensors()
    tensors[key] = value
    with pytest.raises(ValueError, match=message):
        load_checkpoint(save_checkpoint(tensors))


def test_resnet_state_dict_is_rejected(save_checkpoint):
    tensors = {
        "conv1.weight": np.zeros((64, 3, 7, 7), "float32"),
        "fc.weight": np.zeros((10, 64), "float32"),
    }
    with pytest.raises(ValueError, match="not a torchvision/timm DenseNet state dict"):
        load_checkpoint(save_checkpoint(tensors))


def test_nan_weights_are_listed_and_nothing_is_assigned():
    tensors = normalize_torch_keys(golden_tensors())
    tensors["features.norm0.weight"][0] = np.nan
    tensors["features.denseblock1.denselayer1.conv1.weight"][0, 0, 0, 0] = np.inf
    backbone_kwargs, _ = infer_torch_architecture(tensors, "test")
    backbone = DenseNetBackbone(**backbone_kwargs)
    before = [keras.ops.convert_to_numpy(w) for w in backbone.weights]
    rows = mapping_table(backbone_kwargs["stackwise_num_repeats"], with_head=False)
    layers = [layer for layer in backbone.layers if layer.weights]
    with pytest.raises(ValueError) as error:
        apply_mapping(rows, headless(tensors), layers, "test")
    assert "features.norm0.weight -> conv1_bn/gamma" in str(error.value)
    assert "denselayer1.conv1.weight -> stack1_block1_1_conv/kernel" in str(error.value)
    for old, new in zip(before, backbone.weights):
        np.testing.assert_array_equal(old, keras.ops.convert_to_numpy(new))


def test_unsupported_timm_architecture_is_named(tmp_path):
    folder = tmp_path / "densenetblur121d.ra_in1k"
    folder.mkdir()
    config = json.loads((GOLDEN / "timm_densenet121" / "config.json").read_text())
    config["architecture"] = "densenetblur121d"
    (folder / "config.json").write_text(json.dumps(config))
    weights = GOLDEN / "timm_densenet121" / "model.safetensors"
    (folder / "model.safetensors").write_bytes(weights.read_bytes())
    with pytest.raises(ValueError, match="'densenetblur121d' cannot be expressed"):
        load_checkpoint(folder)


# === Safe reading ===


class Payload:
    """Pickles to a call of `exec` that creates `canary`."""

    def __init__(self, canary):
        self.canary = str(canary)

    def __reduce__(self):
        return exec, (f"open({self.canary!r}, 'w').close()",)


def write_hostile(path, canary, kind):
    payload = {"features.conv0.weight": Payload(canary)}
    if kind == "raw-pickle":
        path.write_bytes(pickle.dumps(payload))
        return
    import torch

    torch.save(payload, path, _use_new_zipfile_serialization=(kind == "zip"))


@requires_torch
@pytest.mark.parametrize("kind", ["zip", "legacy", "raw-pickle"])
@pytest.mark.parametrize(
    "force_unsafe_env", [False, True], ids=["", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
)
def test_hostile_pickle_is_refused_and_runs_nothing(
    tmp_path, monkeypatch, kind, force_unsafe_env
):
    import torch

    # Control: the payload is live, a full unpickle does create the canary.
    control = tmp_path / "control"
    write_hostile(tmp_path / "control.pth", control, kind)
    if kind == "raw-pickle":
        pickle.loads((tmp_path / "control.pth").read_bytes())
    else:
        torch.load(tmp_path / "control.pth", weights_only=False)
    assert control.exists()

    if force_unsafe_env:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    canary = tmp_path / "canary"
    path = tmp_path / "hostile.pth"
    write_hostile(path, canary, kind)
    with pytest.raises(ValueError, match="Refused to load.*builtins.exec"):
        load_checkpoint(path)
    assert not canary.exists()


class SubprocessPayload:
    """Pickles to a call of `subprocess.call`; never unpickled here."""

    def __reduce__(self):
        return subprocess.call, (["false"],)


@requires_torch
@pytest.mark.parametrize("kind", ["zip", "legacy", "raw-pickle-2", "raw-pickle-4"])
def test_refused_global_is_named_as_python_3_imports_it(tmp_path, kind):
    # torch.save and protocol-2 pickles write `subprocess` as Python 2's
    # `commands`; the message names what would run, then the spelling.
    import torch

    path = tmp_path / "hostile.pth"
    payload = {"features.conv0.weight": SubprocessPayload()}
    if kind.startswith("raw-pickle"):
        path.write_bytes(pickle.dumps(payload, protocol=int(kind[-1])))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=(kind == "zip"))
    with pytest.raises(ValueError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "needs the pickle global(s) subprocess.call" in message, message
    if kind != "raw-pickle-4":
        assert "subprocess.call (written commands.call in the file)" in message


def test_malformed_safetensors_error_names_the_file(tmp_path):
    good = (GOLDEN / "torchvision_densenet.safetensors").read_bytes()
    cases = {
        "truncated.safetensors": good[: len(good) // 2],
        "header_past_end.safetensors": (10**9).to_bytes(8, "little") + good[8:100],
        "empty.safetensors": b"",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=name):
            load_torch_state_dict(path)


def test_half_precision_safetensors_widen_to_float32(save_checkpoint):
    tensors = golden_tensors()
    halves = {
        key: value.astype(ml_dtypes.bfloat16 if index % 2 else np.float16)
        for index, (key, value) in enumerate(tensors.items())
        if value.dtype == np.float32
    }
    loaded = load_torch_state_dict(save_checkpoint(halves))
    for key, value in halves.items():
        assert loaded[key].dtype == np.float32
        np.testing.assert_array_equal(loaded[key], value.astype(np.float32))


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown extension"):
        load_torch_state_dict(GOLDEN / "manifest.json")
    with pytest.raises(ValueError, match="does not exist"):
        load_torch_state_dict(tmp_path / "absent.pth")


@requires_torch
def test_pickled_non_state_dict_is_refused(tmp_path):
    import torch

    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(ValueError, match="holds a list, expected a state dict"):
        load_torch_state_dict(path)


# === Presets and preprocessing ===


def test_convert_writes_a_preset_with_the_source_and_its_sha256(tmp_path):
    source = GOLDEN / "torchvision_densenet.safetensors"
    out = convert(source, tmp_path / "preset")
    metadata = json.loads((out / "metadata.json").read_text())
    converted_from = metadata["converted_from"]
    assert converted_from["file"] == source.name
    assert converted_from["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert converted_from["format"] == "torchvision"
    assert converted_from["eval_transform"]["resize_shorter_side"] == 256
    files = {p.name for p in out.iterdir()}
    assert {"model.weights.h5", "task.weights.h5", "preprocessor.json"} <= files
    with pytest.raises(FileExistsError):
        convert(source, out)

    reloaded = DenseNetImageClassifier.from_preset(str(out))
    inputs = np.load(GOLDEN / "inputs.npz")["inputs_even"]
    ours = keras.ops.convert_to_numpy(reloaded(channels_last(inputs)))
    reference = golden_outputs("torchvision_densenet")["outputs_even"]
    assert np.max(np.abs(ours - reference)) <= TOLERANCE
    assert reloaded.preprocessor.image_converter.interpolation == "bilinear"


def test_preprocessor_normalises_as_torchvision_and_timm():
    """torchvision's ToTensor + Normalize and timm's equal the converter's
    scale and offset; fed the source's own resized-and-cropped pixels."""
    fixture = np.load(GOLDEN / "eval_transforms.npz")
    transforms = {
        "torchvision": (EvalTransform.torchvision(), "bilinear"),
        "timm": (EvalTransform.timm(), "bicubic"),
    }
    for name, (transform, interpolation) in transforms.items():
        reference = np.transpose(fixture[name], (1, 2, 0))
        pixels = (reference * transform.std + transform.mean) * 255
        pixels = np.round(pixels).astype("uint8")
        kwargs = transform.image_converter_kwargs()
        assert kwargs["interpolation"] == interpolation
        converter = DenseNetImageConverter(**dict(kwargs, image_size=None))
        ours = keras.ops.convert_to_numpy(converter(pixels))
        assert np.max(np.abs(ours - reference)) < 1e-5, name


@pytest.mark.parametrize(
    "source, transform_name",
    [("torchvision_densenet.safetensors", "torchvision"), ("timm_densenet121", "timm")],
)
def test_converted_preset_preprocesses_as_the_source_framework(
    tmp_path, source, transform_name
):
    """Full pipeline: convert, save, reload, then preprocess the raw image
    of the recorded transforms. The fixture's transforms work at 28x28, so
    the reloaded converter is pointed at 28x28 keeping the converted
    crop_pct 0.875 (Resize(32), CenterCrop(28), as recorded).

    A converted preset resizes with Pillow's own arithmetic
    (`resampling="pillow"`), so the tensors are equal up to float32 noise in
    the normalisation: measured 2.7e-5 of a grey level at most, on both.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = convert(GOLDEN / source, tmp_path / "preset")
    # The crop is reproduced, so nothing warns about it any more.
    assert not [w for w in caught if "crop" in str(w.message)]
    saved = json.loads((out / "preprocessor.json").read_text())
    assert saved["config"]["image_converter"]["config"]["crop_pct"] == 0.875

    reloaded = DenseNetImageClassifier.from_preset(str(out))
    converter = reloaded.preprocessor.image_converter
    assert converter.crop_pct == 0.875 and converter.image_size == (224, 224)
    converter.image_size = (28, 28)
    fixture = np.load(GOLDEN / "eval_transforms.npz")
    reference = np.transpose(fixture[transform_name], (1, 2, 0))
    ours = keras.ops.convert_to_numpy(converter(fixture["image"]))
    difference = np.abs(ours - reference)
    grey_levels = difference * 255 * np.asarray(EvalTransform.torchvision().std)
    assert converter.resampling == "pillow"
    assert grey_levels.max() < 1e-3, difference.max()


def test_keras_applications_transform_takes_no_crop():
    kwargs = EvalTransform.keras_applications().image_converter_kwargs()
    assert kwargs["crop_pct"] is None  # so the saved config stays KerasHub's


def test_timm_transform_comes_from_the_pretrained_config():
    config_file = GOLDEN / "timm_densenet121" / "config.json"
    config = json.loads(config_file.read_text())["pretrained_cfg"]
    transform = EvalTransform.timm(config)
    assert transform.image_size == (224, 224)  # input_size, not test_input_size 288
    assert transform.crop_pct == 0.875 and transform.resize_size == 256
    assert transform.interpolation == "bicubic"
    with pytest.raises(ValueError, match="crop_mode='squash'"):
        EvalTransform.timm(dict(config, crop_mode="squash"))
    bad_values = {
        "crop_pct": (0, "crop_pct"),
        "input_size": ([3, 0, 224], "image_size"),
        "std": ([0.2, 0.0, 0.2], "positive `std`"),
        "mean": ("0.5", "`mean` must be a list"),
        "interpolation": ("area", "interpolation='area'"),
    }
    for key, (value, message) in bad_values.items():
        with pytest.raises(ValueError, match=message):
            EvalTransform.timm(dict(config, **{key: value}))


# === Helpers ===


@pytest.fixture
def save_checkpoint(tmp_path):
    """Writes tensors to a fresh .safetensors file and returns its path."""
    paths = iter(tmp_path / f"checkpoint_{i}.safetensors" for i in range(100))

    def save(tensors):
        path = next(paths)
        arrays = {key: np.ascontiguousarray(value) for key, value in tensors.items()}
        save_file(arrays, str(path))
        return path

    return save


def headless(tensors):
    return {k: v for k, v in tensors.items() if not k.startswith("classifier.")}
