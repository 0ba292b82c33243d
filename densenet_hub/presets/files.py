"""The check that keeps every file a preset names inside its folder."""

import pathlib
import re


# Plain names only: no separators, no leading dot, so no `..`, no absolute
# path, no hidden file.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


def _containment_root(directory):
    """The folder a preset's files (or their link targets) must stay in.

    Hugging Face's cache keeps a revision as links from
    `<repo>/snapshots/<revision>/<file>` to `<repo>/blobs/<hash>`, so for
    such a folder the repository's cache folder is the boundary.
    """
    if directory.parent.name == "snapshots" and (directory.parents[1] / "blobs").is_dir():
        return directory.parents[1]
    return directory


def preset_file(directory, name, source="preset folder"):
    """`directory / name` after checking that `name` is a plain file name
    and that the file, following any links, stays inside the preset.

    Args:
        directory: the preset folder, a `pathlib.Path`.
        name: a file name, possibly read from a JSON file.
        source: where the name comes from, for messages.

    Returns:
        The path; it may not exist.
    """
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{directory}: the file name {name!r} from {source} is not a plain "
            "file name (letters, digits, '_', '.', '-'; no path separators, "
            "no '..', not absolute). Preset files must live directly in the "
            "preset folder; fix the name."
        )
    path = directory / name
    root = _containment_root(directory).resolve()
    real = path.resolve()
    if not real.is_relative_to(root):
        raise ValueError(
            f"{path} resolves to {real}, outside the preset folder {root}. "
            "Links out of a preset folder are refused; copy the real file "
            "into the folder instead."
        )
    return path


def existing_file(directory, name, source="preset folder"):
    """Like `preset_file`, but `None` when the file does not exist, and an
    error when the name exists but is not a regular file."""
    path = preset_file(directory, name, source)
    if not path.exists():
        return None
    if not path.is_file():
        raise ValueError(
            f"{path} is not a regular file. A preset folder holds plain "
            "files; remove or replace it."
        )
    return path


def required_file(directory, name, what):
    """Like `existing_file`, but a missing file is an error naming `what`."""
    path = existing_file(directory, name)
    if path is None:
        present = sorted(p.name for p in pathlib.Path(directory).iterdir())[:20]
        raise ValueError(
            f"{directory} has no {name} ({what}); it holds {present}. Pass "
            "the folder of a complete preset (one written by save_to_preset "
            "or downloaded from Kaggle or Hugging Face)."
        )
    return path
