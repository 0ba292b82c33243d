"""Bad presets and save faults: every JSON file is checked before Keras
sees it, every weight file strictly, and saving is atomic. Each case must
raise a specific error and leave no model and no stray files."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import h5py
import keras
import numpy as np
import pytest

from helpers.paths import REPO_ROOT
from helpers.models import TINY_CONFIG

from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.layers import ImageConverter
from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier

KERAS_HUB_BACKBONE = {
    "module": "keras_hub.src.models.densenet.densenet_backbone",
    "class_name": "DenseNetBackbone",
    "registered_name": "keras_hub>DenseNetBackbone",
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny classifier preset with a preprocessor (KerasHub-expressible),
    saved once."""
    folder = tmp_path_factory.mktemp("saved") / "preset"
    backbone = DenseNetBackbone(**TINY_CONFIG, stem_padding="same")
    converter = DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    preprocessor = DenseNetImageClassifierPreprocessor(converter)
    ImageClassifier(backbone, num_classes=3, preprocessor=preprocessor).save_to_preset(folder)
    return folder


@pytest.fixture
def preset(saved, tmp_path):
    """A private copy of the saved preset, free to damage."""
    return pathlib.Path(shutil.copytree(saved, tmp_path / "preset"))


def write_json(path, value):
    path.write_text(json.dumps(value, indent=4))


def backbone_reference(**config):
    return {**KERAS_HUB_BACKBONE, "config": {**TINY_CONFIG, "image_shape": [32, 32, 3], **config}}


def edit_h5(path, edit):
    with h5py.File(path, "r+") as file:
        edit(file)


def run_in_child(script):
    """Runs `script` in a fresh Python process, so that a crash (injected, or
    one in the HDF5 library) shows as an exit status. The numpy backend starts
    fastest; reading and writing preset files do not depend on the backend."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
    )


def stray_entries(folder):
    """Hidden temporary folders a save may have left beside its target."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# === config.json and the other JSON files ===


@pytest.mark.parametrize(
    "content, match",
    [
        (b"{not json", "is not valid JSON"),
        (b"[1, 2]", "must hold a JSON object, got a JSON list"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": NaN}', "non-standard constant NaN"),
        (b"[" * 200_000, "is not valid JSON"),
        (b"\xff\xfe{}", "is not valid JSON"),
        (b"{}" + b" " * (1 << 20), "over the 1048576-byte limit"),
    ],
)
@pytest.mark.parametrize("name", ["config.json", "metadata.json"])
def test_malformed_json_is_refused_naming_the_file(preset, name, content, match):
    (preset / name).write_bytes(content)

    with pytest.raises(ValueError, match=match) as error:
        Backbone.from_preset(preset)
    assert str(preset / name) in str(error.value)


@pytest.mark.parametrize(
    "reference, match",
    [
        ({"module": "keras.src.models.functional", "class_name": "Functional",
          "registered_name": "Functional", "config": {}}, "must be one of"),
        ({**KERAS_HUB_BACKBONE, "module": "os", "config": TINY_CONFIG}, "points at code outside"),
        ({**KERAS_HUB_BACKBONE, "registered_name": "DenseNetBackbone", "config": TINY_CONFIG},
         "points at code outside"),
        ({**KERAS_HUB_BACKBONE, "module": "keras_hub.src.models.resnet.resnet_backbone",
          "config": TINY_CONFIG}, "points at code outside"),
        ({**backbone_reference(), "shared_object_id": 1}, r"unknown key\(s\) \['shared_object_id'\]"),
        ({**KERAS_HUB_BACKBONE, "config": "import os"}, "must be a JSON object"),
    ],
)
def test_class_references_outside_the_allow_list_are_refused(preset, reference, match):
    write_json(preset / "config.json", reference)

    with pytest.raises(ValueError, match=match):
        Backbone.from_preset(preset)


def _live_lambda_payload():
    """A Keras-serialised Lambda layer whose function creates the file named
    by $DENSENET_HUB_CANARY when Keras rebuilds and calls it."""
    layer = keras.layers.Lambda(
        lambda x: (
            __import__("pathlib").Path(__import__("os").environ["DENSENET_HUB_CANARY"]).touch(),
            x,
        )[1]
    )
    return json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))


