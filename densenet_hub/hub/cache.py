"""Where a remote preset sits in the local hub caches, found without any
network access."""

import importlib.util
import pathlib

from densenet_hub import preset_file_names as names
from densenet_hub.hub.handles import parse_handle

KAGGLE_MODELS_FOLDER = "models"


def cached_folder(handle):
    """The cached folder of a `kaggle://` or `hf://` preset, else `None`.

    Only a complete download counts: kagglehub marks a model version complete
    after its last file, and a Hugging Face preset needs its `config.json`.
    An unpinned Kaggle handle (no version) has no single folder and gives
    `None`. The hub clients are optional; without one, nothing is cached.
    """
    parsed = parse_handle(handle)
    if parsed.scheme == "kaggle":
        return _kaggle_folder(parsed)
    return _hf_folder(parsed)


def _kaggle_folder(handle):
    if handle.version is None or importlib.util.find_spec("kagglehub") is None:
        return None
    import kagglehub.config

    variation = pathlib.Path(
        kagglehub.config.get_cache_folder(),
        KAGGLE_MODELS_FOLDER,
        handle.owner,
        handle.name,
        handle.framework,
        handle.variation,
    )
    folder = variation / str(handle.version)
    complete = variation / f"{handle.version}.complete"
    return folder if folder.is_dir() and complete.exists() else None


def _hf_folder(handle):
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    import huggingface_hub

    config = huggingface_hub.try_to_load_from_cache(
        handle.client_id, names.CONFIG_FILE, revision=handle.revision
    )
    return pathlib.Path(config).parent if isinstance(config, str) else None
