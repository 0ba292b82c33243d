"""Upload a saved preset folder to Kaggle or Hugging Face."""

import os
from pathlib import Path

from densenet_hub.base import file_names as names
from densenet_hub.base.json_files import read_json
from densenet_hub.hub import _hf
from densenet_hub.hub import _kaggle
from densenet_hub.hub.handles import KAGGLE_SCHEME
from densenet_hub.hub.handles import parse_handle

_MAX_CONFIG_BYTES = 16 * 2**20


def upload_preset(uri, preset):
    """Upload a preset folder written by `save_to_preset`.

    The folder is checked before anything is sent: it must hold a
    `config.json` with a JSON object, and no symbolic links (the clients
    would follow them and publish files from outside the folder).

    Args:
        uri: `kaggle://owner/model/framework/variation` (Kaggle numbers the
            new version itself) or `hf://owner/repo[@branch]` (the repository
            is created when missing).
        preset: the local preset folder, a `str` or `pathlib.Path`.

    Raises:
        ValueError: if `uri` is malformed or the folder is not a preset.
        TypeError: if `preset` is not a path.
        HubAuthenticationError, HubAccessDeniedError, HubNotFoundError,
        HubUnavailableError: the hub refused the upload or was unreachable.
        MissingHubClientError: the needed client package is not installed.

    Example:

    >>> backbone.save_to_preset("./my_densenet")  # doctest: +SKIP
    >>> upload_preset("hf://my-name/my_densenet", "./my_densenet")  # doctest: +SKIP
    """
    handle = parse_handle(uri)
    folder = _checked_preset_folder(preset)
    if handle.scheme == KAGGLE_SCHEME:
        _kaggle.upload(handle, folder)
    else:
        _hf.upload(handle, folder)


def _checked_preset_folder(preset):
    if not isinstance(preset, (str, os.PathLike)):
        raise TypeError(
            "upload_preset: `preset` must be the path of a preset folder (str "
            f"or pathlib.Path), got {type(preset).__name__} {preset!r}."
        )
    folder = Path(preset)
    if not folder.is_dir():
        state = "not a folder" if folder.exists() else "missing"
        raise ValueError(
            f"upload_preset: `preset` must be an existing folder, got "
            f"{str(folder)!r}, which is {state}. Fix: pass the folder written "
            "by `save_to_preset`."
        )
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            raise ValueError(
                f"upload_preset: {str(path)!r} is a symbolic link; a preset "
                "folder to upload must hold only regular files and folders, "
                "since a link could publish a file from elsewhere. Fix: "
                "replace the link with a copy of the file."
            )
    _check_config(folder / names.CONFIG_FILE)
    return folder


def _check_config(path):
    fix = "Fix: upload a folder written by `save_to_preset`."
    if not path.is_file():
        raise ValueError(
            f"upload_preset: {str(path.parent)!r} has no config.json, so it is "
            f"not a preset folder. {fix}"
        )
    try:
        read_json(path, _MAX_CONFIG_BYTES)
    except ValueError as err:
        raise ValueError(f"upload_preset: {err}") from err
