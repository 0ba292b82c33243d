"""Hugging Face downloads and uploads through the real huggingface_hub
client, against the stub server in `stub_servers/huggingface.py`."""

import json
import sys

import pytest
from helpers.hub import HF_REPO
from helpers.hub import folder_files
from helpers.hub import preset_files
from helpers.hub import set_hf_offline
from helpers.hub import set_hf_token
from stub_servers.huggingface import GITATTRIBUTES
from stub_servers.huggingface import sha256

from densenet_hub.hub import HubAccessDeniedError
from densenet_hub.hub import HubAuthenticationError
from densenet_hub.hub import HubGatedError
from densenet_hub.hub import HubNotFoundError
from densenet_hub.hub import HubUnavailableError
from densenet_hub.hub import MissingHubClientError
from densenet_hub.hub import download_preset
from densenet_hub.hub import upload_preset

HANDLE = f"hf://{HF_REPO}"


def _fetched(hf, method="GET"):
    """File names asked for at their resolve URL, in request order."""
    return [
        path.split("/resolve/", 1)[1].split("/", 1)[1]
        for path in hf.paths(method)
        if "/resolve/" in path
    ]


def _served(hf):
    """File names whose bytes the stub sent, from either origin, in order."""
    return [filename for _, filename, _ in hf.served]


def _network_use(guard):
    return len(guard.connections) + len(guard.lookups)


def _backbone_only():
    files = preset_files()
    return {name: files[name] for name in ("config.json", "model.weights.h5")}


def test_download_fetches_config_first_then_what_it_calls_for(hf, guard):
    import huggingface_hub

    files = preset_files()
    commit = hf.add_commit(HF_REPO, files)
    # The client builds its URLs from the stub's endpoint.
    assert huggingface_hub.hf_hub_url(HF_REPO, "config.json").startswith(hf.url + "/")
    folder = download_preset(HANDLE)
    assert folder.name == commit and folder.parent.name == "snapshots"
    assert folder_files(folder) == files
    served = _served(hf)
    assert served[0] == "config.json"
    assert sorted(served) == sorted(files)
    # The Hub's origin, and its storage origin for the weights.
    storage_port = int(hf.storage_url.rsplit(":", 1)[1])
    assert {(host, port) for _, host, port in guard.connections} == {
        ("127.0.0.1", hf.port),
        ("127.0.0.1", storage_port),
    }


def _file_exchanges(hf, filename, method, path_part="/resolve/"):
    return [e for e in hf.exchanges_for(path_part, method) if e.path.endswith(f"/{filename}")]


@pytest.mark.parametrize("xet_backed", [False, True], ids=["lfs", "xet-backed"])
def test_weights_come_through_the_hubs_redirect_to_storage(hf, monkeypatch, xet_backed):
    set_hf_token(monkeypatch)
    hf.xet_backed = xet_backed
    files = preset_files()
    hf.add_commit(HF_REPO, files)
    weights = files["model.weights.h5"]

    folder = download_preset(HANDLE)

    assert folder_files(folder) == files
    (head,) = _file_exchanges(hf, "model.weights.h5", "HEAD")
    assert head.status == 302
    assert head.response_headers["Location"].startswith(hf.storage_url + "/")
    assert head.response_headers["X-Linked-Etag"] == f'"{sha256(weights)}"'
    assert head.response_headers["X-Linked-Size"] == str(len(weights))
    # The cache names the blob by the linked ETag, not by the redirect's own
    # ETag (the git blob id of the LFS pointer).
    assert (folder / "model.weights.h5").resolve().name == sha256(weights)
    (storage_get,) = [e for e in hf.exchanges_for(f"/{sha256(weights)}", "GET")]
    assert storage_get.host == hf.storage_url.removeprefix("http://")
    assert ("keras/densenet_121_imagenet", "model.weights.h5", hf.storage_url) in hf.served
    # The token goes to the Hub, never to the storage host.
    assert head.request_headers["authorization"] == "Bearer hf_stub_token"
    assert "authorization" not in storage_get.request_headers
    # Without Xet headers the client fetches the storage URL the HEAD gave;
    # with them (Xet off) it asks the resolve URL again and follows its 302.
    resolve_gets = _file_exchanges(hf, "model.weights.h5", "GET")
    assert [e.status for e in resolve_gets] == ([302] if xet_backed else [])


