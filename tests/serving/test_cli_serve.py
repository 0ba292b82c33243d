"""`densenet-hub serve` as a user runs it: a fresh process on 127.0.0.1, which
answers, and on SIGTERM finishes, then ends by that signal (uvicorn raises it
again once the server has stopped, so a supervisor sees why it ended)."""

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
