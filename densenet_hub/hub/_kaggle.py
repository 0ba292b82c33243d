"""Kaggle side of preset downloads and uploads, through `kagglehub`.

A preset is downloaded whole: kagglehub lists the files of the model version,
fetches them with a progress bar and marks the version complete in its cache
(`$KAGGLEHUB_CACHE`, default `~/.cache/kagglehub`) only after every file has
arrived. A pinned version with that marker is returned without any request.
kagglehub writes files in place, so a broken transfer can leave a partial
file in the version folder, but without the marker: that folder is never
returned, and the next download fetches the files again.

kagglehub checks each file it downloads against the MD5 that Kaggle's
storage states for it (`x-goog-hash`), and fails on a mismatch; the sha256
of the files it delivered is then recorded beside the cache
(`hub.digests`), once per version, for later checks.
"""

import contextlib
import urllib.parse
from pathlib import Path

from densenet_hub.base import file_names as names
from densenet_hub.hub import digests
from densenet_hub.hub import errors
from densenet_hub.hub._clients import import_client
from densenet_hub.hub.cache import cached_folder
from densenet_hub.hub.reachability import clipped
from densenet_hub.hub.reachability import short_cause

try:
    import fcntl
except ImportError:  # Windows: concurrent downloads are not serialised there.
    fcntl = None

_PAGE = "https://www.kaggle.com/models/{}"
_CREDENTIALS_FIX = (
    "create an API token at https://www.kaggle.com/settings and set "
    "KAGGLE_API_TOKEN (or KAGGLE_USERNAME and KAGGLE_KEY, or "
    "~/.kaggle/kaggle.json), or call `kagglehub.login()`"
)


def download(handle):
    """Download the preset named by a parsed `kaggle://` handle and return
    the folder holding its files."""
    kagglehub = import_client("kagglehub", f"Downloading {handle}")
    # kagglehub itself only knows a version it downloaded whole.
    cached = cached_folder(str(handle))
    if cached is not None:
        return cached
    cache = kagglehub.config.get_cache_folder()
    with _variation_lock(cache, handle):
        try:
            folder = Path(kagglehub.model_download(handle.client_id))
        except Exception as err:
            translated = _translate(handle, err, "download", cache)
            if translated is None:
                raise
            raise translated from err
        if not (folder / names.CONFIG_FILE).is_file():
            raise errors.HubNotFoundError(
                f"{handle} was downloaded to {folder} but holds no config.json, "
                "so it is not a KerasHub-format preset. Check the framework "
                f"and variation against {_page(handle)}."
            )
        _record_digests(handle, folder)
    return folder


def _record_digests(handle, folder):
    """Records the sha256 of the files kagglehub delivered, unless the
    record already covers exactly these files."""
    filenames = digests.folder_files(folder)
    recorded = digests.read_record(folder)
    if recorded is None or sorted(recorded) != filenames:
        sha256 = {name: digests.sha256_of(folder / name) for name in filenames}
        digests.write_record(folder, handle, sha256)


def upload(handle, folder):
    """Upload `folder` as a new version of the parsed `kaggle://` handle."""
    if handle.version is not None:
        raise ValueError(
            f"Cannot upload to {handle}: a Kaggle upload creates the next "
            f"version itself, so the handle must not name one (got version "
            f"{handle.version}). Fix: drop '/{handle.version}'."
        )
    kagglehub = import_client("kagglehub", f"Uploading to {handle}")
    try:
        kagglehub.model_upload(handle.client_id, str(folder))
    except Exception as err:
        translated = _translate(handle, err, "upload", None)
        if translated is None and isinstance(
            err, kagglehub.exceptions.BackendError
        ):
            translated = errors.HubError(
                f"Kaggle refused the upload to {handle}: {err}"
            )
        if translated is None:
            raise
        raise translated from err