def test_absent_optional_files_are_skipped(hf):
    files = _backbone_only()
    hf.add_commit(HF_REPO, files)
    assert folder_files(download_preset(HANDLE)) == files
    asked = _fetched(hf, "HEAD")
    assert "task.json" in asked and "preprocessor.json" in asked
    # task.weights.h5 is only looked for when task.json exists.
    assert "task.weights.h5" not in asked


def test_pinned_commit_in_cache_loads_without_any_network(hf, guard):
    files = _backbone_only()
    commit = hf.add_commit(HF_REPO, files)
    first = download_preset(f"{HANDLE}@{commit}")
    hf.stop()
    requests_before, network_before = len(hf.requests), _network_use(guard)
    assert download_preset(f"{HANDLE}@{commit}") == first
    assert folder_files(first) == files
    assert len(hf.requests) == requests_before
    assert _network_use(guard) == network_before


def test_unpinned_cached_preset_loads_in_offline_mode(hf, guard, monkeypatch):
    files = _backbone_only()
    hf.add_commit(HF_REPO, files)
    first = download_preset(HANDLE)
    hf.stop()
    set_hf_offline(monkeypatch)
    network_before = _network_use(guard)
    assert download_preset(HANDLE) == first
    assert _network_use(guard) == network_before


def test_offline_and_not_cached_says_how_to_fix(hf, guard, monkeypatch, tmp_path):
    hf.add_commit(HF_REPO, preset_files())
    set_hf_offline(monkeypatch)
    with pytest.raises(HubUnavailableError) as info:
        download_preset(HANDLE)
    message = str(info.value)
    assert f"config.json of {HANDLE}" in message
    assert str(tmp_path / "hf_home" / "hub") in message
    assert "HF_HUB_OFFLINE" in message and "pass its folder" in message
    assert hf.requests == [] and _network_use(guard) == 0


@pytest.mark.parametrize(
    "setup, token, error, hint",
    [
        # Without a token the Hub answers 401 RepoNotFound for a missing
        # repository, as for a private one: the message must cover both.
        ("missing", None, HubAuthenticationError, "does not exist, or it is private"),
        ("missing", "hf_stub_token", HubNotFoundError, "404 Not Found"),
        ("private", None, HubAuthenticationError, "401 Unauthorized"),
        ("forbidden", None, HubAccessDeniedError, "403 Forbidden"),
        ("gated", None, HubGatedError, "accept them"),
    ],
)
def test_refusals_have_their_own_error(hf, monkeypatch, setup, token, error, hint):
    if setup != "missing":
        hf.add_commit(HF_REPO, preset_files())
    if token is not None:
        set_hf_token(monkeypatch, token)
    if setup == "private":
        hf.private.add(HF_REPO)
    elif setup == "forbidden":
        hf.fail_status = 403
    elif setup == "gated":
        hf.gated.add(HF_REPO)
    with pytest.raises(error) as info:
        download_preset(HANDLE)
    # Exact classes: a gated repository is also an access refusal.
    assert type(info.value) is error
    assert HANDLE in str(info.value) and hint in str(info.value)


def test_anonymous_request_for_a_missing_repository_gets_the_hubs_401(hf):
    with pytest.raises(HubAuthenticationError) as info:
        download_preset(HANDLE)
    (answer,) = hf.exchanges_for("/resolve/")
    assert "authorization" not in answer.request_headers
    assert answer.status == 401
    assert answer.response_headers["X-Error-Code"] == "RepoNotFound"
    message = str(info.value)
    assert "401 Unauthorized" in message
    assert "the repository does not exist, or it is private and no valid token was sent" in message
    assert "check the owner and name" in message and "HF_TOKEN" in message


