"""Test set-up shared by every test module.

torch must be imported before TensorFlow in one process (the other order has
crashed on this machine), and keras_hub pulls in TensorFlow, so torch comes
first whenever it is installed.
"""

import importlib.util

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_and_reset():
    keras.utils.set_random_seed(1234)
    yield
    # free_memory=False skips a full gc.collect() (about 0.6 s a test).
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
