"""Writes a file or folder beside its destination and renames it into place:
the one atomic publisher of presets, exports and command outputs.

Everything is written into a hidden staging folder next to the target (same
file system) and fsynced; only then is it renamed onto the target. A crash,
a full disk or an exception leaves the old target or no target, never a mix,
and the staging folder is removed. An existing target that is a file or a
non-empty folder is replaced only with `overwrite=True`, and is moved aside
(not deleted) until the new one is in place.
"""

import contextlib
import os
import pathlib
import shutil
import tempfile

MAX_PUBLISH_ATTEMPTS = 100


def check_target(target, overwrite):
    """Refuses an existing file or non-empty folder at `target` unless
    `overwrite`; an empty folder counts as absent."""
    target = pathlib.Path(target)
    if not overwrite and (target.is_file() or _is_non_empty_folder(target)):
        raise FileExistsError(
            f"Cannot write {target}: it already exists. Pass overwrite=True "
            "(--overwrite) to replace it, or choose a new path."
        )


@contextlib.contextmanager
def published(target, overwrite):
    """Yields the path to write the file or folder to; renames it onto
    `target` when the block succeeds, deletes it when the block raises.

    Args:
        target: the final file or folder path (`str` or `os.PathLike`).
        overwrite: replace an existing file or non-empty folder.

    Raises:
        FileExistsError: `target` exists (file or non-empty folder) and
            `overwrite` is False, checked before and again after writing.
        OSError: writing or renaming failed; the message names `target`.

    Example:
    ```python
    import pathlib, tempfile
    from densenet_hub.publish import published

    target = pathlib.Path(tempfile.mkdtemp()) / "report.txt"
    with published(target, overwrite=False) as staging:
        staging.write_text("complete")
    assert target.read_text() == "complete"
    ```
    """
    target = pathlib.Path(target)
    check_target(target, overwrite)
    replaced = []
    staging = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(
            tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent)
        )
        output = staging / target.name
        yield output
        if not output.exists():
            raise RuntimeError(f"nothing was written to {output}")
        _fsync_tree(output)
        _rename_into_place(output, target, overwrite, replaced)
    except BaseException as error:
        _restore_if_absent(target, replaced)
        if isinstance(error, OSError) and str(target) not in str(error):
            raise _naming_target(error, target) from error
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        # What was moved aside is only dropped once the new target is in place.
        if target.exists():
            for old in replaced:
                shutil.rmtree(old, ignore_errors=True)
    _fsync(target.parent)


def write_file(path, data):
    """Writes `data` (bytes) to `path` and flushes it to disk."""
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _fsync(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_tree(path):
    if path.is_dir():
        for child in path.rglob("*"):
            if child.is_file():
                _fsync(child)
    _fsync(path)


def _naming_target(error, target):
    message = (
        f"Cannot write {target}: {error.strerror or error}. Nothing was "
        f"changed; check the permissions and free space of {target.parent} "
        "and retry."
    )
    # OSError(errno, ...) picks the matching subclass, e.g. PermissionError.
    return OSError(error.errno, message) if error.errno else OSError(message)


def _is_non_empty_folder(path):
    return path.is_dir() and any(path.iterdir())


def _rename_into_place(output, target, overwrite, replaced):
    """Renames `output` to `target`, first moving an existing target aside
    when `overwrite`. Other writers may race for the same target: each
    attempt re-checks what is there."""
    for _ in range(MAX_PUBLISH_ATTEMPTS):
        occupied = target.is_file() or _is_non_empty_folder(target)
        if occupied and not overwrite:
            raise FileExistsError(
                f"Cannot write {target}: another writer created it first. "
                "Pass overwrite=True to replace it."
            )
        if occupied or (target.is_dir() and not output.is_dir()):
            _move_aside(target, replaced)
            continue
        try:
            # Replaces an empty folder, or nothing; fails if a writer got there.
            os.rename(output, target)
            return
        except OSError:
            if not target.exists():
                raise
    raise OSError(
        f"Cannot write {target}: other writers kept replacing it "
        f"({MAX_PUBLISH_ATTEMPTS} attempts). Write to a path of your own."
    )


def _move_aside(target, replaced):
    aside = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced-", dir=target.parent))
    try:
        os.rename(target, aside / "old")
    except FileNotFoundError:
        aside.rmdir()  # another writer moved it first
        return
    replaced.append(aside)


def _restore_if_absent(target, replaced):
    """Puts the newest moved-aside target back if nothing took its place."""
    if replaced and not target.exists():
        try:
            os.rename(replaced[-1] / "old", target)
        except OSError:
            return
        replaced.pop()
