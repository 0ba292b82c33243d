"""Writes a file or folder beside its destination and renames it into place:
the one atomic publisher of presets, exports and command outputs.

Everything is written into a hidden staging folder next to the target (same
file system), `.NAME.staging-PID-XXXX`, and fsynced; only then is it renamed
onto the target. A crash, a full disk or an exception leaves the old target
or no target, never a mix. An existing target that is a file or a non-empty
folder is replaced only with `overwrite=True`: it is moved into the staging
folder, the new one is renamed into place, and the staging folder (with the
old target) is deleted, so no copy of the old target is left behind.

Writers to one target take turns for the renames: on POSIX each holds an
exclusive `fcntl.flock` on `.NAME.lock` beside the target (deleted by each
writer when done, so none is left behind), so concurrent saves with `overwrite=True` all succeed
and the last one wins, while with `overwrite=False` all but the first get
`FileExistsError`. Windows has no `fcntl`: writers are not serialised there,
and one that finds the target re-created between its two renames fails
with an `OSError` saying so, and retrying it succeeds.

Staging folders of crashed writers are removed by the next publish to the
same target: those whose process (the PID in the name) is gone, and, for
names without a PID, those older than a day. A crashed writer that had
moved the old target aside but not yet renamed the new one in leaves the
old one in its staging folder; when the target is still absent, it is put
back first.
"""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile
import time

try:
    import fcntl
except ImportError:  # Windows: writers are not serialised, see above.
    fcntl = None

# Staging folders without a PID in their name (written before PIDs were
# recorded) are deemed abandoned after this many seconds.
STALE_STAGING_AGE_S = 24 * 3600


def check_target(target, overwrite):
    """Refuses an existing file or non-empty folder at `target` unless
    `overwrite`; an empty folder counts as absent."""
    target = pathlib.Path(target)
    if not overwrite and _occupied(target):
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
            `overwrite` is False, checked before writing and again, in
            turn with the other writers, before the rename.
        OSError: writing or renaming failed; the message names `target`.

    Example:
    ```python
    import pathlib, tempfile
    from densenet_hub.base.publish import published

    target = pathlib.Path(tempfile.mkdtemp()) / "report.txt"
    with published(target, overwrite=False) as staging:
        staging.write_text("complete")
    assert target.read_text() == "complete"
    ```
    """
    target = pathlib.Path(target)
    check_target(target, overwrite)
    staging = None
    keep_staging = False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(
            tempfile.mkdtemp(
                prefix=f".{target.name}.staging-{os.getpid()}-", dir=target.parent
            )
        )
        output = staging / target.name
        yield output
        if not output.exists():
            raise RuntimeError(f"nothing was written to {output}")
        _fsync_tree(output)
        with _writers_take_turns(target):
            _remove_stale_staging(target)
            try:
                _rename_into_place(output, target, overwrite, _aside_path(staging, target))
            finally:
                # Decided in turn: another writer may move the target next.
                keep_staging = _holds_only_copy(staging, target)
    except BaseException as error:
        if isinstance(error, OSError) and str(target) not in str(error):
            raise _naming_target(error, target) from error
        raise
    finally:
        if staging is not None and not keep_staging:
            shutil.rmtree(staging, ignore_errors=True)
    _fsync(target.parent)


def publish_json(path, document, overwrite=False):
    """Writes `document` as JSON (NaN refused) to `path`, complete or absent."""
    data = json.dumps(document, indent=4, allow_nan=False).encode("utf-8") + b"\n"
    with published(path, overwrite) as staging:
        write_file(staging, data)


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


def _occupied(path):
    """Whether `path` is a file or a non-empty folder; safe against another
    writer moving it away meanwhile."""
    try:
        if not path.is_dir():
            return path.exists()
        with os.scandir(path) as entries:
            return any(True for _ in entries)
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _writers_take_turns(target):
    """Holds an exclusive lock on `.NAME.lock` beside `target` (POSIX).

    The lock file is deleted by its holder on release; a writer that was
    waiting on the deleted file finds it no longer at its path and opens the
    new one, so two writers never hold the lock on different files."""
    if fcntl is None:
        yield
        return
    path = target.parent / f".{target.name}.lock"
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            if _same_file(descriptor, path):
                break
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)
    try:
        yield
    finally:
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(descriptor)


def _same_file(descriptor, path):
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino)


def _aside_path(staging, target):
    # Never `target.name` itself, which is where the new output is written.
    return staging / f".replaced-{target.name}"


def _holds_only_copy(staging, target):
    """Whether `staging` holds the old target while no target is in place
    (its restore failed): then it must not be deleted. Asked in turn."""
    return _aside_path(staging, target).exists() and not os.path.lexists(target)


def _rename_into_place(output, target, overwrite, aside):
    """Renames `output` to `target`, first moving an existing target to
    `aside` when `overwrite`, and back if the rename fails."""
    occupied = _occupied(target)
    if occupied and not overwrite:
        raise FileExistsError(
            f"Cannot write {target}: another writer created it first. "
            "Pass overwrite=True to replace it."
        )
    moved = occupied or (target.is_dir() and not output.is_dir())
    if moved:
        os.rename(target, aside)
    try:
        # Replaces an empty folder, or nothing.
        os.rename(output, target)
    except OSError as error:
        if moved:
            os.rename(aside, target)
        elif os.path.lexists(target):
            # Only a writer that takes no turn (on Windows, or another
            # program) can have put something there meanwhile.
            raise OSError(
                error.errno,
                f"Cannot write {target}: another program created it while "
                f"this one was publishing ({error.strerror}). Nothing was "
                "changed; retry, or write to a path of your own.",
            ) from error
        raise


def _remove_stale_staging(target):
    """Deletes staging folders of `target` left by writers that died, first
    putting back an old target one of them had moved aside when no target
    is in place."""
    prefix = f".{target.name}.staging-"
    for entry in target.parent.iterdir():
        if not entry.name.startswith(prefix) or not _abandoned(entry, prefix):
            continue
        aside = _aside_path(entry, target)
        if aside.exists() and not os.path.lexists(target):
            os.rename(aside, target)
        shutil.rmtree(entry, ignore_errors=True)


def _abandoned(staging, prefix):
    pid, separator, _ = staging.name[len(prefix) :].partition("-")
    if separator and pid.isdigit():
        return not _process_alive(int(pid))
    try:
        return time.time() - staging.stat().st_mtime > STALE_STAGING_AGE_S
    except FileNotFoundError:
        return False


def _process_alive(pid):
    if os.name == "nt":
        # os.kill would terminate the process there; keep the folder.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def check_output_folder(out, overwrite):
    """Refuses a non-empty `out` unless `overwrite`, before any work starts."""
    path = pathlib.Path(out)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"the output {str(path)!r} is a file; pass a folder path.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(
            f"the output folder {str(path)!r} is not empty; pass --overwrite "
            "to replace it, or choose another folder."
        )
