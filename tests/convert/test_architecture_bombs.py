"""Tiny checkpoints whose tensor shapes imply a huge DenseNet are refused
before anything is built."""

import h5py
import numpy as np
import pytest
from safetensors.numpy import save_file

from densenet_hub.convert import convert
from densenet_hub.convert import load_checkpoint

GROWTH_RATE = 20000


def bomb_tensors():
    """A 7x7 stem and one dense layer whose empty kernels say growth 20000."""
    return {
        "features.conv0.weight": np.ones((1, 3, 7, 7), "float32"),
        "features.denseblock1.denselayer1.conv1.weight": np.zeros(
            (4 * GROWTH_RATE, 0, 1, 1), "float32"
        ),
        "features.denseblock1.denselayer1.conv2.weight": np.zeros(
            (GROWTH_RATE, 0, 3, 3), "float32"
        ),
        "classifier.weight": np.zeros((1000, 0), "float32"),
    }


def test_safetensors_bomb_is_refused_before_building(tmp_path):
    path = tmp_path / "bomb.safetensors"
    save_file(bomb_tensors(), str(path))
    assert path.stat().st_size < 10_000
    with pytest.raises(ValueError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"growth_rate={GROWTH_RATE}" in message
    assert "hold only 147 values" in message  # the stem's 3 * 7 * 7
    assert "Re-download or re-export" in message
    with pytest.raises(ValueError, match="hold only 147 values"):
        convert(path, tmp_path / "preset")
    assert not (tmp_path / "preset").exists()


def test_keras_weights_bomb_is_refused_before_building(tmp_path):
    path = tmp_path / "bomb.weights.h5"
    with h5py.File(path, "w") as file:
        file["layers/conv2d/vars/0"] = np.ones((7, 7, 3, 1), "float32")
        file.create_dataset("layers/conv2d_1/vars/0", shape=(1, 1, 0, 4 * GROWTH_RATE), dtype="f4")
        file.create_dataset("layers/conv2d_2/vars/0", shape=(3, 3, 0, GROWTH_RATE), dtype="f4")
    with pytest.raises(ValueError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert str(path) in message and f"growth_rate={GROWTH_RATE}" in message
    assert "hold only 147 values" in message