@pytest.fixture
def canary(tmp_path, monkeypatch):
    path = tmp_path / "canary"
    monkeypatch.setenv("DENSENET_HUB_CANARY", str(path))
    return path


def _gadgets(canary):
    lambda_layer = _live_lambda_payload()
    function = lambda_layer["config"]["function"]
    keras_object = {"module": "keras.src.saving.saving_api", "registered_name": None}
    return {
        "lambda layer": lambda_layer,
        "__lambda__ function": function,
        "os.system": {"module": "os", "class_name": "system",
                      "config": f"touch {canary}", "registered_name": None},
        "builtins.exec": {"module": "builtins", "class_name": "exec",
                          "config": f"open({str(canary)!r}, 'w')", "registered_name": None},
        "unsafe switch": {"module": "keras.config", "registered_name": None,
                          "class_name": "enable_unsafe_deserialization", "config": None},
        "get_file": {"module": "keras.utils", "class_name": "get_file", "registered_name": None,
                     "config": {"fname": str(canary), "origin": "http://127.0.0.1:9/x"}},
        "load_model": {**keras_object, "class_name": "load_model",
                       "config": {"filepath": str(canary)}},
        "TFSMLayer": {"module": "keras.layers", "class_name": "TFSMLayer",
                      "config": {"filepath": str(canary)}, "registered_name": None},
        "TorchModuleWrapper": {"module": "keras.layers", "class_name": "TorchModuleWrapper",
                               "config": {"module": "gASVAAAA"}, "registered_name": None},
        "StringLookup": {"module": "keras.layers", "class_name": "StringLookup",
                         "config": {"vocabulary": "/etc/passwd"}, "registered_name": None},
    }


def test_the_lambda_payload_is_live_when_keras_deserialises_it(canary):
    """Control for the next test: unchecked, the payload runs its code."""
    layer = keras.saving.deserialize_keras_object(_live_lambda_payload(), safe_mode=False)
    layer(keras.KerasTensor((1, 2)))
    assert canary.exists()


@pytest.mark.parametrize(
    "gadget",
    ["lambda layer", "__lambda__ function", "os.system", "builtins.exec", "unsafe switch",
     "get_file", "load_model", "TFSMLayer", "TorchModuleWrapper", "StringLookup"],
)
def test_code_payloads_anywhere_in_a_preset_never_run(preset, tmp_path, canary, gadget):
    payload = _gadgets(canary)[gadget]
    task = json.loads((preset / "task.json").read_text())
    converter = json.loads((preset / "image_converter.json").read_text())
    placements = {
        "config.json": payload,
        "config.json dtype": backbone_reference(dtype=payload),
        "task.json activation": {**task, "config": {**task["config"], "activation": payload}},
        "task.json preprocessor": {**task, "config": {**task["config"], "preprocessor": payload}},
        "image_converter.json scale": {**converter, "config": {**converter["config"], "scale": payload}},
    }
    for placement, document in placements.items():
        damaged = pathlib.Path(shutil.copytree(preset, tmp_path / placement.replace(" ", "_")))
        write_json(damaged / placement.split()[0], document)
        with pytest.raises(ValueError):
            if placement.startswith("image_converter"):
                ImageConverter.from_preset(damaged)
            else:
                ImageClassifier.from_preset(damaged)
    assert not canary.exists()


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("growth_rate", 0, r"`config.growth_rate` must be an integer in \[1, 1024\], got 0"),
        ("growth_rate", 10**9, "got 1000000000"),
        ("growth_rate", True, "got True"),
        ("growth_rate", "32", "got '32'"),
        ("growth_rate", 1.5, "got 1.5"),
        ("stackwise_num_repeats", [], "a list of 1 to 8 integers"),
        ("stackwise_num_repeats", [6, 0], "a list of 1 to 8 integers"),
        ("stackwise_num_repeats", [6] * 9, "a list of 1 to 8 integers"),
        ("stackwise_num_repeats", "6,12", "a list of 1 to 8 integers"),
        ("compression_ratio", 0, r"a number in \(0, 1\]"),
        ("compression_ratio", 1.5, r"a number in \(0, 1\]"),
        ("image_shape", [0, 0, 3], "each null or an integer in"),
        ("image_shape", [224, 224, 7], "a shape with 1 to 4 channels"),
        ("image_shape", [224, 224], "3 entries"),
        ("stem_padding", "valid", "one of 'symmetric', 'same'"),
        ("data_format", "NHWC", "one of 'channels_last'"),
        ("name", "../../etc/passwd", "a name of 1 to 256 characters without '/'"),
        ("name", "x" * 257, "a name of 1 to 256 characters"),
        ("dtype", "int8", "null, one of"),
        ("dtype", {"module": "keras", "class_name": "DTypePolicyMap", "config": {},
                   "registered_name": None}, "null, one of"),
        ("trainable", "yes", "true or false"),
        ("foo", 1, r"unknown key\(s\) \['foo'\]"),
    ],
)
def test_out_of_range_backbone_configs_are_refused(preset, key, value, match):
    write_json(preset / "config.json", backbone_reference(**{key: value}))

    with pytest.raises(ValueError, match=match):
        Backbone.from_preset(preset)


