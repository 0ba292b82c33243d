"""Download remote presets from Kaggle and Hugging Face into their caches."""

from densenet_hub.hub import _hf
from densenet_hub.hub import _kaggle
from densenet_hub.hub.errors import HubUnavailableError
from densenet_hub.hub.handles import HF_SCHEME
from densenet_hub.hub.handles import KAGGLE_SCHEME
from densenet_hub.hub.handles import parse_handle


def download_preset(handle):
    """Download a remote preset and return the local folder holding its files.

    `kaggle://` presets are fetched whole with `kagglehub`; `hf://` presets
    file by file with `huggingface_hub` (`config.json`, then the files it
    calls for). Both clients show progress, cache what they fetch, and keep
    partial transfers out of the cache. Each file is checked against the
    digest the hub states for it, and the sha256 of every file is recorded
    beside the cache for later checks (`hub.digests`). A pinned preset (a
    Kaggle version, a Hugging Face commit) that is already cached and
    recorded is returned without any network access.

    Args:
        handle: `kaggle://owner/model/framework/variation[/version]` or
            `hf://owner/repo[@revision]`.

    Returns:
        A `pathlib.Path` to a folder with `config.json` and the other preset
        files. It lies inside the client's cache: read it, do not modify it.

    Raises:
        ValueError: if `handle` is malformed (checked before any request).
        HubNotFoundError, HubAuthenticationError, HubAccessDeniedError,
        HubGatedError: the hub answered 404, 401, 403, or the preset is gated.
        HubUnavailableError: the hub could not be reached and the preset is
            not in the cache.
        HubIntegrityError: a Hugging Face file differs from the digest the
            Hub states for it (the file is left in the cache). kagglehub
            deletes a Kaggle file that differs from its MD5 itself: that is a
            `HubUnavailableError`, as a broken transfer.
        MissingHubClientError: the needed client package is not installed.

    Example:

    >>> download_preset("kaggle://keras/densenet/keras/densenet_121_imagenet/3")  # doctest: +SKIP
    PosixPath('/root/.cache/kagglehub/models/keras/densenet/keras/densenet_121_imagenet/3')
    """
    return _download(parse_handle(handle))


def download_first_available(handles):
    """Download a preset from the first of several sources that can be reached.

    Sources are tried in order, moving to the next one only when a source
    cannot be reached (`HubUnavailableError`): a reachable source that
    answers 401, 403 or 404 stops the search, since a mirror would hide
    that error. Every handle is validated before the first request.

    Args:
        handles: a non-empty list of handles, e.g. a pinned Kaggle handle
            followed by its Hugging Face mirror.

    Returns:
        The folder returned by `download_preset` for the first reachable
        source.

    Raises:
        HubUnavailableError: if no source could be reached; its message
            holds each source's own error.

    Example:

    >>> download_first_available([  # doctest: +SKIP
    ...     "kaggle://keras/densenet/keras/densenet_121_imagenet/3",
    ...     "hf://keras/densenet_121_imagenet",
    ... ])
    PosixPath('/root/.cache/kagglehub/models/keras/densenet/keras/densenet_121_imagenet/3')
    """
    if isinstance(handles, str) or not isinstance(handles, (list, tuple)) or not handles:
        raise ValueError(
            "`handles` must be a non-empty list of preset handles, got "
            f"{handles!r}. Fix: pass e.g. [\"kaggle://owner/model/keras/"
            "variation/1\", \"hf://owner/repo\"]."
        )
    parsed = [parse_handle(handle) for handle in handles]
    failures = []
    for handle in parsed:
        try:
            return _download(handle)
        except HubUnavailableError as err:
            failures.append(err)
    raise HubUnavailableError(_none_reached(parsed, failures)) from failures[-1]


def _none_reached(handles, failures):
    """One line per source (what was tried, why it failed in a few words,
    the cache looked in), then the fixes once."""
    header = (
        f"None of the {len(handles)} sources of this preset could be reached, "
        "and none is in the local cache:"
    )
    if any(err.source is None for err in failures):
        details = "\n".join(f"  {i}. {err}" for i, err in enumerate(failures, 1))
        return f"{header}\n{details}"
    lines = [
        f"  {i}. {err.source}: {err.cause} (cache: {err.cache})"
        for i, err in enumerate(failures, 1)
    ]
    caches = " or ".join(
        variable for scheme, variable in ((KAGGLE_SCHEME, "KAGGLEHUB_CACHE"), (HF_SCHEME, "HF_HUB_CACHE"))
        if any(handle.scheme == scheme for handle in handles)
    )  # fmt: skip
    fix = (
        "Fix: retry when online; or fetch it on a connected machine with "
        "`densenet-hub download PRESET OUT` and pass its folder instead of this "
        f"name; or set {caches} to a cache folder that already holds it."
    )
    return "\n".join([header, *lines, fix])


def _download(handle):
    if handle.scheme == KAGGLE_SCHEME:
        return _kaggle.download(handle)
    return _hf.download(handle)
