"""Writes an export next to its destination and renames it into place, so a
failed export leaves nothing behind and never a half-written file."""

import contextlib
import os
import pathlib
import shutil
import tempfile


@contextlib.contextmanager
def staged_output(target, overwrite):
    """Yields a path to write a file or folder to; renames it to `target`
    when the block succeeds, deletes it when the block raises.

    Args:
        target: the final file or folder path.
        overwrite: replace an existing `target`; else it is an error.
    """
    target = pathlib.Path(target)
    _check_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as the target: the final rename stays on one file system.
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{target.name}.exporting-", dir=target.parent)
    )
    try:
        output = staging / target.name
        yield output
        if not output.exists():
            raise RuntimeError(f"the exporter wrote nothing to {output}")
        _check_target(target, overwrite)
        if target.exists():
            # Moved aside, not deleted, until the new export is in place.
            os.rename(target, staging / "replaced")
        os.rename(output, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_target(target, overwrite):
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"Cannot export to {target}: it already exists. Pass "
            "overwrite=True (--overwrite) to replace it, or choose a new path."
        )
