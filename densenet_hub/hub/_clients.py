"""Lazy imports of the optional hub clients, with an install hint."""

from densenet_hub.hub.errors import MissingHubClientError
from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional


def import_client(module, purpose):
    """Import `module` (`"kagglehub"` or `"huggingface_hub"`) or raise
    `MissingHubClientError` naming the `hub` extra, which installs both
    clients at the versions tested (a local preset folder needs neither)."""
    return import_optional(
        module,
        extra_fix("hub"),
        purpose,
        MissingHubClientError,
        alternative="from a clone `pip install -e '.[hub]'`; or load the preset "
        "from a local folder instead",
    )