def test_missing_required_key_is_named(preset):
    reference = backbone_reference()
    del reference["config"]["stackwise_num_repeats"]
    write_json(preset / "config.json", reference)

    with pytest.raises(ValueError, match=r"missing key\(s\) \['stackwise_num_repeats'\]"):
        Backbone.from_preset(preset)


def test_parameter_count_bomb_is_refused_before_allocation(preset):
    write_json(
        preset / "config.json",
        backbone_reference(stackwise_num_repeats=[256] * 8, growth_rate=1024),
    )

    with pytest.raises(ValueError, match="refusing to allocate it") as error:
        Backbone.from_preset(preset, load_weights=False)
    assert "parameters, over the 200,000,000" in str(error.value)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("num_classes", 0, r"`config.num_classes` must be an integer in \[1, 1000000\]"),
        ("num_classes", 10**9, "must be an integer in"),
        ("pooling", "sum", "one of 'avg', 'max'"),
        ("dropout", 1.0, r"a number in \[0, 1\)"),
        ("activation", "exec", "one of 'linear', 'softmax'"),
    ],
)
def test_out_of_range_task_configs_are_refused(preset, key, value, match):
    task = json.loads((preset / "task.json").read_text())
    task["config"][key] = value
    write_json(preset / "task.json", task)

    with pytest.raises(ValueError, match=match):
        ImageClassifier.from_preset(preset)


@pytest.mark.parametrize(
    "metadata, match",
    [
        ({"parameter_count": 123}, "`parameter_count` is 123 but config.json describes"),
        ({"densenet_hub_version": "99.0.0"}, "saved by densenet_hub '99.0.0', newer than"),
        # packaging reads a leading "v" as pip does: still a newer version.
        ({"densenet_hub_version": "v99.0"}, "saved by densenet_hub 'v99.0', newer than"),
        ({"densenet_hub_version": "99.0"}, "saved by densenet_hub '99.0', newer than"),
        ({"densenet_hub_version": "ninety-nine"}, "'ninety-nine', which is not a version"),
        ({"densenet_hub_version": 99}, "is 99, which is not a version string"),
    ],
)
def test_metadata_that_disagrees_is_refused(preset, metadata, match):
    write_json(preset / "metadata.json", metadata)

    with pytest.raises(ValueError, match=match):
        Backbone.from_preset(preset)


# === Weight files ===


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda data: data[: len(data) // 2], "not a readable HDF5 weight file"),
        (lambda data: b"", "is empty"),
        (lambda data: bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
         "not an HDF5 file"),
        (lambda data: data[:8] + b"\x00garbage" * 100, "not a readable HDF5 weight file"),
    ],
)
def test_damaged_weight_files_are_refused(preset, damage, match):
    path = preset / "model.weights.h5"
    path.write_bytes(damage(path.read_bytes()))

    with pytest.raises(ValueError, match=match) as error:
        Backbone.from_preset(preset)
    assert str(path) in str(error.value)


def _replace(file, key, data, **attrs):
    del file[key]
    dataset = file.create_dataset(key, data=data)
    for name, value in attrs.items():
        dataset.attrs[name] = value


