"""Integrity of downloads: each file is checked against the digest the hub
states, its sha256 recorded beside the cache, and checked again on
`from_preset(..., verify=True)`. The real clients against the stubs."""

import hashlib
import json
import pathlib

import pytest
from helpers.hub import HF_REPO
from helpers.hub import KAGGLE_VARIATION
from stub_servers.huggingface import git_blob_id

from densenet_hub.hub import HubAccessDeniedError
from densenet_hub.hub import HubAuthenticationError
from densenet_hub.hub import HubIntegrityError
from densenet_hub.hub import HubNotFoundError
from densenet_hub.hub import HubUnavailableError
from densenet_hub.hub import download_preset
from densenet_hub.hub import digests
from densenet_hub.models import Backbone
from densenet_hub.models import ImageClassifier
from densenet_hub.models.densenet.densenet_presets import KAGGLE_VERSION
from densenet_hub.presets.loader import verify_preset

HF_HANDLE = f"hf://{HF_REPO}"
BUILTIN = "densenet_121_imagenet"


def served(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def damage(path):
    """Flips the last byte of a cached file (through the Hugging Face
    cache's link to its blob), as a bad disk or an edit would."""
    real = path.resolve()
    data = bytearray(real.read_bytes())
    data[-1] ^= 0xFF
    real.write_bytes(bytes(data))
    return bytes(data)


def test_hf_download_records_digests_and_verify_finds_a_changed_file(hf, tiny_preset):
    files = served(tiny_preset)
    hf.add_commit(HF_REPO, files)

    ImageClassifier.from_preset(HF_HANDLE, verify=True)
    folder = download_preset(HF_HANDLE)
    record = json.loads(digests.record_path(folder).read_text())
    assert record == {
        "handle": HF_HANDLE,
        "sha256": {name: sha256(data) for name, data in sorted(files.items())},
    }
    # The record sits in our own folder, outside the client's snapshot.
    assert digests.record_path(folder).parent.name == ".densenet_hub"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)

    damaged = damage(folder / "model.weights.h5")
    with pytest.raises(HubIntegrityError) as error:
        Backbone.from_preset(HF_HANDLE, verify=True)
    message = str(error.value)
    assert str(folder / "model.weights.h5") in message
    assert f"expected sha256 {sha256(files['model.weights.h5'])}" in message
    assert f"found sha256 {sha256(damaged)}" in message
    assert "nothing was deleted" in message and "Fix: delete" in message
    assert (folder / "model.weights.h5").read_bytes() == damaged


@pytest.mark.parametrize(
    "name, kind",
    [("model.weights.h5", "sha256"), ("metadata.json", "git blob id")],
)
def test_hf_download_that_differs_from_the_stated_digest_is_refused(hf, tiny_preset, name, kind):
    files = served(tiny_preset)
    hf.add_commit(HF_REPO, files)
    hf.corrupt = {name}
    stated = sha256(files[name]) if kind == "sha256" else git_blob_id(files[name])

    with pytest.raises(HubIntegrityError) as error:
        download_preset(HF_HANDLE)

    message = str(error.value)
    assert name in message and f"expected {kind} {stated}" in message
    assert "the digest Hugging Face states for it" in message
    # Nothing deleted, nothing recorded: the damaged file stays for a look.
    snapshot = next(hf_snapshots().iterdir())
    assert (snapshot / name).is_file()
    assert not digests.record_path(snapshot).exists()


def hf_snapshots():
    from huggingface_hub import constants

    repo_folder = "models--" + HF_REPO.replace("/", "--")
    return pathlib.Path(constants.HF_HUB_CACHE) / repo_folder / "snapshots"


def test_builtin_preset_changed_in_the_kaggle_cache_fails_verify(kaggle, tiny_preset):
    files = served(tiny_preset)
    kaggle.add_version(KAGGLE_VARIATION, KAGGLE_VERSION, files)
    folder = download_preset(f"kaggle://{KAGGLE_VARIATION}/{KAGGLE_VERSION}")
    assert verify_preset(BUILTIN) == {name: sha256(data) for name, data in sorted(files.items())}

    damaged = damage(folder / "model.weights.h5")
    with pytest.raises(HubIntegrityError) as error:
        ImageClassifier.from_preset(BUILTIN, verify=True)
    message = str(error.value)
    assert str(folder / "model.weights.h5") in message
    assert sha256(files["model.weights.h5"]) in message and sha256(damaged) in message
    assert (folder / "model.weights.h5").read_bytes() == damaged


def test_a_download_without_a_record_cannot_be_verified(kaggle, tiny_preset):
    kaggle.add_version(KAGGLE_VARIATION, KAGGLE_VERSION, served(tiny_preset))
    folder = download_preset(f"kaggle://{KAGGLE_VARIATION}/{KAGGLE_VERSION}")
    digests.record_path(folder).unlink()

    with pytest.raises(HubIntegrityError, match="no digests were recorded"):
        Backbone.from_preset(BUILTIN, verify=True)


def test_verify_on_a_local_folder_says_it_has_no_digests(tiny_preset):
    with pytest.raises(ValueError, match="is a local folder, which has none"):
        Backbone.from_preset(tiny_preset, verify=True)


@pytest.mark.parametrize(
    "status, error, fix",
    [
        (404, HubNotFoundError, "serves files but not the Hub's paths-info API"),
        (401, HubAuthenticationError, "token with read access to keras/densenet_121_imagenet"),
        (403, HubAccessDeniedError, "refuses their digests to the token in use"),
        (503, HubUnavailableError, "retry later"),
    ],
)
def test_a_failed_digest_lookup_is_reported_as_that_step(hf, tiny_preset, status, error, fix):
    # A server that resolves the files (a mirror forwarding only /resolve/
    # URLs) but refuses the Hub's paths-info API.
    files = served(tiny_preset)
    commit = hf.add_commit(HF_REPO, files)
    hf.paths_info_status = status

    with pytest.raises(error) as info:
        download_preset(HF_HANDLE)

    assert type(info.value) is error
    message = str(info.value)
    assert f"files of {HF_HANDLE} but answered HTTP {status} to the digest lookup at commit {commit}" in message
    assert f"/api/models/{HF_REPO}/paths-info/{commit}" in message
    assert "Hugging Face served the files" in message and fix in message
    assert "no such repository" not in message and "does not exist" not in message
    # The files did arrive; they were left unchecked and unrecorded.
    assert sorted(hf_served_names(hf)) == sorted(files)
    snapshot = next(hf_snapshots().iterdir())
    assert not digests.record_path(snapshot).exists()
    with pytest.raises(HubIntegrityError, match="no digests were recorded"):
        Backbone.from_preset(f"{HF_HANDLE}@{commit}", verify=True)


def hf_served_names(hf):
    return [name for _, name, _ in hf.served]