@contextlib.contextmanager
def _variation_lock(cache, handle):
    # kagglehub writes files in place, so while one download rewrites a file
    # another may already have marked the version complete, and a reader
    # would load the half-written file. One lock per variation makes later
    # downloads wait and then find the cache ready.
    if fcntl is None:
        yield
        return
    path = Path(cache) / ".locks" / "densenet_hub--{}--{}--{}--{}.lock".format(
        handle.owner, handle.name, handle.framework, handle.variation
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(path, "a")
    except OSError:
        # A read-only cache can only be read, and reading needs no lock.
        yield
        return
    with lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield


def _translate(handle, err, action, cache):
    """Map a kagglehub/requests failure to a `HubError`, or None when it is
    not a hub failure (then the original error is raised unchanged)."""
    import requests
    from kagglehub.exceptions import DataCorruptionError

    response = getattr(err, "response", None)
    if isinstance(err, requests.HTTPError) and response is not None:
        return _status_error(handle, response.status_code, action, err, cache)
    if isinstance(
        err,
        (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            DataCorruptionError,
        ),
    ):
        return _unavailable(handle, action, _reason(err), cache)
    return None


def _status_error(handle, status, action, err, cache):
    verb = "download" if action == "download" else "upload to"
    if status == 401:
        return errors.HubAuthenticationError(
            f"Kaggle answered 401 Unauthorized to the {action} of {handle}: the "
            f"Kaggle credentials in use are missing, invalid or expired. Fix: "
            f"{_CREDENTIALS_FIX}."
        )
    if status == 403:
        return errors.HubAccessDeniedError(
            f"Kaggle answered 403 Forbidden to the {action} of {handle}: this "
            f"account may not {verb} the model. It is private to another "
            f"account, or gated: open {_page(handle)} while logged in, accept "
            "its terms, and use that account's credentials here."
        )
    if status == 404:
        return errors.HubNotFoundError(
            f"Kaggle answered 404 Not Found to the {action} of {handle}: there "
            "is no such owner, model, framework, variation or version. Fix: "
            f"check each part of the handle against {_page(handle)}, which "
            "lists the published versions."
        )
    if status == 429 or status >= 500:
        return _unavailable(handle, action, f"HTTP {status}", cache)
    return errors.HubError(
        f"Kaggle answered HTTP {status} to the {action} of {handle}: {err}"
    )


def _unavailable(handle, action, reason, cache):
    return errors.HubUnavailableError(
        _unavailable_message(handle, action, reason, cache),
        source=str(handle), cause=reason, cache=str(cache),
    )  # fmt: skip


def _unavailable_message(handle, action, reason, cache):
    if action != "download":
        return (
            f"Cannot upload to {handle}: Kaggle could not be reached or the "
            f"transfer broke off ({reason}). Fix: retry when the connection "
            "is back."
        )
    message = (
        f"Cannot download {handle}: Kaggle could not be reached or the "
        f"transfer broke off ({reason}), and the preset is not complete in "
        f"the local cache {cache}. Fix: retry when online; or download the "
        "preset on a connected machine and pass its folder instead of this "
        "handle; "
        "or set KAGGLEHUB_CACHE to a cache folder that already holds it."
    )
    if not handle.is_pinned:
        message += (
            " A handle without a version always asks Kaggle for the latest "
            "one, even when a version is cached: pin a version (e.g. "
            f"kaggle://{handle.client_id}/1) to load from the cache offline."
        )
    return message


def _reason(err):
    """A few words: the socket error under requests' and urllib3's layers,
    with the host asked (through the proxy, if any), else the error's
    first line."""
    cause = short_cause(err)
    if cause is None:
        return clipped(f"{type(err).__name__}: {err}")
    request = getattr(err, "request", None)
    host = urllib.parse.urlsplit(request.url).netloc if getattr(request, "url", None) else None
    return f"cannot reach {host}: {cause}" if host else cause


def _page(handle):
    return _PAGE.format(handle.client_id)
