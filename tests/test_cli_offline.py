"""A built-in preset the shell cannot download: one line per source tried
(the handle, the cause in a few words, the cache looked in), then the fixes
once, nothing cut mid-word. The real clients against a closed loopback port
(a port just released: nothing listens)."""

import socket

import numpy as np
import PIL.Image
import pytest

from densenet_hub.cli.main import main


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}", port


@pytest.fixture
def offline(kaggle, hf, guard, monkeypatch):
    from huggingface_hub import constants

    url, port = _closed_port_url()
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setenv("HF_ENDPOINT", url)
    # kagglesdk's fixed endpoint goes through the HTTP proxy (see conftest).
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("http_proxy", url)
    return port


def test_an_unreachable_preset_gets_a_line_per_source_and_the_fix(offline, tmp_path, capsys):
    image = tmp_path / "photo.png"
    PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert main(["predict", "densenet_121_imagenet", str(image)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4, lines
    assert lines[0] == (
        "densenet-hub: error: None of the 2 sources of this preset could be "
        "reached, and none is in the local cache:"
    )
    assert lines[1].startswith("  1. kaggle://keras/densenet/keras/densenet_121_imagenet/")
    assert ": cannot reach localhost: connection refused (cache: " in lines[1]
    assert lines[2].startswith("  2. hf://keras/densenet_121_imagenet: ")
    assert f"cannot connect to 127.0.0.1:{offline}: Connection refused (cache: " in lines[2]
    assert lines[3].startswith("  Fix: retry when online; or fetch it on a connected machine")
    assert "KAGGLEHUB_CACHE or HF_HUB_CACHE" in lines[3]
    assert not any("..." in line or "Traceback" in line for line in lines)
