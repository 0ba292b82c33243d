"""Training on several devices and processes (`densenet_hub.distribution`,
`densenet-hub train --devices`).

Keras implements `keras.distribution` for JAX only, so the distributed runs
are JAX-only; under torch and TensorFlow the clear error is checked instead.
The CPU device count is fixed when JAX starts, so every distributed run is a
fresh process (`tests/distributed_worker.py` or the CLI) with
`XLA_FLAGS=--xla_force_host_platform_device_count=N`; each is compared with a
single-device run on the same global batches and seed.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import PIL.Image
import pytest

from densenet_hub import distribution
from densenet_hub.cli.main import main
from densenet_hub.models.image_classifier import ImageClassifier
from helpers.cli import error_line
from helpers.models import save_tiny_classifier_preset
from helpers.cli import write_graded_noise_images
from helpers.paths import REPO_ROOT

ROOT = REPO_ROOT
WORKER = pathlib.Path(__file__).parent / "distributed_worker.py"
TIMEOUT = 300
# Float32 rounding only: the sharded step adds the same numbers in another
# order. Observed: losses 6e-8; weights 1.2e-7 (data parallel, one process),
# 9e-6 (model parallel and two processes, on the stem kernel, |w| ~ 0.13).
LOSS_TOLERANCE = 1e-5
WEIGHT_TOLERANCE = 5e-5
ON_JAX = keras.backend.backend() == "jax"
jax_only = pytest.mark.skipif(
    not ON_JAX,
    reason="keras.distribution is implemented for the JAX backend only; "
    "test_other_backends_get_a_clear_error checks this backend's error",
)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(devices, **extra):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in distribution_env_names()
    }
    env.update(
        KERAS_BACKEND="jax",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        **extra,
    )
    return env


def distribution_env_names():
    return (
        distribution.COORDINATOR_ENV,
        distribution.KERAS_ADDRESSES_ENV,
        distribution.KERAS_NUM_PROCESSES_ENV,
        distribution.KERAS_PROCESS_ID_ENV,
    )


def start(command, devices, **extra_env):
    return subprocess.Popen(
        [sys.executable, *command],
        env=child_env(devices, **extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process):
    """`(exit status, output)`, killing a process that hangs."""
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        return "timed out", output
    return process.returncode, output


# === The same training on 1, 2, 4 devices and 2 processes ===


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`{name: (exit status, output, npz path)}` of every worker run. Runs
    that need the same device count share a process; the processes run at
    once."""
    if not ON_JAX:
        pytest.skip("JAX only")
    folder = tmp_path_factory.mktemp("distributed")
    coordinator = f"127.0.0.1:{free_port()}"
    plans = [
        (4, ["one=one_device", "dp4=data_parallel"]),
        (2, ["dp2=data_parallel", "mp2=model_parallel"]),
    ]
    for process_id in (0, 1):
        plans.append((2, ["pair=data_parallel", "--coordinator-address", coordinator,
                          "--num-processes", "2", "--process-id", str(process_id)]))  # fmt: skip
    processes = [start([str(WORKER), str(folder), *options], devices) for devices, options in plans]
    statuses = [finish(process) for process in processes]
    written = {
        "one device": (statuses[0], "one"),
        "data parallel, 4 devices": (statuses[0], "dp4"),
        "data parallel, 2 devices": (statuses[1], "dp2"),
        "model parallel, 2 devices": (statuses[1], "mp2"),
        "2 processes x 2 devices, process 0": (statuses[2], "pair"),
        "2 processes x 2 devices, process 1": (statuses[3], "pair.process1"),
    }
    return {name: (*status, folder / f"{stem}.npz") for name, (status, stem) in written.items()}


def load(runs, name):
    status, output, path = runs[name]
    assert status == 0, f"{name} failed ({status}):\n{output[-3000:]}"
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def max_differences(reference, other):
    weights = sorted(key for key in reference if key.startswith("weight:"))
    assert weights == sorted(key for key in other if key.startswith("weight:"))
    loss = np.abs(reference["losses"] - other["losses"]).max()
    worst = max(weights, key=lambda key: np.abs(reference[key] - other[key]).max())
    return loss, np.abs(reference[worst] - other[worst]).max(), worst


def assert_matches_one_device(runs, name, devices):
    reference, run = load(runs, "one device"), load(runs, name)
    assert int(reference["devices"]) == 1 and int(run["devices"]) == devices
    loss, weight, worst = max_differences(reference, run)
    print(f"{name}: max |loss diff| {loss:.2e}, max |weight diff| {weight:.2e} ({worst})")
    assert loss <= LOSS_TOLERANCE, (name, loss)
    assert weight <= WEIGHT_TOLERANCE, (name, weight, worst)
    return run