def test_unknown_revision_is_not_found(hf):
    hf.add_commit(HF_REPO, preset_files())
    with pytest.raises(HubNotFoundError, match="no revision 'v9'"):
        download_preset(f"{HANDLE}@v9")


def test_repository_without_config_is_not_a_preset(hf):
    hf.add_commit(HF_REPO, {"README.md": b"# not a preset"})
    with pytest.raises(HubNotFoundError, match="has no config.json"):
        download_preset(HANDLE)


def test_short_transfer_leaves_nothing_and_a_retry_succeeds(hf, tmp_path):
    files = preset_files()
    hf.add_commit(HF_REPO, files)
    hf.short = {"model.weights.h5"}
    with pytest.raises(HubUnavailableError, match="broke off"):
        download_preset(HANDLE)
    cache = tmp_path / "hf_home" / "hub" / "models--keras--densenet_121_imagenet"
    full_sizes = {len(data) for data in files.values()}
    assert {p.stat().st_size for p in (cache / "blobs").iterdir()} <= full_sizes
    assert list(cache.rglob("*.incomplete")) == []
    assert not any(p.name == "model.weights.h5" for p in cache.rglob("*"))
    hf.short = set()
    assert folder_files(download_preset(HANDLE)) == files


def test_files_come_from_one_commit_when_main_moves_mid_download(hf):
    old, new = preset_files(seed=1), preset_files(seed=2)
    first = hf.add_commit(HF_REPO, old)

    def push_after_config(repo_id, filename):
        if filename == "config.json" and len(hf.repos[repo_id]["commits"]) == 1:
            hf.add_commit(repo_id, new)

    hf.after_get = push_after_config
    folder = download_preset(HANDLE)
    assert len(hf.repos[HF_REPO]["commits"]) == 2
    assert folder.name == first
    assert folder_files(folder) == old


def _sharded(index_names):
    files = {"config.json": preset_files()["config.json"]}
    files["model.weights.json"] = json.dumps(
        {"metadata": {}, "weight_map": {"/a/vars": index_names[0], "/b/vars": index_names}}
    ).encode()
    return files


def test_sharded_weights_are_fetched_from_their_index(hf):
    shards = ["model_00000.weights.h5", "model_00001.weights.h5"]
    files = _sharded(shards)
    files.update({name: bytes([i]) * 1000 for i, name in enumerate(shards)})
    hf.add_commit(HF_REPO, files)
    assert folder_files(download_preset(HANDLE)) == files


@pytest.mark.parametrize(
    "shard",
    ["../escape.weights.h5", "/etc/escape.weights.h5", "sub\\escape.weights.h5", "escape.pkl"],
)
def test_shard_names_outside_the_folder_are_refused_unfetched(hf, shard):
    hf.add_commit(HF_REPO, _sharded([shard]))
    with pytest.raises(ValueError, match="plain file name ending in '.weights.h5'"):
        download_preset(HANDLE)
    assert not any("escape" in path for path in hf.paths())


def test_timm_repository_gets_its_safetensors_only(hf):
    files = {
        "config.json": json.dumps({"architecture": "densenet121"}).encode(),
        "model.safetensors": b"\x08" * 500,
    }
    hf.add_commit(HF_REPO, {**files, "pytorch_model.bin": b"pickled"})
    assert folder_files(download_preset(HANDLE)) == files
    assert "pytorch_model.bin" not in _fetched(hf) + _fetched(hf, "HEAD")


def _write_folder(tmp_path, files):
    folder = tmp_path / "preset"
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _commit_entries(hf):
    """`{path: (key, value)}` of the last commit request's ndjson lines."""
    body = hf.commit_bodies[-1]
    entries = [json.loads(line) for line in body.splitlines()]
    return {e["value"]["path"]: (e["key"], e["value"]) for e in entries if e["key"] != "header"}


