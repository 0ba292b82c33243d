"""Kaggle downloads and uploads through the real kagglehub client, against
the stub server in `stub_servers/kaggle.py`."""

import sys
import threading

import pytest
from helpers.hub import HF_REPO
from helpers.hub import KAGGLE_VARIATION
from helpers.hub import folder_files
from helpers.hub import preset_files
from helpers.hub import set_hf_offline

from densenet_hub.hub import HubAccessDeniedError
from densenet_hub.hub import HubAuthenticationError
from densenet_hub.hub import HubGatedError
from densenet_hub.hub import HubNotFoundError
from densenet_hub.hub import HubUnavailableError
from densenet_hub.hub import MissingHubClientError
from densenet_hub.hub import download_first_available
from densenet_hub.hub import download_preset
from densenet_hub.hub import upload_preset

HANDLE = f"kaggle://{KAGGLE_VARIATION}/3"
DOWNLOAD = "/api/v1/models.ModelApiService/DownloadModelInstanceVersion"


def _network_use(guard):
    return len(guard.connections) + len(guard.lookups)


def test_download_fetches_every_file_from_the_stub(kaggle, guard, tmp_path):
    files = preset_files()
    kaggle.add_version(KAGGLE_VARIATION, 3, files)
    folder = download_preset(HANDLE)
    assert folder == tmp_path / "kagglehub" / "models" / KAGGLE_VARIATION / "3"
    assert folder_files(folder) == files
    assert kaggle.paths("POST").count(DOWNLOAD) == len(files)
    # kagglesdk addressed its LOCALHOST endpoint, and every socket the
    # process opened went to the stub's loopback port.
    assert {host for _, _, host in kaggle.requests} == {"localhost"}
    assert guard.connections
    assert {(host, port) for _, host, port in guard.connections} == {
        ("127.0.0.1", kaggle.port)
    }


def test_pinned_cached_preset_loads_without_any_network(kaggle, guard):
    files = preset_files()
    kaggle.add_version(KAGGLE_VARIATION, 3, files)
    first = download_preset(HANDLE)
    kaggle.stop()
    requests_before, network_before = len(kaggle.requests), _network_use(guard)
    assert download_preset(HANDLE) == first
    assert folder_files(first) == files
    assert len(kaggle.requests) == requests_before
    assert _network_use(guard) == network_before


def test_unversioned_handle_gets_the_latest_version(kaggle):
    kaggle.add_version(KAGGLE_VARIATION, 1, preset_files(seed=1))
    kaggle.add_version(KAGGLE_VARIATION, 3, preset_files(seed=3))
    folder = download_preset(f"kaggle://{KAGGLE_VARIATION}")
    assert folder.name == "3"
    assert folder_files(folder) == preset_files(seed=3)
    assert "/api/v1/models.ModelApiService/GetModelInstance" in kaggle.paths()


def test_unversioned_handle_offline_advises_pinning(kaggle):
    kaggle.add_version(KAGGLE_VARIATION, 3, preset_files())
    download_preset(f"kaggle://{KAGGLE_VARIATION}")
    kaggle.stop()
    with pytest.raises(HubUnavailableError) as info:
        download_preset(f"kaggle://{KAGGLE_VARIATION}")
    message = str(info.value)
    assert f"kaggle://{KAGGLE_VARIATION}" in message
    assert "pin a version" in message


def test_offline_and_not_cached_says_how_to_fix(kaggle, tmp_path):
    kaggle.stop()
    with pytest.raises(HubUnavailableError) as info:
        download_preset(HANDLE)
    message = str(info.value)
    assert HANDLE in message
    assert str(tmp_path / "kagglehub") in message
    assert "KAGGLEHUB_CACHE" in message and "pass its folder" in message
    assert isinstance(info.value, ConnectionError)


@pytest.mark.parametrize(
    "status, error, hint",
    [
        (401, HubAuthenticationError, "KAGGLE_API_TOKEN"),
        (403, HubAccessDeniedError, "accept its terms"),
    ],
)
def test_refusals_have_their_own_error(kaggle, status, error, hint):
    kaggle.add_version(KAGGLE_VARIATION, 3, preset_files())
    kaggle.fail_status = status
    with pytest.raises(error) as info:
        download_preset(HANDLE)
    assert not isinstance(info.value, HubGatedError)
    message = str(info.value)
    assert HANDLE in message and str(status) in message and hint in message


def test_unknown_version_is_not_found(kaggle):
    kaggle.add_version(KAGGLE_VARIATION, 3, preset_files())
    with pytest.raises(HubNotFoundError) as info:
        download_preset(f"kaggle://{KAGGLE_VARIATION}/9")
    message = str(info.value)
    assert "404" in message
    assert f"https://www.kaggle.com/models/{KAGGLE_VARIATION}/9" in message


def test_version_without_config_is_not_a_preset(kaggle):
    kaggle.add_version(KAGGLE_VARIATION, 3, {"model.pt": b"not a keras preset"})
    with pytest.raises(HubNotFoundError, match="holds no config.json"):
        download_preset(HANDLE)


