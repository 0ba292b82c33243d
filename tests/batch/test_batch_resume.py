"""Kill and resume: a batch job SIGKILLed after its first shards, then run
again, gives the rows of an uninterrupted run, row for row, none lost and
none twice."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import PIL.Image
import pytest

from densenet_hub.batch import batch_predict
from densenet_hub.batch import read_output
from helpers.models import build_tiny_classifier

SHARDS = 10
SHARD_SIZE = 4
# The child sleeps after each batch, so that the kill lands mid-run.
CHILD = textwrap.dedent(
    """
    import sys, time
    from densenet_hub.batch import batch_predict

    preset, listing, out = sys.argv[1:]
    paths = open(listing).read().split("\\n")
    batch_predict(preset, paths, out, batch_size=2, shard_size=4, top_k=3,
                  on_batch=lambda done, total: time.sleep(0.3))
    """
)


@pytest.mark.slow
def test_a_killed_job_resumes_to_the_uninterrupted_rows(tmp_path):
    rng = np.random.default_rng(5)
    paths = []
    for index in range(SHARDS * SHARD_SIZE - 1):
        path = tmp_path / f"{index:02d}.png"
        PIL.Image.fromarray(rng.integers(0, 256, (36, 44, 3), dtype="uint8")).save(path)
        paths.append(str(path))
    paths.insert(13, str(tmp_path / "missing.png"))
    preset = tmp_path / "preset"
    build_tiny_classifier().save_to_preset(str(preset))
    listing = tmp_path / "paths.txt"
    listing.write_text("\n".join(paths))
    out = tmp_path / "out"

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(preset), str(listing), str(out)],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while len(list(out.glob("part-*.parquet"))) < 2 and child.poll() is None:
            assert time.monotonic() < deadline, "the job wrote no shard in 300 s"
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    written = sorted(path.name for path in out.glob("part-*.parquet"))
    assert 2 <= len(written) < SHARDS

    resumed = batch_predict(str(preset), paths, out, batch_size=2, shard_size=4, top_k=3)
    whole = batch_predict(str(preset), paths, tmp_path / "whole", batch_size=2, shard_size=4,
                          top_k=3)  # fmt: skip

    assert resumed.skipped == len(written) and resumed.written == SHARDS - len(written)
    assert resumed.rows == whole.rows == len(paths) and resumed.errors == whole.errors == 1
    assert read_output(out).equals(read_output(whole.output))
    # Nothing of the killed run is left beside the shards.
    assert sorted(path.name for path in out.iterdir()) == sorted(
        ["_manifest.json", *(f"part-{shard:05d}.parquet" for shard in range(SHARDS))]
    )
