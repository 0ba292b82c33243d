"""The real public chest X-ray label tables, for tests and benchmarks.

The torchxrayvision wheel on PyPI ships the real CheXpert `train.csv`
(223,414 rows) and the real NIH ChestX-ray14 `Data_Entry_2017_v2020.csv`
(112,120 rows), gzipped under `torchxrayvision/data/`. They are fetched with
`pip download --no-deps` (torchxrayvision is never installed), checked
against the wheel's SHA-256, and unpacked once into a cache folder
(`$DENSENET_HUB_TEST_CACHE`, else `$XDG_CACHE_HOME/densenet-hub-tests`,
else `~/.cache/densenet-hub-tests`), shared by parallel test workers. A
test is skipped, with the reason, only when PyPI cannot be reached.
"""

import contextlib
import fcntl
import gzip
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

import pytest

WHEEL = "torchxrayvision-1.5.7-py3-none-any.whl"
REQUIREMENT = "torchxrayvision==1.5.7"
WHEEL_SHA256 = "95f6c3475661f3515d4258deb0855bd5d1b1a56e0b65384251d3dd3fa61fac41"
# Where each table is kept: its name as the dataset ships it, and its
# member in the wheel.
TABLES = {
    "chexpert/train.csv": "torchxrayvision/data/chexpert_train.csv.gz",
    "nih/Data_Entry_2017_v2020.csv": "torchxrayvision/data/Data_Entry_2017_v2020.csv.gz",
}
CHEXPERT_ROWS = 223_414
NIH_ROWS = 112_120
# What pip prints when it cannot reach the index at all.
UNREACHABLE = (
    "NewConnectionError",
    "ConnectTimeout",
    "ConnectionError",
    "ProxyError",
    "ReadTimeout",
    "Network is unreachable",
    "Name or service not known",
    "Temporary failure in name resolution",
    "No route to host",
)


def cache_folder():
    """The folder the tables are unpacked into."""
    if os.environ.get("DENSENET_HUB_TEST_CACHE"):
        return pathlib.Path(os.environ["DENSENET_HUB_TEST_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "densenet-hub-tests" / WHEEL.removesuffix(".whl")


def chexpert_train():
    """The real CheXpert `train.csv`."""
    return _table("chexpert/train.csv")


def nih_data_entry():
    """The real NIH `Data_Entry_2017_v2020.csv`."""
    return _table("nih/Data_Entry_2017_v2020.csv")


def _table(name):
    folder = cache_folder()
    path = folder / name
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        # Another worker may have unpacked them while this one waited.
        if not path.is_file():
            _unpack(folder)
    return path


@contextlib.contextmanager
def _locked(lock_file):
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unpack(folder):
    with tempfile.TemporaryDirectory() as download:
        wheel = _download(pathlib.Path(download))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise RuntimeError(
                f"{wheel.name} has SHA-256 {digest}, not the {WHEEL_SHA256} "
                "the tests were written against."
            )
        with zipfile.ZipFile(wheel) as archive:
            for name, member in TABLES.items():
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(".partial")
                partial.write_bytes(gzip.decompress(archive.read(member)))
                partial.replace(target)


def _download(folder):
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "1",
        "--timeout", "60", "--dest", str(folder), REQUIREMENT,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        if any(marker in output for marker in UNREACHABLE):
            pytest.skip(
                f"the real chest X-ray tables come from PyPI ({REQUIREMENT}), "
                f"which cannot be reached: {output.strip().splitlines()[-1]}"
            )
        raise RuntimeError(f"`{' '.join(command)}` failed:\n{output}")
    return folder / WHEEL