def test_upload_sends_weights_through_git_lfs_and_round_trips(hf, monkeypatch, tmp_path):
    set_hf_token(monkeypatch)
    files = preset_files()
    weights = sorted(name for name in files if name.endswith(".h5"))
    upload_preset(HANDLE, _write_folder(tmp_path, files))

    assert hf.created_repos == [HF_REPO]
    # As on the Hub, the new repository starts with its .gitattributes.
    assert hf.files(HF_REPO) == {".gitattributes": GITATTRIBUTES, **files}
    # The LFS batch endpoint was asked for exactly the weight files, and the
    # bytes went to the storage origin, one PUT each, then were verified.
    (batch,) = hf.exchanges_for(f"/{HF_REPO}.git/info/lfs/objects/batch", "POST")
    assert batch.request_headers["content-type"] == "application/vnd.git-lfs+json"
    puts = hf.exchanges_for("/upload/", "PUT")
    assert sorted(e.path.rsplit("/", 1)[1] for e in puts) == sorted(
        sha256(files[name]) for name in weights
    )
    assert {e.host for e in puts} == {hf.storage_url.removeprefix("http://")}
    assert len(hf.exchanges_for("/info/lfs/objects/verify", "POST")) == len(weights)
    # Over plain HTTP: hf_xet (off while the guard is armed) asked for no token.
    assert not hf.exchanges_for("/xet-write-token/")
    entries = _commit_entries(hf)
    for name in weights:
        assert entries[name] == (
            "lfsFile",
            {"path": name, "algo": "sha256", "oid": sha256(files[name]), "size": len(files[name])},
        )
    assert {name for name, (key, _) in entries.items() if key == "file"} == set(files) - set(weights)
    assert folder_files(download_preset(HANDLE)) == files


def test_upload_again_sends_only_the_changed_weights(hf, monkeypatch, tmp_path):
    set_hf_token(monkeypatch)
    files = preset_files()
    upload_preset(HANDLE, _write_folder(tmp_path, files))
    changed = {**files, "task.weights.h5": b"retrained head" * 100}
    puts_before = len(hf.exchanges_for("/upload/", "PUT"))
    upload_preset(HANDLE, _write_folder(tmp_path, changed))
    new_puts = hf.exchanges_for("/upload/", "PUT")[puts_before:]
    assert [e.path.rsplit("/", 1)[1] for e in new_puts] == [sha256(changed["task.weights.h5"])]
    assert set(_commit_entries(hf)) == {"task.weights.h5"}
    assert hf.files(HF_REPO) == {".gitattributes": GITATTRIBUTES, **changed}


def test_upload_without_a_token_asks_for_a_write_token(hf, tmp_path):
    folder = _write_folder(tmp_path, {"config.json": b"{}"})
    with pytest.raises(HubAuthenticationError) as info:
        upload_preset(HANDLE, folder)
    assert "401 Unauthorized" in str(info.value) and "write access" in str(info.value)
    # Refused before any file was sent; nothing was created.
    assert hf.created_repos == [] and HF_REPO not in hf.repos
    assert {e.status for e in hf.exchanges} == {401}
    assert not hf.exchanges_for("/preupload/") and not hf.exchanges_for("/commit/")


def test_upload_to_a_commit_is_refused_before_any_request(hf, guard, tmp_path):
    folder = tmp_path / "preset"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="a commit cannot receive new files"):
        upload_preset(f"{HANDLE}@{'a' * 40}", folder)
    assert hf.requests == [] and _network_use(guard) == 0


def test_missing_huggingface_hub_says_how_to_install_it(monkeypatch, guard):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(MissingHubClientError, match=r"pip install 'densenet-hub\[hub\]'"):
        download_preset(HANDLE)
    assert _network_use(guard) == 0


def test_upload_when_the_hub_cannot_be_reached(hf, tmp_path):
    folder = tmp_path / "preset"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    hf.stop()
    with pytest.raises(HubUnavailableError, match="could not be reached \\(connection refused\\)"):
        upload_preset(HANDLE, folder)
