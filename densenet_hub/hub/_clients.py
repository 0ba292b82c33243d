"""Lazy imports of the optional hub clients, with an install hint."""

import importlib

from densenet_hub.hub.errors import MissingHubClientError


def import_client(module, purpose):
    """Import `module` (`"kagglehub"` or `"huggingface_hub"`) or raise
    `MissingHubClientError` saying which pip command installs it.

    The clients are imported only when a remote preset is used, so that
    `import densenet_hub` works without them.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingHubClientError(
            f"{purpose} needs the optional package `{module}`, which is not "
            f"installed. Fix: `pip install {module}`, or load the preset from "
            "a local folder instead."
        ) from err
