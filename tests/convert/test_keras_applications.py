"""keras.applications DenseNet weight files -> densenet_hub, checked live
against keras.applications itself (it ships with Keras).

keras.applications' public constructors only build the full-size 121/169/201
(their parity is in test_parity_keras_applications.py); here the same
builder, `keras.src.applications.densenet.DenseNet`, makes a tiny one with one
conv block per dense block, so every file layout converts in seconds.
"""

import h5py
import keras
import numpy as np
import pytest
from keras.src.applications.densenet import DenseNet as ApplicationsDenseNet
from keras.src.legacy.saving import legacy_h5_format
from helpers.weights import randomize_weights

from densenet_hub.convert import convert
from densenet_hub.convert import load_checkpoint
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier

TOLERANCE = 1e-5
BLOCKS = [1, 1, 1, 1]
NUM_CLASSES = 6
IMAGE_SHAPE = (40, 40, 3)


def applications_model(include_top):
    """A tiny keras.applications DenseNet with random weights everywhere."""
    model = ApplicationsDenseNet(
        BLOCKS,
        include_top=include_top,
        weights=None,
        input_shape=IMAGE_SHAPE,
        classes=NUM_CLASSES,
    )
    # The feature extractor shares the model's layers; randomize_weights
    # handles Conv2D and BatchNormalization, the head is set below.
    randomize_weights(keras.Model(model.input, model.get_layer("relu").output), seed=7)
    if include_top:
        head = model.get_layer("predictions")
        rng = np.random.default_rng(8)
        head.kernel.assign(rng.normal(0, 0.5, head.kernel.shape))
        head.bias.assign(rng.normal(0, 0.5, head.bias.shape))
    return model


def save_keras3(model, path):
    model.save_weights(path)


def save_legacy_full_model(model, path):
    model.save(path)  # Keras 3 writes the legacy full-model .h5 layout


def save_keras2_weights(model, path):
    # The layout of the published keras.applications weight files (Keras 2
    # `save_weights`): root attribute `layer_names`, one group per layer.
    with h5py.File(path, "w") as h5_file:
        legacy_h5_format.save_weights_to_hdf5_group(h5_file, model)


LAYOUTS = {
    "keras3.weights.h5": save_keras3,
    "legacy_full_model.h5": save_legacy_full_model,
    "keras2_weights.h5": save_keras2_weights,
}


@pytest.fixture(scope="module")
def references():
    return {top: applications_model(top) for top in (True, False)}


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(3).normal(size=(3, *IMAGE_SHAPE)).astype("float32")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("include_top", [True, False], ids=["top", "notop"])
def test_converted_model_matches_keras_applications(
    references, images, tmp_path, layout, include_top
):
    reference = references[include_top]
    path = tmp_path / layout
    LAYOUTS[layout](reference, path)
    model = load_checkpoint(path)
    expected = keras.ops.convert_to_numpy(reference(images))
    if include_top:
        assert isinstance(model, DenseNetImageClassifier)
        assert model.num_classes == NUM_CLASSES
        assert model.activation == "softmax"  # keras.applications' default
        backbone = model.backbone
    else:
        assert isinstance(model, DenseNetBackbone)
        backbone = model
    assert backbone.stackwise_num_repeats == BLOCKS
    assert backbone.growth_rate == 32 and backbone.stem_filters == 64
    ours = keras.ops.convert_to_numpy(model(images))
    assert np.max(np.abs(ours - expected)) <= TOLERANCE
    if include_top:
        np.testing.assert_array_equal(ours.argmax(-1), expected.argmax(-1))


def test_optimizer_state_in_a_full_model_file_is_ignored(images, tmp_path):
    reference = applications_model(include_top=True)
    reference.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    reference.optimizer.build(reference.trainable_variables)
    path = tmp_path / "compiled.h5"
    reference.save(path)
    with h5py.File(path) as h5_file:
        assert "optimizer_weights" in h5_file
    ours = keras.ops.convert_to_numpy(load_checkpoint(path)(images))
    expected = keras.ops.convert_to_numpy(reference(images))
    assert np.max(np.abs(ours - expected)) <= TOLERANCE


def test_activation_can_be_overridden_for_logits(references, images, tmp_path):
    reference = references[True]
    path = tmp_path / "model.weights.h5"
    reference.save_weights(path)
    model = load_checkpoint(path, activation="linear")
    logits = keras.ops.convert_to_numpy(model(images))
    expected = keras.ops.convert_to_numpy(reference(images))
    softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert np.max(np.abs(softmax - expected)) <= TOLERANCE


def test_preset_names_the_keras_source(references, tmp_path):
    path = tmp_path / "model.weights.h5"
    references[True].save_weights(path)
    out = convert(path, tmp_path / "preset")
    metadata = (out / "metadata.json").read_text()
    assert '"format": "keras_applications"' in metadata
    assert '"crop_pct": 1.0' in metadata


def test_extra_dataset_is_listed_as_unexpected(references, tmp_path):
    path = tmp_path / "model.weights.h5"
    references[False].save_weights(path)
    with h5py.File(path, "a") as h5_file:
        h5_file.create_dataset("stray/data", data=np.zeros(3, "float32"))
    with pytest.raises(ValueError, match=r"Unexpected keys \(1\): stray/data"):
        load_checkpoint(path)


def test_missing_layer_is_reported(references, tmp_path):
    path = tmp_path / "model.weights.h5"
    references[False].save_weights(path)
    final_bn = 1 + 2 * sum(BLOCKS) + (len(BLOCKS) - 1)  # stem, blocks, transitions
    with h5py.File(path, "a") as h5_file:
        del h5_file[f"layers/batch_normalization_{final_bn}"]
    unset = "no source tensor sets these model variables: bn/beta"
    with pytest.raises(ValueError, match=unset):
        load_checkpoint(path)


def test_misplaced_layer_names_both_shapes(references, tmp_path):
    """Layers map by position within their kind, as in Keras' own loader; a
    gap shifts them, and the first mismatch names both shapes."""
    path = tmp_path / "model.weights.h5"
    references[False].save_weights(path)
    with h5py.File(path, "a") as h5_file:
        del h5_file["layers/batch_normalization_3"]
    shifted = r"batch_normalization_4.*\(48,\).*transition1_bn/gamma.*\(96,\)"
    with pytest.raises(ValueError, match=shifted):
        load_checkpoint(path)


def test_not_a_densenet_is_rejected(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, use_bias=False),
            keras.layers.BatchNormalization(),
        ]
    )
    path = tmp_path / "small.weights.h5"
    model.save_weights(path)
    with pytest.raises(ValueError, match="expected a 7x7 stem"):
        load_checkpoint(path)


def test_links_out_of_the_file_are_refused(references, tmp_path):
    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as h5_file:
        h5_file.create_dataset("secret", data=np.ones((7, 7, 3, 64), "float32"))
    path = tmp_path / "model.weights.h5"
    references[False].save_weights(path)
    with h5py.File(path, "a") as h5_file:
        del h5_file["layers/conv2d/vars/0"]
        h5_file["layers/conv2d/vars/0"] = h5py.ExternalLink(str(outside), "secret")
    with pytest.raises(ValueError, match="ExternalLink"):
        load_checkpoint(path)


def test_truncated_file_is_refused(references, tmp_path):
    path = tmp_path / "model.weights.h5"
    references[False].save_weights(path)
    path.write_bytes(path.read_bytes()[:4096])
    with pytest.raises(ValueError, match="model.weights.h5"):
        load_checkpoint(path)
