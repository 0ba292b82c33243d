"""`TrainingCheckpoint`'s state file: published atomically by the one
publisher and read back by the one JSON reader, whatever its size and with
the NaN a multi-label run records for accuracy."""

import math

import keras
import numpy as np
import pytest

from densenet_hub.training import CheckpointError
from densenet_hub.training import TrainingCheckpoint
from densenet_hub.training.checkpoint import STATE_FILE


def _fit(folder, settings, epochs=2):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((8, 2)), np.zeros((8, 1))
    checkpoint = TrainingCheckpoint(folder, settings, patience=2)
    model.fit(x, y, validation_data=(x, y), epochs=epochs, callbacks=[checkpoint], verbose=0)
    return checkpoint


def test_a_large_state_with_nan_resumes_and_leaves_no_staging_files(tmp_path):
    # Over the 1 MiB cap of preset JSON files, as a split of ~30k images is.
    settings = {"train_files": [f"images/{i:07d}.png" for i in range(60_000)]}
    checkpoint = _fit(tmp_path, settings)
    assert (tmp_path / STATE_FILE).stat().st_size > 1 << 20
    assert math.isnan(checkpoint.best["val_accuracy"])  # no accuracy metric
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []
    resumed = TrainingCheckpoint(tmp_path, settings, patience=2)
    assert resumed.epochs_done == 2 and math.isnan(resumed.best["val_accuracy"])


def test_an_unreadable_state_names_the_file_and_the_fix(tmp_path):
    _fit(tmp_path, {"seed": 0}, epochs=1)
    (tmp_path / STATE_FILE).write_text('{"settings": {"seed": 0}')
    with pytest.raises(CheckpointError) as caught:
        TrainingCheckpoint(tmp_path, {"seed": 0}, patience=2)
    message = str(caught.value)
    assert f"the checkpoint {tmp_path / STATE_FILE} cannot be read" in message
    assert message.endswith("; pass restart=True to start over.")
    assert "preset" not in message
