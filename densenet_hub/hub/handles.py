"""Parsing and validation of remote preset handles.

Two forms are accepted:

- `kaggle://owner/model/framework/variation[/version]`, e.g.
  `kaggle://keras/densenet/keras/densenet_121_imagenet/3`;
- `hf://owner/repo[@revision]`, e.g. `hf://keras/densenet_121_imagenet` or
  `hf://keras/densenet_121_imagenet@<40-hex commit>`.

A handle is checked completely before any request is made: its segments end
up in URLs and cache paths, so anything that could climb out of them (`..`,
absolute paths, backslashes, empty or extra segments) is refused here.
"""

import dataclasses
import re

KAGGLE_SCHEME = "kaggle"
HF_SCHEME = "hf"

KAGGLE_FORM = (
    "kaggle://owner/model/framework/variation[/version] with a positive "
    "integer version, e.g. kaggle://keras/densenet/keras/densenet_121_imagenet/3"
)
HF_FORM = (
    "hf://owner/repo[@revision], e.g. hf://keras/densenet_121_imagenet or "
    "hf://keras/densenet_121_imagenet@<40-hex commit>"
)

# Any `scheme://` prefix marks a remote handle, even an unknown scheme: it is
# then refused with the accepted forms instead of being looked up as a folder.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Slugs start with a letter or digit, so `.`, `..` and hidden names never match.
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_VERSION = re.compile(r"^[1-9][0-9]{0,8}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
_MAX_REVISION_LENGTH = 128


@dataclasses.dataclass(frozen=True)
class RemoteHandle:
    """A validated `kaggle://` or `hf://` preset handle.

    Build it with `parse_handle`, which refuses malformed handles.

    Args:
        scheme: `"kaggle"` or `"hf"`.
        owner: the user or organisation that owns the model.
        name: the Kaggle model slug or the Hugging Face repository name.
        framework: Kaggle only: the framework slug, e.g. `"keras"`.
        variation: Kaggle only: the variation slug.
        version: Kaggle only: the pinned version, or `None` for the latest.
        revision: Hugging Face only: the branch, tag or commit, or `None`
            for the default branch.

    Example:

    >>> handle = parse_handle("kaggle://keras/densenet/keras/densenet_121_imagenet/3")
    >>> handle.client_id, handle.is_pinned
    ('keras/densenet/keras/densenet_121_imagenet/3', True)
    >>> parse_handle("hf://keras/densenet_121_imagenet").client_id
    'keras/densenet_121_imagenet'
    """

    scheme: str
    owner: str
    name: str
    framework: str | None = None
    variation: str | None = None
    version: int | None = None
    revision: str | None = None

    @property
    def client_id(self):
        """The identifier the hub client takes: the Kaggle handle without
        its scheme, or the Hugging Face `repo_id`."""
        if self.scheme == HF_SCHEME:
            return f"{self.owner}/{self.name}"
        parts = [self.owner, self.name, self.framework, self.variation]
        if self.version is not None:
            parts.append(str(self.version))
        return "/".join(parts)

    @property
    def is_pinned(self):
        """Whether the handle names one immutable upload: a Kaggle version
        or a Hugging Face commit. Only pinned handles load from the cache
        without asking the hub whether something newer exists."""
        if self.scheme == HF_SCHEME:
            return self.revision is not None and bool(COMMIT.match(self.revision))
        return self.version is not None

    def __str__(self):
        text = f"{self.scheme}://{self.client_id}"
        if self.revision is not None:
            text += f"@{self.revision}"
        return text


def is_remote_handle(preset):
    """Whether `preset` is a string with a URL scheme (`kaggle://`, `hf://`,
    or any other `scheme://`), i.e. must be resolved remotely rather than as a
    built-in name or local folder. `parse_handle` then validates it.

    Example:

    >>> is_remote_handle("hf://keras/densenet_121_imagenet")
    True
    >>> is_remote_handle("densenet_121_imagenet")
    False
    """
    return isinstance(preset, str) and _SCHEME.match(preset) is not None


def parse_handle(handle):
    """Validate a remote handle and split it into its parts.

    Args:
        handle: a `kaggle://owner/model/framework/variation[/version]` or
            `hf://owner/repo[@revision]` string.

    Returns:
        A `RemoteHandle`.

    Raises:
        ValueError: if `handle` is not a string or not one of the two forms;
            the message names the handle and the expected form.

    Example:

    >>> parse_handle("kaggle://keras/densenet/keras/densenet_121_imagenet").version is None
    True
    >>> parse_handle("hf://keras/../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Invalid preset handle 'hf://keras/../x': segment '..' is not a slug ...
    """
    if not isinstance(handle, str):
        raise ValueError(
            f"A preset handle must be a string, got {type(handle).__name__} "
            f"{handle!r}. Expected {KAGGLE_FORM}, or {HF_FORM}."
        )
    match = _SCHEME.match(handle)
    scheme = match.group(1) if match else None
    if scheme == KAGGLE_SCHEME:
        return _parse_kaggle(handle, handle[match.end():])
    if scheme == HF_SCHEME:
        return _parse_hf(handle, handle[match.end():])
    found = f"unknown scheme {scheme + '://'!r}" if scheme else "no scheme"
    raise ValueError(
        f"Invalid preset handle {handle!r}: {found}. Expected {KAGGLE_FORM}, "
        f"or {HF_FORM}."
    )


def _parse_kaggle(handle, body):
    segments = body.split("/")
    for segment in segments[:4]:
        _check_segment(handle, segment, KAGGLE_FORM)
    if len(segments) not in (4, 5):
        _refuse(
            handle,
            f"{len(segments)} path segment(s) where 4 or 5 are needed",
            KAGGLE_FORM,
        )
    version = None
    if len(segments) == 5:
        if not _VERSION.match(segments[4]):
            _refuse(
                handle,
                f"version {segments[4]!r} is not a positive integer",
                KAGGLE_FORM,
            )
        version = int(segments[4])
    owner, model, framework, variation = segments[:4]
    return RemoteHandle(
        KAGGLE_SCHEME, owner, model, framework, variation, version=version
    )


def _parse_hf(handle, body):
    repo, at, revision = body.partition("@")
    segments = repo.split("/")
    for segment in segments:
        _check_segment(handle, segment, HF_FORM)
        # The Hugging Face cache names folders `models--owner--repo`, so `--`
        # inside a name would make two repositories share one folder.
        if "--" in segment or ".." in segment:
            _refuse(handle, f"segment {segment!r} contains '--' or '..'", HF_FORM)
    if len(segments) != 2:
        _refuse(
            handle,
            f"{len(segments)} path segment(s) where exactly 2 (owner/repo) "
            "are needed",
            HF_FORM,
        )
    if at:
        _check_revision(handle, revision)
    return RemoteHandle(
        HF_SCHEME, segments[0], segments[1], revision=revision if at else None
    )


def _check_segment(handle, segment, form):
    if not _SEGMENT.match(segment):
        _refuse(
            handle,
            f"segment {segment!r} is not a slug (letters, digits, '_', '.', "
            "'-', starting with a letter or digit, at most 96 characters)",
            form,
        )


def _check_revision(handle, revision):
    if (
        not _REVISION.match(revision)
        or ".." in revision
        or len(revision) > _MAX_REVISION_LENGTH
    ):
        _refuse(
            handle,
            f"revision {revision!r} is not a branch, tag or commit name",
            HF_FORM,
        )


def _refuse(handle, reason, form):
    raise ValueError(
        f"Invalid preset handle {handle!r}: {reason}. Expected {form}."
    )
