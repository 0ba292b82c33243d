"""The sha256 of every file of a downloaded preset, recorded at download and
checked again on request (`from_preset(..., verify=True)`, `densenet-hub
info --verify`).

The record is a small JSON file in our own folder beside the clients'
folders, never among the files a client manages: for the preset folder
`<grandparent>/<parent>/<name>` it is
`<grandparent>/.densenet_hub/<parent>--<name>.digests.json`. For Hugging Face
(`models--owner--repo/snapshots/<commit>`) that is
`models--owner--repo/.densenet_hub/snapshots--<commit>.digests.json`, which
`hf cache` ignores and deletes with the repository; for Kaggle
(`.../<framework>/<variation>/<version>`) it is
`.../<framework>/.densenet_hub/<variation>--<version>.digests.json`.
"""

import hashlib
import json
import pathlib
import warnings

from densenet_hub.hub.errors import HubIntegrityError
from densenet_hub.base.json_files import read_json
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file

RECORD_FOLDER = ".densenet_hub"
_CHUNK = 2**20


def record_path(folder):
    """Where the digests of the downloaded preset `folder` are recorded."""
    folder = pathlib.Path(folder)
    name = f"{folder.parent.name}--{folder.name}.digests.json"
    return folder.parent.parent / RECORD_FOLDER / name


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_files(folder):
    """The names of the regular files in `folder` (links followed, as the
    Hugging Face cache links each file to its blob)."""
    return sorted(path.name for path in pathlib.Path(folder).iterdir() if path.is_file())


def read_record(folder):
    """`{file name: sha256}` recorded for `folder`, or `None` if none was."""
    path = record_path(folder)
    if not path.is_file():
        return None
    record = read_json(path)
    sha256 = record.get("sha256")
    if not isinstance(sha256, dict) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in sha256.items()
    ):
        raise HubIntegrityError(
            f"{path}: the digest record must hold a `sha256` object of file "
            f"names to hex digests, and does not. Fix: delete {path}, then "
            f"{_redownload_fix(folder)}"
        )
    return sha256


def write_record(folder, handle, sha256):
    """Records `{file name: sha256}` for `folder`, downloaded from `handle`;
    warns instead when the cache cannot be written (e.g. a read-only
    shared cache): the download itself is fine."""
    path = record_path(folder)
    document = {"handle": str(handle), "sha256": dict(sorted(sha256.items()))}
    try:
        with published(path, overwrite=True) as staging:
            write_file(staging, json.dumps(document, indent=4).encode("utf-8"))
    except OSError as error:
        warnings.warn(
            f"The digests of {folder} could not be recorded ({error}). The "
            "download is complete, but `verify=True` cannot check it. Fix: "
            f"make {path.parent.parent} writable and download again.",
            stacklevel=2,
        )


def mismatch_error(file, expected, found, expected_from, fix):
    return HubIntegrityError(
        f"{file} does not match {expected_from}: expected {expected}, found "
        f"{found}. It was changed or damaged after it was written; nothing "
        f"was deleted. Fix: {fix}"
    )


def verify_folder(folder):
    """Checks every file of the downloaded preset `folder` against the sha256
    recorded at download; returns `{file name: sha256}`.

    Raises:
        HubIntegrityError: no record, a file that differs from its record
            (the error names the file and both digests), a recorded file
            that is missing, or a file that was not part of the download.
    """
    folder = pathlib.Path(folder)
    recorded = read_record(folder)
    if recorded is None:
        raise HubIntegrityError(
            f"{folder}: no digests were recorded when it was downloaded "
            f"(expected {record_path(folder)}), so its files cannot be "
            "checked. It was downloaded offline, by another program or by an "
            f"older densenet_hub. Fix: {_redownload_fix(folder)}"
        )
    present = folder_files(folder)
    unrecorded = sorted(set(present) - set(recorded))
    missing = sorted(set(recorded) - set(present))
    if unrecorded or missing:
        raise HubIntegrityError(
            f"{folder}: the files differ from those recorded at download "
            f"({record_path(folder)}): not downloaded but present: "
            f"{unrecorded or 'none'}; downloaded but missing: "
            f"{missing or 'none'}. Nothing was deleted. Fix: "
            f"{_redownload_fix(folder)}"
        )
    for name in present:
        found = sha256_of(folder / name)
        if found != recorded[name]:
            raise mismatch_error(
                folder / name,
                f"sha256 {recorded[name]}",
                f"sha256 {found}",
                f"the digest recorded at download ({record_path(folder)})",
                _redownload_fix(folder),
            )
    return recorded


def _redownload_fix(folder):
    return (
        f"delete {folder} (and {record_path(folder)}) and load the preset "
        "again to download a fresh copy; to keep files you changed on "
        "purpose, save the model as a local preset folder instead."
    )
