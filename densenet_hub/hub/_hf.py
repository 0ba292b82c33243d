"""Hugging Face side of preset downloads and uploads, through `huggingface_hub`.

Files are fetched one by one with `hf_hub_download`: `config.json` first,
then only the files that config calls for. huggingface_hub writes each file
to a temporary name and renames it into its cache (`$HF_HUB_CACHE`, default
`~/.cache/huggingface/hub`) only once complete, so a broken transfer never
leaves a file there. Once `config.json` has arrived, the other files are
fetched from the same commit, so a push to the repository mid-download
cannot mix two versions of the preset.

Each file is then checked against the digest Hugging Face states for it
(`HfApi.get_paths_info`: the sha256 of a Git LFS file such as the weights,
the git blob id of any other file), and the sha256 of every file is
recorded beside the cache (`hub.digests`), once per commit. Offline nothing
can be checked, so nothing is recorded.
"""

import hashlib
import importlib
import re
import sys
from pathlib import Path

from densenet_hub.base import file_names as names
from densenet_hub.base.json_files import read_json
from densenet_hub.hub import digests
from densenet_hub.hub import errors
from densenet_hub.hub._clients import import_client
from densenet_hub.hub.handles import COMMIT
from densenet_hub.hub.reachability import clipped
from densenet_hub.hub.reachability import short_cause
from densenet_hub.hub.reachability import unreachable_reason

_SHARD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.weights\.h5$")
_MAX_JSON_BYTES = 16 * 2**20
_MAX_SHARDS = 10_000
_TOKEN_FIX = "log in with `hf auth login` or set HF_TOKEN"


def download(handle):
    """Download the preset named by a parsed `hf://` handle and return the
    snapshot folder holding its files."""
    hub = import_client("huggingface_hub", f"Downloading {handle}")
    fetcher = _Fetcher(hub, handle)
    config = fetcher.fetch(names.CONFIG_FILE, required=True)
    fetcher.pin(_commit_of(config))
    plan = _plan(config)
    if plan == "keras":
        _fetch_keras_files(fetcher)
    elif plan == "timm":
        fetcher.fetch(names.TIMM_WEIGHTS_FILE, required=True)
    _check_and_record_digests(fetcher, config.parent)
    return config.parent


def upload(handle, folder):
    """Create the repository if needed and upload `folder` to it."""
    if handle.is_pinned:
        raise ValueError(
            f"Cannot upload to {handle}: a commit cannot receive new files. "
            "Fix: name a branch after '@', or none for the default branch."
        )
    hub = import_client("huggingface_hub", f"Uploading to {handle}")
    # A fresh HfApi reads the endpoint configured now, not at import time.
    api = hub.HfApi()
    try:
        api.create_repo(handle.client_id, exist_ok=True)
        api.upload_folder(
            repo_id=handle.client_id,
            folder_path=str(folder),
            revision=handle.revision,
        )
    except Exception as err:
        translated = _translate(hub, handle, err, "upload")
        if translated is None:
            raise
        raise translated from err


