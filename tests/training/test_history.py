"""The training history: `FinetuneResult.epochs` and `history.csv` hold
what Keras' History logged, epoch by epoch, with the learning rate; a
resumed run's history keeps the earlier epochs."""

import csv
import io
import math
import sys

import keras
import numpy as np
import PIL.Image
import pytest

import densenet_hub
from densenet_hub import training
from densenet_hub.training.history import history_csv
from densenet_hub.training.history import history_files

SETTINGS = dict(warmup_learning_rate=1e-2, learning_rate=1e-2, augment=(), batch_size=4,
                verbose=0)  # fmt: skip


def _classifier():
    keras.utils.set_random_seed(3)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    return densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=2,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )  # fmt: skip


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("history_images")
    rng = np.random.default_rng(5)
    paths = []
    for i in range(12):
        paths.append(root / f"{i}.png")
        pixels = rng.integers(0, 100, (32, 32, 3)) + 150 * (i % 2)
        PIL.Image.fromarray(pixels.astype("uint8")).save(paths[-1])
    return paths, np.arange(12) % 2


def _rows(data):
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_the_csv_equals_keras_history_and_survives_a_resume(images, tmp_path):
    paths, labels = images
    result = training.finetune(_classifier(), paths, labels, tmp_path / "ckpt",
                               warmup_epochs=1, epochs=2, patience=5, **SETTINGS)  # fmt: skip
    history = result.history  # Keras' History of each phase's fit, joined
    rows = _rows(history_csv(result.epochs))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    assert list(rows[0]) == ["epoch", *history, "learning_rate"]
    for name, values in history.items():
        assert [float(row[name]) for row in rows] == pytest.approx(values, rel=1e-6)
    # Each phase's cosine decays from its rate to 0 at the phase's end:
    # epoch 1 ends the warm-up; epoch 2 is half-way through the fine-tuning.
    rates = [float(row["learning_rate"]) for row in rows]
    assert rates == pytest.approx([0.0, 1e-2 * 0.5 * (1 + math.cos(math.pi / 2)), 0.0],
                                  abs=1e-9)  # fmt: skip

    # A run paused after one epoch and resumed: its history starts at epoch 1.
    first = training.finetune(_classifier(), paths, labels, tmp_path / "paused",
                              warmup_epochs=1, epochs=2, stop_after_epochs=1, **SETTINGS)
    assert [record["epoch"] for record in first.epochs] == [1]
    resumed = training.finetune(_classifier(), paths, labels, tmp_path / "paused",
                                warmup_epochs=1, epochs=2, **SETTINGS)  # fmt: skip
    assert [record["epoch"] for record in resumed.epochs] == [1, 2, 3]
    assert len(resumed.history["loss"]) == 2  # this call's epochs only
    assert resumed.epochs[0]["loss"] == first.epochs[0]["loss"]


def test_history_files_without_matplotlib(monkeypatch):
    import importlib.util

    epochs = [{"epoch": 1, "loss": 0.5, "val_auroc": 0.75, "learning_rate": 0.001},
              {"epoch": 2, "loss": 0.25, "val_auroc": 0.875, "learning_rate": 0.0}]  # fmt: skip
    files = history_files(epochs)
    assert _rows(files["history.csv"])[1] == {
        "epoch": "2", "loss": "0.25", "val_auroc": "0.875", "learning_rate": "0.0"
    }  # fmt: skip
    if importlib.util.find_spec("matplotlib") is not None:
        assert files["history.png"].startswith(b"\x89PNG")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert set(history_files(epochs)) == {"history.csv"}
