"""Errors raised when a preset cannot be fetched from or published to a hub.

Each failure a user fixes differently has its own class, so callers can react
to it (the preset registry falls back to a mirror only on
`HubUnavailableError`) and users can catch it. Every class also derives from
the matching built-in `OSError` subclass, so generic handlers keep working.
"""

from densenet_hub.base.optional import MissingOptionalPackageError


class HubError(OSError):
    """A remote preset could not be downloaded or uploaded."""


class HubNotFoundError(HubError, FileNotFoundError):
    """The hub answered 404: no such model, version, revision or file."""


class HubAuthenticationError(HubError, PermissionError):
    """The hub answered 401: credentials are missing or invalid."""


class HubAccessDeniedError(HubError, PermissionError):
    """The hub answered 403: these credentials may not access the preset."""


class HubGatedError(HubAccessDeniedError):
    """The preset is gated: its terms must be accepted on its page first."""


class HubUnavailableError(HubError, ConnectionError):
    """The hub could not be reached (offline, refused, interrupted transfer,
    server error) and the preset is not in the local cache.

    A failed download also says, for a list of sources, which `source` it
    tried, the `cause` in a few words and the `cache` it looked in (each
    None when not known).
    """

    def __init__(self, message, *, source=None, cause=None, cache=None):
        super().__init__(message)
        self.source = source
        self.cause = cause
        self.cache = cache


class HubIntegrityError(HubError):
    """A downloaded file does not match the digest the hub stated for it, or
    the digest recorded at download."""


class MissingHubClientError(MissingOptionalPackageError):
    """The optional client package for a hub (`kagglehub` or
    `huggingface_hub`) is not installed."""