def test_wrong_shape_names_the_variable_and_both_shapes(preset):
    edit_h5(
        preset / "model.weights.h5",
        lambda f: _replace(f, "layers/conv2d/vars/0", np.zeros((7, 7, 3, 65), "float32")),
    )

    with pytest.raises(ValueError) as error:
        Backbone.from_preset(preset)
    message = str(error.value)
    assert "`layers/conv2d/vars/0` (conv1_conv/kernel)" in message
    assert "(7, 7, 3, 65) in the file but the model expects (7, 7, 3, 64)" in message


def test_missing_and_unexpected_variables_are_both_listed(preset):
    def edit(file):
        del file["layers/batch_normalization_3/vars/1"]
        file.create_dataset("layers/extra_layer/vars/0", data=np.zeros(3, "float32"))

    edit_h5(preset / "model.weights.h5", edit)

    with pytest.raises(ValueError) as error:
        Backbone.from_preset(preset)
    message = str(error.value)
    assert "1 missing variable(s) [`layers/batch_normalization_3/vars/1`" in message
    assert "1 unexpected variable(s) [layers/extra_layer/vars/0]" in message


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda shape: (np.ones(shape, "int32"), {}), "stored as int32"),
        (lambda shape: (np.full(shape, b"a", dtype="S1"), {}), r"stored as \|S1"),
        (lambda shape: (np.ones(shape, "float32"), {"dtype": "bfloat16"}),
         "stored as float32 tagged 'bfloat16'"),
        (lambda shape: (np.ones(shape, "int16"), {"dtype": "bfloat16"}),
         "stored as int16 tagged 'bfloat16'"),
        (lambda shape: (np.ones(shape, "float32"), {"dtype": "float64"}),
         "stored as float32 tagged 'float64'"),
    ],
)
def test_wrong_dtypes_are_refused_not_cast(preset, make, match):
    key = "layers/batch_normalization/vars/0"
    data, attrs = make((64,))
    edit_h5(preset / "model.weights.h5", lambda f: _replace(f, key, data, **attrs))

    with pytest.raises(ValueError, match=match) as error:
        Backbone.from_preset(preset)
    assert "conv1_bn/gamma" in str(error.value)


def test_nan_and_inf_weights_are_refused_and_listed(preset):
    def edit(file):
        file["layers/batch_normalization/vars/0"][3] = np.nan
        file["layers/conv2d_2/vars/0"][0, 0, 0, 0] = np.inf

    edit_h5(preset / "model.weights.h5", edit)

    with pytest.raises(ValueError, match=r"NaN or infinite values .* in 2 variable\(s\)") as error:
        Backbone.from_preset(preset)
    assert "conv1_bn/gamma" in str(error.value)
    assert "stack1_block1_2_conv/kernel" in str(error.value)


def test_float64_values_beyond_float32_range_count_as_infinite(preset):
    key = "layers/batch_normalization/vars/0"
    edit_h5(preset / "model.weights.h5", lambda f: _replace(f, key, np.full(64, 1e300)))

    with pytest.raises(ValueError, match="NaN or infinite values"):
        Backbone.from_preset(preset)


def _external_storage(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(64, dtype="float32").tobytes())

    def edit(file):
        del file["layers/batch_normalization/vars/0"]
        file["layers/batch_normalization/vars"].create_dataset(
            "0", shape=(64,), dtype="float32", external=[(str(secret), 0, 256)]
        )

    return edit


def _virtual(tmp_path):
    def edit(file):
        layout = h5py.VirtualLayout(shape=(64,), dtype="float32")
        layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "x", shape=(64,))
        del file["layers/batch_normalization/vars/0"]
        file["layers/batch_normalization/vars"].create_virtual_dataset("0", layout)

    return edit


def _soft_link(tmp_path):
    def edit(file):
        del file["layers/batch_normalization/vars/0"]
        file["layers/batch_normalization/vars/0"] = h5py.SoftLink(
            "/layers/batch_normalization/vars/1"
        )

    return edit