@pytest.mark.slow
@jax_only
def test_the_reference_run_really_trains(runs):
    reference = load(runs, "one device")
    losses = reference["losses"]
    assert len(losses) == 6 and np.ptp(losses) > 0.1
    # BatchNorm moving statistics moved away from their initial 0 / 1.
    assert np.abs(reference["weight:conv1_bn/moving_variance"] - 1).max() > 1e-3
    assert np.abs(reference["weight:bn/moving_variance"] - 1).max() > 1e-3


@pytest.mark.slow
@jax_only
@pytest.mark.parametrize("devices", [2, 4])
def test_data_parallel_matches_one_device(runs, devices):
    run = assert_matches_one_device(runs, f"data parallel, {devices} devices", devices)
    assert tuple(run["bottleneck_shard_shape"]) == (1, 1, 64, 16)  # replicated


@pytest.mark.slow
@jax_only
def test_model_parallel_matches_one_device(runs):
    run = assert_matches_one_device(runs, "model parallel, 2 devices", 2)
    # The bottleneck's 16 output channels are split over the 2 devices.
    assert tuple(run["bottleneck_shard_shape"]) == (1, 1, 64, 8)


@pytest.mark.slow
@jax_only
@pytest.mark.parametrize("process_id", [0, 1])
def test_two_processes_match_one_device(runs, process_id):
    assert_matches_one_device(runs, f"2 processes x 2 devices, process {process_id}", 4)


# === densenet-hub train --devices, then resumed by two processes ===


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_tiny_classifier_preset(tmp_path_factory.mktemp("base") / "preset")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_graded_noise_images(tmp_path_factory.mktemp("data"), ["a", "b", "c"], 4)


def train_command(data, base, out, *extra):
    return ["-m", "densenet_hub", "train", str(data), "--preset", str(base),
            "--out", str(out), "--batch-size", "4", "--warmup-epochs", "1",
            "--epochs", "1", *extra]  # fmt: skip


@pytest.mark.slow
@jax_only
def test_cli_trains_on_two_devices_and_two_processes_resume(data, base, tmp_path):
    out = tmp_path / "model"
    checkpoint = tmp_path / "model.checkpoints"
    status, output = finish(
        start(train_command(data, base, out, "--devices", "2", "--stop-after-epochs", "1"), 2)
    )
    assert status == 75, output[-3000:]
    assert "training on 2 devices (data_parallel, 1 process(es)); global batch 4" in output
    # 9 training and 3 validation images in batches of 4: the last batch of
    # each training epoch is cut to a multiple of 2; validation pads and masks.
    assert "training leaves out 1 image(s) per epoch" in output
    assert "validation uses every image" in output
    assert json.loads((checkpoint / "state.json").read_text())["epochs_done"] == 1

    # Resumed by two processes of one device each, configured through
    # Keras' environment variables; only process 0 reports and writes.
    coordinator = f"127.0.0.1:{free_port()}"
    processes = [
        start(train_command(data, base, out), 1,
              KERAS_DISTRIBUTION_JOB_ADDRESSES=coordinator,
              KERAS_DISTRIBUTION_NUM_PROCESSES="2",
              KERAS_DISTRIBUTION_PROCESS_ID=str(process_id))
        for process_id in (0, 1)
    ]  # fmt: skip
    (status0, output0), (status1, output1) = [finish(p) for p in processes]
    assert status0 == 0, output0[-3000:]
    assert status1 == 0, output1[-3000:]
    assert "training on 2 devices (data_parallel, 2 process(es))" in output0
    assert "resuming from epoch 1 of 2" in output0 and "Epoch 2/2" in output0
    assert "saved " in output0 and "saved " not in output1 and "Epoch" not in output1
    assert not checkpoint.exists()

    classifier = ImageClassifier.from_preset(str(out))
    assert classifier.num_classes == 3
    assert json.loads((out / "class_names.json").read_text()) == ["a", "b", "c"]
    image = np.asarray(PIL.Image.open(data / "b" / "0.png"))
    scores = keras.ops.convert_to_numpy(classifier.predict_on_batch([image]))
    assert scores.shape == (1, 3) and np.isfinite(scores).all()


# === Clear errors ===


