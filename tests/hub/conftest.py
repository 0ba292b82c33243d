"""Set-up for the hub client tests."""

import pytest


@pytest.fixture(autouse=True)
def _seed_and_reset():
    """Replaces the root conftest's fixture of this name here: these tests
    build no Keras objects, and its per-test `clear_session` would dominate
    their run time."""
    yield
