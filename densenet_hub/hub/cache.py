"""Where a remote preset sits in the local hub caches, found without any
network access."""

import importlib.util
import pathlib

from densenet_hub.base import file_names as names
from densenet_hub.hub.handles import parse_handle


def cached_folder(handle):
    """The cached folder of a `kaggle://` or `hf://` preset, else `None`.

    Only a complete download counts. kagglehub marks a model version
    complete after its last file; KerasHub downloads a preset file by file,
    and kagglehub then marks each file (`<variation>/.complete/<version>/
    <file>.complete`): such a folder counts when it holds `config.json` and
    every file in it is marked, so a cache KerasHub filled (or one copied
    from another machine) loads offline. A Hugging Face preset needs its
    `config.json`. An unpinned Kaggle handle (no version) has no single
    folder and gives `None`. The hub clients are optional; without one,
    nothing is cached.
    """
    parsed = parse_handle(handle)
    if parsed.scheme == "kaggle":
        return _kaggle_folder(parsed)
    return _hf_folder(parsed)


def _kaggle_folder(handle):
    if handle.version is None or importlib.util.find_spec("kagglehub") is None:
        return None
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle

    model, cache = parse_model_handle(handle.client_id), Cache()
    whole = cache.load_from_cache(model)
    if whole is not None:
        return pathlib.Path(whole)
    folder = pathlib.Path(cache.get_path(model))
    files = [path.name for path in folder.iterdir() if path.is_file()] if folder.is_dir() else []
    if names.CONFIG_FILE in files and all(cache.load_from_cache(model, name) for name in files):
        return folder
    return None


def _hf_folder(handle):
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    import huggingface_hub

    config = huggingface_hub.try_to_load_from_cache(
        handle.client_id, names.CONFIG_FILE, revision=handle.revision
    )
    return pathlib.Path(config).parent if isinstance(config, str) else None
