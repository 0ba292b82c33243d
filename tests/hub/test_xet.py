"""Xet stays off in the tests, and that is what keeps transfers visible.

huggingface_hub hands a file whose answer carries `X-Xet-Hash` (every file
of an Xet-backed repository, as all of the Hub's now are) to `hf_xet`, and
uploads LFS files through it too. `hf_xet` is native code: the loopback
guard's audit hook cannot see its sockets. So the guard switches Xet off
while armed (`HF_HUB_DISABLE_XET`, see `stub_servers/loopback_guard.py`).
These tests check the switch, that the Hugging Face stub sends the Xet
headers a current huggingface_hub reacts to, and that with the switch the
bytes travel over plain HTTP.
"""

import importlib.util
import os

import pytest
from helpers.hub import HF_REPO
from helpers.hub import preset_files
from stub_servers.huggingface import xet_hash
from stub_servers.loopback_guard import XET_SWITCH
from stub_servers.loopback_guard import loopback_only

from densenet_hub.hub import HubUnavailableError
from densenet_hub.hub import download_preset

HANDLE = f"hf://{HF_REPO}"
HAS_HF_XET = importlib.util.find_spec("hf_xet") is not None


def _xet_available():
    # The function huggingface_hub's download and upload paths call.
    from huggingface_hub.file_download import is_xet_available

    return is_xet_available()


def test_the_guard_switches_xet_off_while_armed_and_back_after():
    from huggingface_hub import constants

    environment_before = os.environ.get(XET_SWITCH)
    constant_before = constants.HF_HUB_DISABLE_XET
    with loopback_only():
        assert os.environ[XET_SWITCH] == "1"
        assert constants.HF_HUB_DISABLE_XET is True
        assert _xet_available() is False
    assert os.environ.get(XET_SWITCH) == environment_before
    assert constants.HF_HUB_DISABLE_XET is constant_before


def test_xet_backed_weights_download_over_http_not_through_hf_xet(hf, guard):
    files = preset_files()
    commit = hf.add_commit(HF_REPO, files)
    weights = files["model.weights.h5"]

    download_preset(HANDLE)

    # The Hub's Xet answer: the hash, and the token route huggingface_hub
    # would ask before handing the file to hf_xet.
    (head,) = [
        e for e in hf.exchanges_for("/resolve/", "HEAD") if e.path.endswith("/model.weights.h5")
    ]
    assert head.response_headers["X-Xet-Hash"] == xet_hash(weights)
    assert (
        f'<{hf.url}/api/models/{HF_REPO}/xet-read-token/{commit}>; rel="xet-auth"'
        in head.response_headers["Link"]
    )
    # No token was asked for (hf_xet cannot start without one), and the
    # bytes came from the storage origin over a socket the guard saw.
    assert not hf.exchanges_for("/xet-read-token/")
    assert (HF_REPO, "model.weights.h5", hf.storage_url) in hf.served
    storage_port = int(hf.storage_url.rsplit(":", 1)[1])
    assert ("socket.connect", "127.0.0.1", storage_port) in guard.connections


@pytest.mark.skipif(
    not HAS_HF_XET,
    reason="hf_xet is not installed here (huggingface_hub installs it on x86_64 and arm64 only), "
    "so huggingface_hub could not take the Xet path this test shows",
)
def test_without_the_switch_huggingface_hub_would_take_the_xet_path(hf, guard, monkeypatch):
    from huggingface_hub import constants

    hf.add_commit(HF_REPO, preset_files())
    # Switched back on inside the guard. Safe: the first step of the Xet
    # path is huggingface_hub's own Python request for a token, to the
    # stub's loopback URL, which answers 501, so hf_xet never gets a
    # connection.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    assert _xet_available() is True

    with pytest.raises(HubUnavailableError, match="HTTP 501"):
        download_preset(HANDLE)

    (token_request,) = hf.exchanges_for("/xet-read-token/")
    assert token_request.method == "GET" and token_request.status == 501
    assert not [name for _, name, _ in hf.served if name == "model.weights.h5"]
