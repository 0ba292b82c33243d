"""Preset name or handle -> the local folder holding its files: the one place
that decides, for `from_preset` and for the command line.

`preset` is a built-in name (or alias), a `kaggle://` or `hf://` handle, or a
local folder (`str` or `pathlib.Path`). A `str` that is a built-in name wins
over a folder of the same name, as in KerasHub. `resolve` downloads what is
not cached; `local_folder` answers from the folder or the hub caches alone,
without any network access.
"""

import dataclasses
import pathlib

from densenet_hub.hub import cache
from densenet_hub.hub.download import download_first_available
from densenet_hub.hub.download import download_preset
from densenet_hub.hub.handles import is_remote_handle
from densenet_hub.presets import builtin


@dataclasses.dataclass(frozen=True)
class ResolvedPreset:
    """Where a preset's files are.

    Args:
        directory: the local folder.
        builtin: the `BuiltinPreset` when `preset` named one, else `None`.
        downloaded: `directory` is a hub download (a built-in name or a
            handle), whose digests `hub.digests` recorded; `False` for a
            folder the user named.
    """

    directory: pathlib.Path
    builtin: builtin.BuiltinPreset | None
    downloaded: bool = False


def resolve(preset):
    """The `ResolvedPreset` of `preset`, downloading it if needed; a
    `ResolvedPreset` (from `presets.inspect`) is already resolved."""
    if isinstance(preset, ResolvedPreset):
        return preset
    if isinstance(preset, pathlib.PurePath):
        return ResolvedPreset(_local_folder(pathlib.Path(preset), preset), None)
    _check_preset_string(preset)
    found = builtin.find_builtin(preset)
    if found is not None:
        # The handles in order, moving on only when one is unreachable.
        folder = download_first_available(list(found.handles))
        return ResolvedPreset(pathlib.Path(folder), found, downloaded=True)
    if is_remote_handle(preset):
        return ResolvedPreset(pathlib.Path(download_preset(preset)), None, downloaded=True)
    path = pathlib.Path(preset)
    if not path.exists() and builtin.looks_like_preset_name(preset):
        raise builtin.unknown_preset_error(preset)
    return ResolvedPreset(_local_folder(path, preset), None)


def local_folder(preset):
    """The local folder of `preset` if it has one now (a folder given by the
    user, or a complete download in the hub caches), else `None`. Never
    touches the network."""
    if isinstance(preset, pathlib.PurePath):
        path = pathlib.Path(preset)
        return path if path.is_dir() else None
    found = builtin.find_builtin(preset)
    if found is not None:
        for handle in found.handles:
            folder = cache.cached_folder(handle)
            if folder is not None:
                return folder
        return None
    if is_remote_handle(preset):
        return cache.cached_folder(preset)
    path = pathlib.Path(preset)
    return path if path.is_dir() else None


def _check_preset_string(preset):
    if not isinstance(preset, str):
        raise TypeError(
            f"`preset` must be a str (a built-in name, a kaggle:// or hf:// "
            f"handle, or a folder) or a pathlib.Path, got "
            f"{type(preset).__name__} {preset!r}."
        )
    if not preset.strip():
        raise ValueError(
            f"`preset` is empty or only whitespace ({preset!r}). Pass a "
            f"built-in name such as 'densenet_121_imagenet', a handle or a "
            f"folder."
        )


def _local_folder(path, preset):
    if not path.exists():
        raise ValueError(
            f"The preset folder {str(path)!r} does not exist. Pass an existing "
            f"folder, a built-in name ({', '.join(builtin.listings())}) or a "
            f"kaggle:// or hf:// handle."
        )
    if not path.is_dir():
        raise ValueError(
            f"The preset {str(preset)!r} is a file, not a preset folder. Pass "
            f"the folder that holds config.json."
        )
    return path