class _Fetcher:
    """Fetches files of one repository revision, cache first when the
    revision is a commit: a commit's files never change, and the cache also
    records which files it lacks (from earlier 404s), so a cached commit
    needs no request at all."""

    def __init__(self, hub, handle):
        self.hub = hub
        self.handle = handle
        self.revision = handle.revision
        # Checked before the first request that needs the network: when the
        # host cannot be reached, files come from the cache only.
        self._unreachable = None
        # Whether a request went to the Hub: only then are digests checked.
        self.asked_the_hub = False

    def pin(self, commit):
        if commit is not None:
            self.revision = commit

    def fetch(self, filename, required=False):
        """Return the local path of `filename`, or None when the repository
        does not have it (an error instead when `required`)."""
        hub = self.hub
        if self.revision is not None and COMMIT.match(self.revision):
            cached = self._cached(filename)
            if isinstance(cached, str):
                return Path(cached)
            if cached is hub._CACHED_NO_EXIST:
                return self._absent(filename, required)
        reason = self._unreachable_reason()
        self.asked_the_hub = self.asked_the_hub or reason == ""
        try:
            return Path(
                hub.hf_hub_download(
                    self.handle.client_id,
                    filename,
                    revision=self.revision,
                    local_files_only=bool(reason),
                )
            )
        except hub.errors.RemoteEntryNotFoundError:
            return self._absent(filename, required)
        except Exception as err:
            translated = _translate(
                hub, self.handle, err, "download", filename, self._unreachable
            )
            if translated is None:
                raise
            raise translated from err

    def _unreachable_reason(self):
        """Why the host cannot be reached, "" when it can (checked once), or
        None under HF_HUB_OFFLINE, where huggingface_hub refuses requests
        itself."""
        # A submodule huggingface_hub does not load with its top level.
        constants = importlib.import_module("huggingface_hub.constants")
        if constants.HF_HUB_OFFLINE:
            return None
        if self._unreachable is None:
            self._unreachable = unreachable_reason(constants.ENDPOINT) or ""
        return self._unreachable

    def stated_digests(self, filenames):
        """`{file name: (kind, hex digest)}` as Hugging Face states them:
        ("sha256", ...) for Git LFS files, ("git blob id", ...) for others."""
        try:
            infos = self.hub.HfApi().get_paths_info(
                self.handle.client_id, filenames, revision=self.revision
            )
        except Exception as err:
            translated = _digest_lookup_error(self.hub, self.handle, self.revision, err)
            if translated is None:
                raise
            raise translated from err
        return {
            info.path: ("sha256", info.lfs.sha256) if info.lfs else ("git blob id", info.blob_id)
            for info in infos
        }

    def _cached(self, filename):
        return self.hub.try_to_load_from_cache(
            self.handle.client_id, filename, revision=self.revision
        )

    def _absent(self, filename, required):
        if not required:
            return None
        raise errors.HubNotFoundError(
            f"{self.handle} has no {filename} at revision "
            f"{self.revision or 'main'}, so it is not a complete "
            f"KerasHub-format preset. Fix: check the handle against "
            f"{_page(self.hub, self.handle)}."
        )


def _check_and_record_digests(fetcher, folder):
    """Checks every file of `folder` against the digest Hugging Face states
    for it and records their sha256, when this download asked the Hub for a
    file and the record does not already cover exactly these files. A
    cached commit loads without any request, so a cache filled offline or
    by another program stays unrecorded (`verify=True` then says so)."""
    filenames = digests.folder_files(folder)
    recorded = digests.read_record(folder)
    if not fetcher.asked_the_hub or (recorded is not None and sorted(recorded) == filenames):
        return
    stated = fetcher.stated_digests(filenames)
    sha256 = {}
    for name in filenames:
        if name not in stated:
            raise errors.HubIntegrityError(
                f"{folder / name}: Hugging Face states no digest for "
                f"{name} in {fetcher.handle} at commit {fetcher.revision}, so "
                "it cannot be checked. Fix: delete "
                f"{folder} and download the preset again."
            )
        kind, expected = stated[name]
        sha256[name], git_blob_id = _sha256_and_git_blob_id(folder / name)
        found = sha256[name] if kind == "sha256" else git_blob_id
        if found != expected:
            raise digests.mismatch_error(
                folder / name,
                f"{kind} {expected}",
                f"{kind} {found}",
                f"the digest Hugging Face states for it ({fetcher.handle} at "
                f"commit {fetcher.revision})",
                f"delete {folder} and download the preset again; if the "
                "digests differ again, the transfer is being altered on the "
                "way (proxy, disk): download on another network or machine.",
            )
    digests.write_record(folder, fetcher.handle, sha256)


def _sha256_and_git_blob_id(path):
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as file:
        while chunk := file.read(2**20):
            sha256.update(chunk)
            blob.update(chunk)
    return sha256.hexdigest(), blob.hexdigest()


def _fetch_keras_files(fetcher):
    fetcher.fetch(names.METADATA_FILE)
    if fetcher.fetch(names.MODEL_WEIGHTS_FILE) is None:
        index = fetcher.fetch(names.SHARDED_WEIGHTS_FILE)
        if index is not None:
            for shard in _shard_names(fetcher.handle, index):
                fetcher.fetch(shard, required=True)
    if fetcher.fetch(names.TASK_FILE) is not None:
        fetcher.fetch(names.TASK_WEIGHTS_FILE)
        # A classifier's labels travel beside KerasHub's files (upload_preset
        # sends them); without them predictions would come back unnamed.
        fetcher.fetch(names.CLASS_NAMES_FILE)
        fetcher.fetch(names.MULTI_LABEL_FILE)
    fetcher.fetch(names.PREPROCESSOR_FILE)
    fetcher.fetch(names.IMAGE_CONVERTER_FILE)