def test_other_backends_get_a_clear_error(data, tmp_path, capsys):
    if ON_JAX:
        pytest.skip("the JAX backend supports keras.distribution")
    backend = keras.backend.backend()
    route = {"torch": "DistributedDataParallel", "tensorflow": "tf.distribute"}[backend]
    for call in (distribution.data_parallel, distribution.model_parallel, distribution.initialize):
        with pytest.raises(distribution.DistributionError) as caught:
            call()
        message = str(caught.value)
        assert f"KERAS_BACKEND is {backend!r}" in message and "KERAS_BACKEND=jax" in message
        assert route in message
    # The process helpers answer for the one process on every backend.
    assert (distribution.process_index(), distribution.process_count()) == (0, 1)
    assert distribution.is_chief()
    command = ["train", str(data), "--preset", "densenet121", "--out", str(tmp_path / "o"),
               "--devices", "2"]  # fmt: skip
    assert main(command) == 1
    assert f"KERAS_BACKEND is {backend!r}" in error_line(capsys)


@jax_only
def test_asking_for_missing_devices_says_how_to_simulate_them(data, tmp_path, capsys):
    present = len(keras.distribution.list_devices())
    with pytest.raises(distribution.DistributionError) as caught:
        distribution.data_parallel(devices=present + 1)
    assert f"{present + 1} devices were asked for but {present} are present" in str(caught.value)
    assert "XLA_FLAGS=--xla_force_host_platform_device_count=N" in str(caught.value)
    command = ["train", str(data), "--preset", "densenet121", "--out", str(tmp_path / "o"),
               "--devices", str(present + 1)]  # fmt: skip
    assert main(command) == 1
    assert "--xla_force_host_platform_device_count" in error_line(capsys)
    assert keras.distribution.distribution() is None


def test_a_global_batch_must_split_evenly():
    distribution.check_global_batch(8, replicas=4)
    with pytest.raises(distribution.DistributionError) as caught:
        distribution.check_global_batch(6, replicas=4)
    assert "global batch size 6 is not divisible by 4" in str(caught.value)
    assert "e.g. 4 or 8" in str(caught.value)


@jax_only
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"coordinator_address": "nohost", "num_processes": 2, "process_id": 0},
         "'nohost' is not HOST:PORT"),
        ({"coordinator_address": "127.0.0.1:1", "num_processes": 2, "process_id": 2},
         "process_id must be from 0 to num_processes - 1 = 1, got 2"),
        ({"coordinator_address": "127.0.0.1:1", "num_processes": 0, "process_id": 0},
         "num_processes must be at least 1"),
    ],
)  # fmt: skip
def test_bad_process_settings_are_refused_before_connecting(kwargs, message):
    with pytest.raises(distribution.DistributionError) as caught:
        distribution.initialize(**kwargs)
    assert message in str(caught.value)


@jax_only
def test_bad_process_environment_is_named(monkeypatch):
    monkeypatch.setenv(distribution.KERAS_NUM_PROCESSES_ENV, "two")
    with pytest.raises(distribution.DistributionError) as caught:
        distribution.initialize("127.0.0.1:1")
    assert "KERAS_DISTRIBUTION_NUM_PROCESSES='two' is not an integer" in str(caught.value)


@jax_only
def test_model_parallel_refuses_splits_that_do_not_divide():
    with pytest.raises(distribution.DistributionError) as caught:
        distribution.model_parallel(model_devices=2, devices=1)
    assert "1 devices cannot be split into groups of model_devices=2" in str(caught.value)
    assert keras.distribution.distribution() is None
    # A 3-way split of a bottleneck of 16 channels (growth rate 4). The mesh
    # names devices only; nothing is placed until a variable is created.
    mesh = keras.distribution.DeviceMesh((1, 3), ["batch", "model"], ["cpu:0", "cpu:1", "cpu:2"])
    layout = distribution._CheckedModelParallel(
        layout_map=distribution.densenet_layout_map(mesh), batch_dim_name="batch"
    )
    conv = keras.layers.Conv2D(16, 1, name="stack1_block1_1_conv")
    conv.build((None, 8, 8, 64))
    with pytest.raises(distribution.DistributionError) as caught:
        layout.get_variable_layout(conv.kernel)
    assert "stack1_block1_1_conv/kernel of shape (1, 1, 64, 16)" in str(caught.value)
    assert "16 is not a multiple of 3" in str(caught.value)


def test_densenet_layout_map_splits_only_the_bottlenecks():
    mesh = keras.distribution.DeviceMesh((1, 1), ["batch", "model"], ["cpu:0"])
    layout_map = distribution.densenet_layout_map(mesh)
    assert layout_map["stack3_block12_1_conv/kernel"].axes == (None, None, None, "model")
    assert layout_map["stack3_block12_2_bn/moving_variance"].axes == ("model",)
    assert layout_map["stack3_block12_2_conv/kernel"].axes == (None, None, "model", None)
    for replicated in ("conv1_conv/kernel", "stack1_block1_1_bn/gamma",
                       "transition1_conv/kernel", "predictions/kernel"):  # fmt: skip
        assert layout_map[replicated] is None, replicated
