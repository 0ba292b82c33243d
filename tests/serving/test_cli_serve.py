"""`densenet-hub serve` as a user runs it: a fresh process on 127.0.0.1, which
answers, and on SIGTERM finishes, then ends by that signal (uvicorn raises it
again once the server has stopped, so a supervisor sees why it ended); the
same with `--ray-replicas`, whose private Ray goes with it."""

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from serving_helpers import CLIENT_TIMEOUT_S
from serving_helpers import NAMES
from serving_helpers import images
from serving_helpers import png_bytes

from densenet_hub.cli.main import main

LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")
RAY_SERVING = re.compile(r"serving 'tiny' from 2 Ray Serve replicas on (http://127\.0\.0\.1:\d+)")
RAY_LOGS = re.compile(r"Ray's logs in (\S+);")


@pytest.mark.slow
def test_serve_answers_and_shuts_down_on_sigterm(preset, served):
    command = [sys.executable, "-m", "densenet_hub", "serve", str(preset), "--port", "0",
               "--max-batch", "4", "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        url, log = _wait_for_listening(process)
        image = images(1, seed=4)[0]
        answer = httpx.post(f"{url}/classify", content=png_bytes(image), timeout=CLIENT_TIMEOUT_S)
        metadata = httpx.get(f"{url}/v2/models/tiny", timeout=CLIENT_TIMEOUT_S).json()
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=CLIENT_TIMEOUT_S)
    assert process.returncode == -signal.SIGTERM, stderr
    assert "Application shutdown complete." in stderr
    assert "serving 'tiny' (5 classes, densenet_hub_keras)" in stdout
    assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] in NAMES
    assert metadata["outputs"][0]["shape"] == [-1, 5]
    expected = served.classifier.predict(image[None], verbose=0)
    assert answer.json()["predictions"][0]["label"] == NAMES[int(np.argmax(expected))]


@pytest.mark.slow
def test_serve_on_ray_replicas_answers_and_ends_on_sigterm(preset, served, tmp_path):
    command = [sys.executable, "-m", "densenet_hub", "serve", str(preset), "--port", "0",
               "--ray-replicas", "2", "--ray-cpus", "0.5", "--max-batch", "4"]  # fmt: skip
    environment = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    # Ray's warnings go to a file: an unread pipe could fill and stall it.
    with open(tmp_path / "stderr.txt", "w+") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env={**environment, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        try:
            line = process.stdout.readline()
            url = RAY_SERVING.search(line)
            assert url, f"not the serving line: {line!r}; {(tmp_path / 'stderr.txt').read_text()}"
            image = images(1, seed=4)[0]
            answer = httpx.post(f"{url.group(1)}/classify", content=png_bytes(image),
                                timeout=CLIENT_TIMEOUT_S)  # fmt: skip
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=CLIENT_TIMEOUT_S)
    assert process.returncode == -signal.SIGTERM, (tmp_path / "stderr.txt").read_text()
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-densenet-hub-pid"] != str(process.pid)  # a replica answered
    expected = served.classifier.predict(image[None], verbose=0)
    assert answer.json()["predictions"][0]["label"] == NAMES[int(np.argmax(expected))]
    assert not os.path.exists(RAY_LOGS.search(line).group(1))  # the private Ray is gone


@pytest.mark.slow
def test_serve_on_ray_stopped_while_its_replicas_start_ends_by_sigterm(preset, tmp_path):
    command = [sys.executable, "-m", "densenet_hub", "serve", str(preset), "--port", "0",
               "--ray-replicas", "1", "--ray-cpus", "0.5"]  # fmt: skip
    environment = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env={**environment, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        try:
            deadline = time.monotonic() + CLIENT_TIMEOUT_S
            # Ray is up (its crash handler had taken SIGTERM), the replica not yet.
            while "Started Serve" not in log.read_text():
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            stdout, _ = process.communicate(timeout=CLIENT_TIMEOUT_S)
    assert process.returncode == -signal.SIGTERM, log.read_text()
    assert "SIGTERM received" not in log.read_text()  # Ray's crash handler did not take it
    assert "serving 'tiny'" not in stdout


def _wait_for_listening(process):
    """The URL the server printed, and its log so far."""
    log = ""
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        log += line
        match = LISTENING.search(line)
        if match:
            return match.group(1), log
    raise AssertionError(f"the server never said where it listens:\n{log}")


def test_serve_refuses_a_backbone_preset_in_one_line(tmp_path, capsys):
    from helpers.models import build_tiny_backbone

    build_tiny_backbone().save_to_preset(str(tmp_path / "backbone"))
    assert main(["serve", str(tmp_path / "backbone"), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "has no classification head" in err and "Traceback" not in err