def _plan(config_path):
    """Which files `config.json` calls for: "keras" (a KerasHub-format
    preset), "timm" (a timm checkpoint, converted on load) or None (an
    unreadable config: the preset loader will report it)."""
    config = _read_json(config_path, _MAX_JSON_BYTES)
    if not isinstance(config, dict):
        return None
    if "architecture" in config:
        return "timm"
    return "keras"


def _shard_names(handle, index_path):
    index = _read_json(index_path, _MAX_JSON_BYTES)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise ValueError(
            f"{handle}: {index_path.name} must be a JSON object of at most "
            f"{_MAX_JSON_BYTES} bytes with a 'weight_map' object, and is not. "
            "The preset is malformed; re-save it with `save_to_preset`."
        )
    names = []
    for value in weight_map.values():
        names.extend(value if isinstance(value, list) else [value])
    for name in names:
        # Shard names become local paths: only plain names inside the preset.
        if not isinstance(name, str) or not _SHARD_NAME.match(name):
            raise ValueError(
                f"{handle}: {index_path.name} names weight shard {name!r}; a "
                "shard must be a plain file name ending in '.weights.h5', "
                "without folders. The preset is malformed or hostile: do not "
                "load it."
            )
    unique = sorted(set(names))
    if len(unique) > _MAX_SHARDS:
        raise ValueError(
            f"{handle}: {index_path.name} names {len(unique)} weight shards, "
            f"more than the {_MAX_SHARDS} allowed. The preset is malformed."
        )
    return unique


def _read_json(path, max_bytes):
    """The JSON object in `path`, or `None` for anything else: the preset
    loader reports a bad file with its full checks."""
    try:
        return read_json(path, max_bytes)
    except ValueError:
        return None


def _commit_of(path):
    # Files live at <cache>/models--owner--repo/snapshots/<commit>/<file>.
    commit = path.parent.name
    return commit if COMMIT.match(commit) else None


def _translate(hub, handle, err, action, filename=None, unreachable=None):
    """Map a huggingface_hub failure to a `HubError`, or None when it is not
    a hub failure (then the original error is raised unchanged).
    `unreachable`: why the host could not be reached, when the file was
    looked up in the cache only for that reason."""
    # Connection failures while streaming a file come straight from
    # huggingface_hub's HTTP library, which it has imported by now.
    transport_error = getattr(sys.modules.get("httpx2"), "TransportError", ())
    hub_errors = hub.errors
    for cause in _chain(err):
        if isinstance(cause, hub_errors.GatedRepoError):
            return errors.HubGatedError(_gated_message(hub, handle, action))
        if isinstance(cause, hub_errors.RevisionNotFoundError):
            return errors.HubNotFoundError(
                f"Hugging Face answered 404 Not Found to the {action} of "
                f"{handle}: the repository has no revision "
                f"{handle.revision!r}. Fix: check the branch, tag or commit "
                f"at {_page(hub, handle)}."
            )
        response = getattr(cause, "response", None)
        if isinstance(cause, hub_errors.HfHubHTTPError) and response is not None:
            return _status_error(hub, handle, response.status_code, action, cause)
        if isinstance(cause, hub_errors.OfflineModeIsEnabled):
            return _unavailable(hub, handle, action, filename, "HF_HUB_OFFLINE is set")
        if isinstance(cause, transport_error):
            return _unavailable(hub, handle, action, filename, _reason(cause))
    if isinstance(err, hub_errors.LocalEntryNotFoundError) or (
        # huggingface_hub reports a body shorter than announced as a bare
        # OSError, after deleting the partial file.
        type(err) is OSError and err.errno is None
    ):
        return _unavailable(hub, handle, action, filename, unreachable or _reason(err))
    return None