def _external_link(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as other:
        other["x"] = np.ones(64, "float32")

    def edit(file):
        del file["layers/batch_normalization/vars/0"]
        file["layers/batch_normalization/vars/0"] = h5py.ExternalLink(
            str(tmp_path / "other.h5"), "x"
        )

    return edit


@pytest.mark.parametrize(
    "make_edit, match",
    [
        (_soft_link, "is an HDF5 SoftLink"),
        (_external_link, "is an HDF5 ExternalLink"),
        (_external_storage, "uses external storage"),
        (_virtual, "uses a virtual dataset"),
    ],
)
def test_links_and_outside_storage_in_hdf5_are_refused(preset, tmp_path, make_edit, match):
    edit_h5(preset / "model.weights.h5", make_edit(tmp_path))

    with pytest.raises(ValueError, match=match):
        Backbone.from_preset(preset)


@pytest.mark.slow
def test_fuzzed_weight_files_raise_value_error_or_load(saved, tmp_path):
    """Random byte flips never crash the process nor escape as another error."""
    script = textwrap.dedent(
        f"""
        import json, pathlib, random
        from densenet_hub.models import DenseNetBackbone
        from densenet_hub.presets import weights
        
        source = pathlib.Path({str(saved / "model.weights.h5")!r})
        model = DenseNetBackbone(stackwise_num_repeats=[2, 2], growth_rate=4,
                                 image_shape=(32, 32, 3), stem_padding="same")
        layout = weights.weight_layout(model)
        original = source.read_bytes()
        rng = random.Random(0)
        outcomes = {{"loaded": 0, "refused": 0}}
        for trial in range(60):
            data = bytearray(original)
            # Half the trials hit the first 4 KiB: superblock and headers.
            limit = 4096 if trial % 2 else len(data)
            for _ in range(rng.randint(1, 16)):
                data[rng.randrange(limit)] = rng.randrange(256)
            path = pathlib.Path({str(tmp_path)!r}) / f"fuzz{{trial}}.weights.h5"
            path.write_bytes(bytes(data))
            try:
                weights.read_weights([path], layout)
                outcomes["loaded"] += 1
            except ValueError:
                outcomes["refused"] += 1
        print(json.dumps(outcomes))
        """
    )
    result = run_in_child(script)

    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 60


def test_whole_model_task_weights_as_published_by_keras_hub_still_load(preset, tmp_path):
    """KerasHub's 2024 task files hold the whole model; only there are the
    extra groups ignored."""
    classifier = ImageClassifier.from_preset(preset)
    head = keras.ops.convert_to_numpy(classifier.output_dense.kernel) + 1.0
    classifier.output_dense.kernel.assign(head)
    classifier.save_weights(tmp_path / "whole.weights.h5")
    shutil.copy(tmp_path / "whole.weights.h5", preset / "task.weights.h5")
    with h5py.File(preset / "task.weights.h5") as file:
        assert "layers/dense_net_backbone/layers/conv2d/vars/0" in file
        assert "optimizer" in file

    loaded = ImageClassifier.from_preset(preset)

    assert np.array_equal(keras.ops.convert_to_numpy(loaded.output_dense.kernel), head)


def test_missing_head_weights_are_an_error(preset):
    os.remove(preset / "task.weights.h5")

    with pytest.raises(ValueError, match=r"no task.weights.h5 \(the head weights\)"):
        ImageClassifier.from_preset(preset)
    assert ImageClassifier.from_preset(preset, num_classes=4).num_classes == 4


# === Files named by a preset ===


def test_symlinks_out_of_the_preset_are_refused(preset, tmp_path):
    os.remove(preset / "model.weights.h5")
    os.symlink("/etc/passwd", preset / "model.weights.h5")
    outside = tmp_path / "outside.json"
    outside.write_text((preset / "config.json").read_text())

    with pytest.raises(ValueError, match="resolves to /etc/passwd, outside the preset"):
        Backbone.from_preset(preset)
    os.remove(preset / "config.json")
    os.symlink(outside, preset / "config.json")
    with pytest.raises(ValueError, match="outside the preset folder"):
        Backbone.from_preset(preset, load_weights=False)


def test_hugging_face_cache_links_stay_inside_the_repository_cache(preset, tmp_path):
    """huggingface_hub keeps a revision as links from snapshots/<rev>/ to
    ../../blobs/; those load, a link out of the repository cache does not."""
    repo = tmp_path / "hub" / "models--owner--repo"
    (repo / "blobs").mkdir(parents=True)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for index, file in enumerate(sorted(preset.iterdir())):
        shutil.copy(file, repo / "blobs" / f"blob{index}")
        os.symlink(f"../../blobs/blob{index}", snapshot / file.name)

    assert ImageClassifier.from_preset(snapshot).num_classes == 3
    os.remove(snapshot / "config.json")
    os.symlink(preset / "config.json", snapshot / "config.json")
    with pytest.raises(ValueError, match="outside the preset folder"):
        ImageClassifier.from_preset(snapshot)


def _shard(preset):
    """Replaces model.weights.h5 by Keras' own sharded files; returns the
    weight map (variable group -> shard name or list of names)."""
    model = Backbone.from_preset(preset)
    os.remove(preset / "model.weights.h5")
    model.save_weights(preset / "model.weights.json", max_shard_size=0.00004)
    return json.loads((preset / "model.weights.json").read_text())["weight_map"]


def _shard_names(weight_map):
    names = set()
    for value in weight_map.values():
        names.update(value if isinstance(value, list) else [value])
    return sorted(names)


def test_sharded_weights_load(preset, rng):
    original = Backbone.from_preset(preset)
    weight_map = _shard(preset)
    assert len(_shard_names(weight_map)) > 1

    loaded = Backbone.from_preset(preset)

    images = rng.uniform(size=(1, 32, 32, 3)).astype("float32")
    assert np.array_equal(
        keras.ops.convert_to_numpy(original(images)), keras.ops.convert_to_numpy(loaded(images))
    )


@pytest.mark.parametrize(
    "shard, match",
    [
        ("../model_00000.weights.h5", "is not a plain file name"),
        ("/tmp/model_00000.weights.h5", "is not a plain file name"),
        ("sub\\model_00000.weights.h5", "is not a plain file name"),
        ("model_99999.weights.h5", "which is missing"),
        ("config.json", "which is not a .weights.h5 file"),
    ],
)
def test_bad_shard_names_are_refused(preset, shard, match):
    weight_map = _shard(preset)
    first = next(iter(weight_map))
    weight_map[first] = shard
    write_json(preset / "model.weights.json", {"metadata": {}, "weight_map": weight_map})

    with pytest.raises(ValueError, match=match):
        Backbone.from_preset(preset)


def test_a_variable_in_two_shards_is_refused(preset):
    weight_map = _shard(preset)
    group, shard = next((g, n) for g, n in weight_map.items() if isinstance(n, str))
    other = next(name for name in _shard_names(weight_map) if name != shard)
    with h5py.File(preset / shard) as source:
        data = source[f"{group}/0"][()]
    edit_h5(preset / other, lambda f: f.create_dataset(f"{group}/0", data=data))

    with pytest.raises(ValueError, match=f"`{group[1:]}/0` is stored in both"):
        Backbone.from_preset(preset)


# === Saving ===


def test_non_empty_target_is_refused_unless_overwrite(saved, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "model_00000.weights.h5").write_text("stale shard")
    model = Backbone.from_preset(saved)

    with pytest.raises(FileExistsError, match="the folder is not empty"):
        model.save_to_preset(target)
    assert os.listdir(target) == ["model_00000.weights.h5"]
    model.save_to_preset(target, overwrite=True)

    assert sorted(os.listdir(target)) == ["config.json", "metadata.json", "model.weights.h5"]
    assert stray_entries(tmp_path) == []


def test_saving_onto_a_file_or_under_a_file_names_the_path(saved, tmp_path):
    model = Backbone.from_preset(saved)
    file = tmp_path / "file"
    file.write_text("keep me")

    with pytest.raises(NotADirectoryError, match=f"{file}: it is a file"):
        model.save_to_preset(file, overwrite=True)
    with pytest.raises(OSError, match=f"Cannot write {file / 'preset'}"):
        model.save_to_preset(file / "preset")

    assert file.read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["file"]


@pytest.mark.slow
def test_a_full_disk_or_a_crash_leaves_the_old_preset_or_none(saved, tmp_path):
    """Faults injected in a child process: a file size limit stands in for a
    full disk (writes fail with EFBIG), then the process dies right after
    writing config.json and the weights, before publishing them."""
    old = pathlib.Path(shutil.copytree(saved, tmp_path / "old"))
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    script = textwrap.dedent(
        f"""
        import os, pathlib, resource, signal
        from densenet_hub.models import Backbone

        tmp = pathlib.Path({str(tmp_path)!r})
        model = Backbone.from_preset(tmp / "old")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, limits[1]))
        for target, overwrite in ((tmp / "new", False), (tmp / "old", True)):
            try:
                model.save_to_preset(target, overwrite=overwrite)
            except OSError as error:
                assert str(target) in str(error), error
                print("refused", target.name, flush=True)
        # A real crash mid-save: the kernel kills the process (SIGXFSZ's
        # default action) when a file passes the limit.
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        model.save_to_preset(tmp / "old", overwrite=True)
        """
    )
    result = run_in_child(script)

    assert result.returncode == -signal.SIGXFSZ, result.stderr[-3000:]
    assert result.stdout.split() == ["refused", "new", "refused", "old"]
    assert not (tmp_path / "new").exists()
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    # Only the crashed save's staging folder may remain, never a target;
    # the next save to that target removes it, its process being gone.
    assert [name.split(".staging-")[0] for name in stray_entries(tmp_path)] == [".old"]
    Backbone.from_preset(old).save_to_preset(old, overwrite=True)
    assert stray_entries(tmp_path) == []


@pytest.mark.slow
def test_concurrent_saves_leave_exactly_one_complete_preset(saved, tmp_path, rng):
    models = [Backbone.from_preset(saved, load_weights=False) for _ in range(4)]
    target = tmp_path / "target"
    errors = []

    def save(model, overwrite):
        try:
            model.save_to_preset(target, overwrite=overwrite)
        except FileExistsError as error:
            errors.append(error)

    for overwrite, expected_errors in ((False, 3), (True, 0)):
        shutil.rmtree(target, ignore_errors=True)
        errors.clear()
        threads = [threading.Thread(target=save, args=(m, overwrite)) for m in models]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(errors) == expected_errors
        assert sorted(os.listdir(target)) == ["config.json", "metadata.json", "model.weights.h5"]
        assert stray_entries(tmp_path) == []
        loaded = Backbone.from_preset(target)
        images = rng.uniform(size=(1, 32, 32, 3)).astype("float32")
        output = keras.ops.convert_to_numpy(loaded(images))
        matches = [
            np.array_equal(output, keras.ops.convert_to_numpy(m(images))) for m in models
        ]
        assert matches.count(True) == 1


@pytest.mark.slow
def test_concurrent_saves_from_processes_all_succeed(saved, tmp_path):
    target = tmp_path / "target"
    go = tmp_path / "go"
    script = textwrap.dedent(
        f"""
        import pathlib, time
        from densenet_hub.models import Backbone

        model = Backbone.from_preset({str(saved)!r})
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.01)
        for _ in range(10):
            model.save_to_preset({str(target)!r}, overwrite=True)
        """
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=REPO_ROOT,
            env={**os.environ, "KERAS_BACKEND": "numpy"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    go.touch()
    errors = [child.communicate(timeout=300)[1] for child in children]
    go.unlink()

    assert [child.returncode for child in children] == [0, 0, 0], errors
    assert sorted(os.listdir(target)) == ["config.json", "metadata.json", "model.weights.h5"]
    assert stray_entries(tmp_path) == []
    Backbone.from_preset(target)


def test_objects_a_preset_cannot_describe_are_refused_before_writing(saved, tmp_path):
    classifier = ImageClassifier.from_preset(saved)
    classifier.preprocessor = keras.layers.Rescaling(1 / 255)

    with pytest.raises(ValueError, match="preprocessor is a Rescaling"):
        classifier.save_to_preset(tmp_path / "preset")
    with pytest.raises(TypeError, match="must be a str or os.PathLike"):
        classifier.backbone.save_to_preset(42)
    assert os.listdir(tmp_path) == []


def test_bad_head_weights_name_the_head_variable_and_file(preset):
    edit_h5(preset / "task.weights.h5", lambda f: f["layers/dense/vars/0"].__setitem__(0, np.nan))

    with pytest.raises(ValueError, match="predictions/kernel") as error:
        ImageClassifier.from_preset(preset)
    assert str(preset / "task.weights.h5") in str(error.value)