def test_truncated_transfer_is_never_trusted_and_a_retry_succeeds(kaggle):
    files = preset_files()
    kaggle.add_version(KAGGLE_VARIATION, 3, files)
    kaggle.truncate = {"model.weights.h5"}
    with pytest.raises(HubUnavailableError, match="broke off"):
        download_preset(HANDLE)
    # The half file is not marked complete: with Kaggle failing, the
    # download fails again rather than return what is on disk.
    kaggle.truncate = set()
    kaggle.fail_status = 503
    with pytest.raises(HubUnavailableError, match="HTTP 503"):
        download_preset(HANDLE)
    kaggle.fail_status = None
    assert folder_files(download_preset(HANDLE)) == files


def test_concurrent_downloads_all_succeed_with_one_transfer(kaggle):
    files = preset_files()
    kaggle.add_version(KAGGLE_VARIATION, 3, files)
    results, failures = [], []

    def download():
        try:
            results.append(download_preset(HANDLE))
        except Exception as err:  # collected and asserted below
            failures.append(err)

    threads = [threading.Thread(target=download) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(set(results)) == 1
    assert folder_files(results[0]) == files
    assert kaggle.paths("POST").count(DOWNLOAD) == len(files)


def test_upload_sends_every_file_and_round_trips(kaggle, tmp_path):
    # Two files keep this quick: kagglehub makes one client per file.
    files = {name: preset_files()[name] for name in ("config.json", "model.weights.h5")}
    folder = tmp_path / "preset"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    upload_preset(f"kaggle://{KAGGLE_VARIATION}", folder)
    assert dict(kaggle.blobs.values()) == files
    key = tuple(KAGGLE_VARIATION.split("/"))
    assert ("version", key, 1) in kaggle.created
    assert folder_files(download_preset(f"kaggle://{KAGGLE_VARIATION}/1")) == files


def test_upload_to_a_versioned_handle_is_refused_before_any_request(kaggle, guard, tmp_path):
    folder = tmp_path / "preset"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"drop '/3'"):
        upload_preset(HANDLE, folder)
    assert kaggle.requests == []
    assert _network_use(guard) == 0


def test_upload_refused_with_403(kaggle, tmp_path):
    folder = tmp_path / "preset"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    kaggle.fail_status = 403
    with pytest.raises(HubAccessDeniedError, match="upload"):
        upload_preset(f"kaggle://{KAGGLE_VARIATION}", folder)


def test_mirror_is_used_when_kaggle_cannot_be_reached(kaggle, hf):
    files = preset_files()
    hf.add_commit(HF_REPO, files)
    kaggle.stop()
    folder = download_first_available([HANDLE, f"hf://{HF_REPO}"])
    assert folder_files(folder) == files


def test_mirror_is_not_used_when_kaggle_answers_404(kaggle, hf):
    hf.add_commit(HF_REPO, preset_files())
    with pytest.raises(HubNotFoundError):
        download_first_available([HANDLE, f"hf://{HF_REPO}"])
    assert hf.requests == []


def test_no_reachable_source_lists_every_source(kaggle, hf, monkeypatch):
    kaggle.stop()
    set_hf_offline(monkeypatch)
    with pytest.raises(HubUnavailableError) as info:
        download_first_available([HANDLE, f"hf://{HF_REPO}"])
    message = str(info.value)
    assert "None of the 2 sources" in message
    assert f"1. {HANDLE}: cannot reach localhost: connection refused" in message
    assert f"hf://{HF_REPO}" in message and "HF_HUB_OFFLINE" in message
    assert hf.requests == []


def test_missing_kagglehub_says_how_to_install_it(monkeypatch, guard):
    monkeypatch.setitem(sys.modules, "kagglehub", None)
    with pytest.raises(MissingHubClientError, match=r"pip install 'densenet-hub\[hub\]'"):
        download_preset(HANDLE)
    assert _network_use(guard) == 0


def test_a_preset_keras_hub_downloaded_file_by_file_loads_offline(kaggle, guard, tmp_path):
    import keras_hub
    from helpers.models import build_tiny_backbone

    from densenet_hub.models import Backbone

    # A real backbone preset (KerasHub's architecture, so KerasHub loads it).
    build_tiny_backbone().save_to_preset(tmp_path / "saved")
    kaggle.add_version(KAGGLE_VARIATION, 3, folder_files(tmp_path / "saved"))
    # KerasHub fetches each file it needs with kagglehub, which marks each
    # file complete, never the whole version.
    reference = keras_hub.models.Backbone.from_preset(HANDLE)
    kaggle.stop()
    requests_before, network_before = len(kaggle.requests), _network_use(guard)

    loaded = Backbone.from_preset(HANDLE)

    assert len(kaggle.requests) == requests_before
    assert _network_use(guard) == network_before
    for ours, theirs in zip(loaded.weights, reference.weights):
        assert (ours.numpy() == theirs.numpy()).all()