def _digest_lookup_error(hub, handle, revision, err):
    """Map a failed paths-info request to a `HubError` that names that step:
    the files have just been served, so "no such repository" would send the
    user looking in the wrong place. None when it is not a hub failure."""
    step = (
        f"the digest lookup at commit {revision} (POST "
        f"{hub.constants.ENDPOINT}/api/models/{handle.client_id}/paths-info/"
        f"{revision}, the list of each file's sha256 or git blob id)"
    )
    kept = (
        "The files are in the local cache, unchecked, and were not loaded: a "
        "load by branch name checks them again, and `verify=True` refuses them "
        "until then."
    )
    transport_error = getattr(sys.modules.get("httpx2"), "TransportError", ())
    for cause in _chain(err):
        response = getattr(cause, "response", None)
        if isinstance(cause, hub.errors.HfHubHTTPError) and response is not None:
            status = response.status_code
            answer = (
                f"Hugging Face served the files of {handle} but answered HTTP "
                f"{status} to {step}. {kept}"
            )
            if status == 429 or status >= 500:
                return errors.HubUnavailableError(f"{answer} Fix: retry later.")
            if status == 401:
                return errors.HubAuthenticationError(
                    f"{answer} This endpoint served the files but gives their "
                    f"digests only to a logged-in user. Fix: {_TOKEN_FIX} (a "
                    f"token with read access to {handle.client_id})."
                )
            if status == 403:
                return errors.HubAccessDeniedError(
                    f"{answer} This endpoint served the files but refuses their "
                    "digests to the token in use. Fix: use a token with read "
                    f"access to {handle.client_id}."
                )
            cls = errors.HubNotFoundError if status == 404 else errors.HubError
            return cls(
                f"{answer} {hub.constants.ENDPOINT} serves files but not the Hub's "
                "paths-info API, as a mirror or proxy that forwards only /resolve/ "
                "URLs does. Fix: point HF_ENDPOINT at a server that also serves "
                "/api/models/<owner>/<repo>/paths-info, or download the preset "
                "where huggingface.co is reachable and pass its folder."
            )
        if isinstance(cause, transport_error):
            return errors.HubUnavailableError(
                f"Hugging Face served the files of {handle}, then could not be "
                f"reached for {step} ({_reason(cause)}). {kept} Fix: retry when "
                "the connection is back."
            )
    return None


def _status_error(hub, handle, status, action, err):
    access = "read" if action == "download" else "write"
    page = _page(hub, handle)
    if status == 401:
        return errors.HubAuthenticationError(
            f"Hugging Face answered 401 Unauthorized to the {action} of "
            f"{handle}: the repository does not exist, or it is private and "
            f"no valid token was sent. Fix: check the owner and name at "
            f"{page}; for a private repository {_TOKEN_FIX} (a token with "
            f"{access} access)."
        )
    if status == 403:
        return errors.HubAccessDeniedError(
            f"Hugging Face answered 403 Forbidden to the {action} of "
            f"{handle}: the token in use may not {access} this repository "
            "(it belongs to someone else, is disabled, or the token is "
            f"fine-grained without access to it). Fix: use a token with "
            f"{access} access to {handle.client_id}."
        )
    if status == 404:
        return errors.HubNotFoundError(
            f"Hugging Face answered 404 Not Found to the {action} of "
            f"{handle}: there is no such repository. Fix: check the owner "
            f"and name at {page}."
        )
    if status == 429 or status >= 500:
        return _unavailable(hub, handle, action, None, f"HTTP {status}")
    return errors.HubError(
        f"Hugging Face answered HTTP {status} to the {action} of {handle}: {err}"
    )


def _gated_message(hub, handle, action):
    return (
        f"{handle} is a gated repository: Hugging Face allows its {action} "
        f"only to accounts that accepted its conditions. Fix: open "
        f"{_page(hub, handle)}, log in and accept them, then {_TOKEN_FIX} "
        "with that account."
    )


def _unavailable(hub, handle, action, filename, reason):
    return errors.HubUnavailableError(
        _unavailable_message(hub, handle, action, filename, reason),
        source=str(handle), cause=reason, cache=str(hub.constants.HF_HUB_CACHE),
    )  # fmt: skip


def _unavailable_message(hub, handle, action, filename, reason):
    if action != "download":
        return (
            f"Cannot upload to {handle}: Hugging Face could not be reached "
            f"({reason}). Fix: retry when the connection is back."
        )
    what = filename or "the preset"
    return (
        f"Cannot download {what} of {handle}: Hugging Face could not be "
        f"reached or the transfer broke off ({reason}), and it is not in "
        f"the local cache {hub.constants.HF_HUB_CACHE}. Fix: retry when "
        "online (unset HF_HUB_OFFLINE if set); or download the preset on a "
        "connected machine and pass its folder instead of this handle; or set "
        "HF_HUB_CACHE (or HF_HOME) to a cache folder that already holds it."
    )


def _chain(err):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _reason(err):
    return short_cause(err) or clipped(f"{type(err).__name__}: {err}")


def _page(hub, handle):
    return f"{hub.constants.ENDPOINT}/{handle.client_id}"
