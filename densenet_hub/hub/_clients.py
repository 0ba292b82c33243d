"""Lazy imports of the optional hub clients, with an install hint."""

from densenet_hub.hub.errors import MissingHubClientError
from densenet_hub.base.optional import import_optional


def import_client(module, purpose):
    """Import `module` (`"kagglehub"` or `"huggingface_hub"`) or raise
    `MissingHubClientError` saying which pip command installs it (a local
    preset folder needs neither)."""
    return import_optional(
        module,
        f"pip install {module}",
        purpose,
        MissingHubClientError,
        alternative="load the preset from a local folder instead",
    )
