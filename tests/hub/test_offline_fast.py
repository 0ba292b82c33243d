"""A built-in preset with no network: one connection attempt per source, no
retry loop, and a clear error, whether the host refuses or its name does not
resolve. The real clients, with their endpoints on a dead address.

The regression is the retry loop (23-35 s of huggingface_hub's retries), so
the tests count attempts; those counts do not depend on the machine's load.
Time gets only a loose bound below the old 23 s that a loaded 2-core
machine still meets: without retries the failure takes well under a second.
"""

import socket
import time

import pytest

from densenet_hub.hub import HubUnavailableError
from densenet_hub.models import ImageClassifier

# Below the 23 s the retry loop took at the least; far above what one
# attempt per source takes on a busy machine.
UNDER_THE_RETRY_LOOP_SECONDS = 20
# Kaggle once, the Hugging Face mirror once, and huggingface_hub's own fetch
# of its agent registry (for its user agent; once per process, at most once
# a day, never retried). Before the fix: 6 more for the mirror's retries.
MAX_ATTEMPTS = 3


def _refusing_url():
    # A port just released by this process: nothing listens there.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}", ("127.0.0.1", port)


def _point_both_hubs_at(url, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setenv("HF_ENDPOINT", url)
    # kagglesdk's fixed endpoint goes through the HTTP proxy (see conftest).
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("http_proxy", url)


def _load_builtin():
    start = time.monotonic()
    with pytest.raises(HubUnavailableError) as info:
        ImageClassifier.from_preset("densenet_121_imagenet")
    return str(info.value), time.monotonic() - start


def test_refused_port_fails_fast_with_one_attempt_per_source(kaggle, hf, guard, monkeypatch):
    url, address = _refusing_url()
    _point_both_hubs_at(url, monkeypatch)
    message, seconds = _load_builtin()
    attempts = [c for c in guard.connections if (c[1], c[2]) == address]
    assert 2 <= len(attempts) <= MAX_ATTEMPTS, attempts
    assert seconds < UNDER_THE_RETRY_LOOP_SECONDS, f"took {seconds:.1f} s: a retry loop is back"
    assert "None of the 2 sources" in message and "pass its folder" in message
    assert f"cannot connect to 127.0.0.1:{address[1]}" in message


def test_unresolvable_host_fails_fast_with_one_lookup_per_source(kaggle, hf, guard, monkeypatch):
    _point_both_hubs_at("http://nonexistent.invalid", monkeypatch)
    message, seconds = _load_builtin()
    lookups = [entry for entry in guard.lookups if entry[1] == "nonexistent.invalid"]
    assert 2 <= len(lookups) <= MAX_ATTEMPTS, lookups
    assert not [c for c in guard.connections if c[1] != "127.0.0.1"]
    assert seconds < UNDER_THE_RETRY_LOOP_SECONDS, f"took {seconds:.1f} s: a retry loop is back"
    assert "cannot resolve the host name 'nonexistent.invalid'" in message


def test_reachable_host_keeps_the_download_working(hf, guard):
    # The look before the request costs one connection, not the download.
    from densenet_hub.hub import download_preset
    from helpers.hub import HF_REPO
    from helpers.hub import preset_files

    hf.add_commit(HF_REPO, preset_files())
    assert (download_preset(f"hf://{HF_REPO}") / "config.json").is_file()
