"""`engine="ray"` on a real local Ray cluster: a head and a second node on
the loopback address 127.0.0.2, one CPU each, started by the test. The job joins it by address,
its shards spread over both nodes, and its rows equal the local engine's
exactly (the same shards cut into the same batches, run by the same
runtime).

The cluster's processes are found by the test's own temp folder and ended
by process id, so another Ray on this machine is left alone."""

import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import PIL.Image
import pytest

from densenet_hub.batch import batch_embed
from densenet_hub.batch import batch_predict
from densenet_hub.batch import read_output
from helpers.models import build_tiny_classifier

# The cluster's own token (Ray's token authentication), for its nodes and
# the drivers of these tests rather than the one in ~/.ray.
SECRET = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

RAY = str(pathlib.Path(sys.executable).parent / "ray")
# A loopback address other than 127.0.0.1, which Ray replaces by the
# machine's network address (all of 127.0.0.0/8 is loopback on Linux).
HOST = "127.0.0.2"


def _free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _pids_under(folder):
    """The processes whose command line names `folder` (the cluster's)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if folder.encode() in command:
            found.append(int(entry.name))
    return found


def _reread_ray_authentication():
    """Makes this process's Ray read RAY_AUTH_* again: its core reads the
    mode and the token once, at their first use."""
    try:
        from ray._private.authentication_test_utils import reset_auth_token_state
    except ImportError:  # A Ray without token authentication reads neither.
        return
    reset_auth_token_state()


@pytest.fixture(scope="module", autouse=True)
def cluster_token():
    """`SECRET` in the environment of this module's tests only: later tests
    in the same process get Ray's own settings back."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRET.items():
            patch.setenv(name, value)
        _reread_ray_authentication()
        yield
    _reread_ray_authentication()


@pytest.fixture(scope="module")
def cluster(cluster_token):
    """`host:port` of a two-node cluster, stopped when the module ends."""
    # Short: Ray's socket paths live under it.
    folder = tempfile.mkdtemp(prefix="rayb", dir="/tmp")
    port = _free_port()
    address = f"{HOST}:{port}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": os.getcwd()}
    common = ["--num-cpus", "1", "--temp-dir", folder, "--disable-usage-stats"]
    nodes = []
    try:
        nodes.append(subprocess.Popen(
            [RAY, "start", "--head", "--block", "--node-ip-address", HOST, "--port",
             str(port), "--include-dashboard", "false", *common],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        _wait_for_nodes(address, 1, env)
        nodes.append(subprocess.Popen(
            [RAY, "start", "--block", "--address", address, "--node-ip-address", HOST,
             *common],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        _wait_for_nodes(address, 2, env)
        yield address
    finally:
        for node in reversed(nodes):
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(60)
            except subprocess.TimeoutExpired:
                node.kill()
        for pid in _pids_under(folder):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _wait_for_nodes(address, count, env):
    script = (
        "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
        "print(sorted(node['NodeManagerAddress'] for node in ray.nodes() if node['Alive']))"
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        done = subprocess.run(
            [sys.executable, "-c", script, address], env=env, capture_output=True, text=True
        )
        if done.returncode == 0:
            alive = done.stdout.strip().splitlines()[-1]
            assert alive.count("'") == 2 * alive.count(HOST), f"a node off {HOST}: {alive}"
            if alive.count(HOST) == count:
                return
        time.sleep(1)
    raise AssertionError(f"the Ray cluster at {address} did not reach {count} node(s)")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray_job")
    rng = np.random.default_rng(7)
    paths = []
    for index in range(11):
        path = folder / f"{index:02d}.png"
        PIL.Image.fromarray(rng.integers(0, 256, (30 + index, 34, 3), dtype="uint8")).save(path)
        paths.append(str(path))
    paths.insert(5, str(folder / "missing.png"))
    preset = folder / "preset"
    build_tiny_classifier().save_to_preset(str(preset))
    return preset, paths, folder


def test_ray_rows_equal_the_local_engine_and_spread_over_both_nodes(cluster, job):
    preset, paths, folder = job
    options = {"batch_size": 2, "shard_size": 3, "top_k": 3}
    local = batch_predict(str(preset), paths, folder / "local", **options)
    on_ray = batch_predict(str(preset), paths, folder / "ray", engine="ray", address=cluster,
                           workers=2, **options)  # fmt: skip

    assert read_output(on_ray.output).equals(read_output(local.output))
    assert (on_ray.rows, on_ray.errors, on_ray.written) == (12, 1, 4)
    assert sorted(record["shard"] for record in on_ray.workers) == [0, 1, 2, 3]
    assert len({record["node"] for record in on_ray.workers}) == 2
    assert sum(record["errors"] for record in on_ray.workers) == 1


def test_ray_embeddings_on_onnxruntime_equal_the_local_engine(cluster, job):
    preset, paths, folder = job
    options = {"batch_size": 4, "shard_size": 4, "runtime": "onnxruntime"}
    local = batch_embed(str(preset), paths, folder / "local_features", **options)
    on_ray = batch_embed(str(preset), paths, folder / "ray_features", engine="ray",
                         address=cluster, **options)  # fmt: skip

    assert read_output(on_ray.output).equals(read_output(local.output))
    assert on_ray.errors == 1 and len(on_ray.workers) == 3


def test_without_an_address_the_job_starts_and_stops_its_own_ray(job):
    preset, paths, folder = job
    options = {"batch_size": 4, "shard_size": 6}
    local = batch_predict(str(preset), paths, folder / "own_local", **options)
    on_ray = batch_predict(str(preset), paths, folder / "own_ray", engine="ray", workers=1,
                           **options)  # fmt: skip

    assert read_output(on_ray.output).equals(read_output(local.output))
    assert len({record["pid"] for record in on_ray.workers}) == 1
    assert not ray.is_initialized()
