"""The preset weight-file writer: Keras' own `.weights.h5` layout, value for
value; and the checks of weight arrays held in memory."""

import h5py
import keras
import ml_dtypes
import numpy as np
import pytest
from helpers.models import build_tiny_backbone
from helpers.weights import max_abs_diff

from densenet_hub.presets import weights


def test_weight_files_match_keras_save_weights(tmp_path, tiny_classifier):
    """Our writer gives Keras' own `.weights.h5` layout, value for value."""
    classifier = tiny_classifier
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
    assert max(max_abs_diff(keras_file[k], ours[k]) for k in ours) == 0.0
    assert sorted(head) == ["layers/dense/vars/0", "layers/dense/vars/1"]
    task_file = datasets(tmp_path / "task_keras.weights.h5")
    assert max_abs_diff(task_file["layers/dense/vars/0"], head["layers/dense/vars/0"]) == 0.0


def _arrays(layout, fill=0.5):
    return {key: np.full(variable.shape, fill, "float32") for key, variable in layout.items()}


def test_arrays_in_memory_get_the_checks_of_a_file(tiny_backbone):
    """A checkpoint converted in memory is checked as a weight file is:
    missing and unexpected names, shapes, dtypes, NaN/Inf; nothing assigned
    on failure."""
    layout = weights.named_layout(tiny_backbone)
    before = {key: keras.ops.convert_to_numpy(v) for key, v in layout.items()}

    arrays = _arrays(layout)
    del arrays["conv1_bn/beta"]
    arrays["extra/kernel"] = np.zeros(3, "float32")
    with pytest.raises(ValueError) as error:
        weights.load_arrays(arrays, layout, "ckpt")
    assert "1 missing variable(s) [`conv1_bn/beta`" in str(error.value)
    assert "1 unexpected variable(s) [extra/kernel]" in str(error.value)

    arrays = _arrays(layout)
    arrays["conv1_conv/kernel"] = np.zeros((7, 7, 3, 5), "float32")
    with pytest.raises(ValueError, match=r"\(7, 7, 3, 5\) in the file but the model expects"):
        weights.load_arrays(arrays, layout, "ckpt")

    arrays = _arrays(layout)
    arrays["conv1_bn/gamma"] = arrays["conv1_bn/gamma"].astype("int32")
    with pytest.raises(ValueError, match="ckpt: variable `conv1_bn/gamma`.* stored as int32"):
        weights.load_arrays(arrays, layout, "ckpt")

    arrays = _arrays(layout)
    arrays["conv1_bn/gamma"][1] = np.inf
    with pytest.raises(ValueError, match=r"ckpt: NaN or infinite values .* in 1 variable\(s\)"):
        weights.load_arrays(arrays, layout, "ckpt")

    for key, variable in layout.items():
        assert np.array_equal(keras.ops.convert_to_numpy(variable), before[key])
    weights.load_arrays(_arrays(layout), layout, "ckpt")
    assert all(np.all(keras.ops.convert_to_numpy(v) == 0.5) for v in layout.values())


def test_arrays_are_cast_to_the_variables_dtype():
    backbone = build_tiny_backbone(dtype="bfloat16")
    layout = weights.named_layout(backbone)
    weights.load_arrays(_arrays(layout, fill=1 / 3), layout, "ckpt")
    value = keras.ops.convert_to_numpy(backbone.get_layer("conv1_conv").kernel)
    assert str(value.dtype) == "bfloat16"
    assert np.all(value == np.float32(1 / 3).astype(ml_dtypes.bfloat16))


def test_named_layout_leaves_a_nested_model_to_skip(tiny_classifier):
    with pytest.raises(TypeError, match="pass it in `skip`"):
        weights.named_layout(tiny_classifier)
    head = weights.named_layout(tiny_classifier, skip=[tiny_classifier.backbone])
    assert sorted(head) == ["predictions/bias", "predictions/kernel"]
