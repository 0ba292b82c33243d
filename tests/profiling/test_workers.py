"""`densenet_hub.profiling.workers`: each candidate in a fresh interpreter that
imports torch before Keras (and so TensorFlow), answering over a socket."""

import numpy as np
import pytest

from densenet_hub.profiling.workers import Worker


@pytest.mark.slow
def test_a_worker_builds_answers_and_stops():
    worker = Worker("densenet_hub", 121, 32)
    try:
        assert worker.available, worker.reason
        outputs = worker.outputs(2)
        assert outputs.shape == (2, 1, 1, 1024) and np.all(np.isfinite(outputs))
        assert worker.seconds_per_call(2, 0.05) > 0
    finally:
        worker.stop()
    assert worker.process.returncode == 0


@pytest.mark.slow
def test_a_worker_that_dies_is_reported_with_its_exit_code():
    with pytest.raises(RuntimeError, match=r"bench worker died \(exit code 1\)"):
        Worker("no-such-candidate", 121, 32)
