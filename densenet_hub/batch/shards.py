"""The output of a batch job: a folder of Parquet shards `part-00000.parquet`,
... (shard `i` holds rows `i * shard_size` up to the next shard's) and
`_manifest.json`, which records the inputs' digest and the settings.

Each shard is written beside its name and renamed into place
(`densenet_hub.base.publish`), so a shard that exists is complete: a rerun
after a crash or Ctrl-C skips the shards present and writes the others,
and the rows come out as an uninterrupted run's, none lost, none twice.
"""

import json
import pathlib

from densenet_hub.base.json_files import json_bytes
from densenet_hub.base.json_files import read_json
from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file

# Leading "_": Parquet readers (pyarrow, pandas, Spark) skip it when they
# read the folder as one dataset.
MANIFEST_FILE = "_manifest.json"
SHARD_PATTERN = "part-{:05d}.parquet"
FORMAT = "densenet-hub batch output"
FORMAT_VERSION = 1


def import_pyarrow():
    """`pyarrow` and `pyarrow.parquet`, or an error naming the extra."""
    pyarrow = import_optional("pyarrow", extra_fix("parquet"), "Parquet output")
    return pyarrow, import_optional("pyarrow.parquet", extra_fix("parquet"), "Parquet output")


def shard_path(folder, shard):
    """The file of shard number `shard` in `folder`."""
    return pathlib.Path(folder) / SHARD_PATTERN.format(shard)


def write_shard(folder, shard, table):
    """Writes the pyarrow `table` as shard `shard` of `folder`, atomically."""
    _, parquet = import_pyarrow()
    with published(shard_path(folder, shard), overwrite=True) as staging:
        parquet.write_table(table, staging)


class ShardedOutput:
    """A batch job's output folder, opened for writing or resuming.

    Args:
        folder: the output folder (created if absent).
        count: the number of rows (input paths).
        shard_size: rows per shard.
        digest: the inputs' digest (`densenet_hub.batch.inputs.paths_digest`).
        settings: what else decides the rows (model, runtime, top-k, ...),
            JSON-able; a rerun must give the same.
        overwrite: start afresh when the folder holds another job's output.

    Raises:
        FileExistsError: the folder holds another job's output (other
            inputs or settings), or files that are not a batch output, and
            `overwrite` is False.

    Example:
    ```python
    import tempfile
    import pyarrow as pa
    from densenet_hub.batch.shards import ShardedOutput, read_output

    folder = tempfile.mkdtemp() + "/out"
    output = ShardedOutput(folder, count=3, shard_size=2, digest="d", settings={"k": 1})
    assert output.pending == [0, 1] and output.rows(1) == (2, 3)
    output.write(0, pa.table({"path": ["a", "b"]}))
    again = ShardedOutput(folder, count=3, shard_size=2, digest="d", settings={"k": 1})
    assert again.pending == [1]
    again.write(1, pa.table({"path": ["c"]}))
    again.finish({"errors": 0})
    assert read_output(folder).column("path").to_pylist() == ["a", "b", "c"]
    ```
    """

    def __init__(self, folder, count, shard_size, digest, settings, overwrite=False):
        self.folder = pathlib.Path(folder)
        self.count = count
        self.shard_size = shard_size
        self.shards = -(-count // shard_size)
        self.manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "rows": count,
            "shard_size": shard_size,
            "shards": self.shards,
            "inputs_sha256": digest,
            # As read back (tuples become lists), for comparing with a rerun's.
            "settings": json.loads(json_bytes(settings)),
        }
        self.resumed = self._open(overwrite)
        self.pending = [
            shard for shard in range(self.shards) if not shard_path(self.folder, shard).is_file()
        ]

    def rows(self, shard):
        """`(start, stop)`: the rows of shard number `shard`."""
        start = shard * self.shard_size
        return start, min(start + self.shard_size, self.count)

    def write(self, shard, table):
        """Writes shard number `shard` (a pyarrow table of its rows)."""
        start, stop = self.rows(shard)
        if table.num_rows != stop - start:
            raise ValueError(
                f"shard {shard} covers rows {start}..{stop - 1} ({stop - start} "
                f"rows), but its table has {table.num_rows}."
            )
        write_shard(self.folder, shard, table)

    def finish(self, summary):
        """Records `summary` (error count, ...) in the manifest once every
        shard is written."""
        missing = [s for s in range(self.shards) if not shard_path(self.folder, s).is_file()]
        if missing:
            raise RuntimeError(
                f"{self.folder}: shards {missing[:5]} are missing; run the job again "
                "to write them."
            )
        self._write_manifest({**self.manifest, "complete": True, **summary})

    def _open(self, overwrite):
        """Checks the folder against this job; returns whether it resumes."""
        manifest = self.folder / MANIFEST_FILE
        if manifest.is_file():
            found = read_json(manifest, None, fix=None)
            same = all(found.get(key) == value for key, value in self.manifest.items())
            if same:
                return True
            if not overwrite:
                raise FileExistsError(_other_job(self.folder, found, self.manifest))
        elif self.folder.exists() and any(self.folder.iterdir()) and not overwrite:
            raise FileExistsError(
                f"{self.folder} exists and is not a batch output folder (it has no "
                f"{MANIFEST_FILE}); choose a new output path, or pass "
                "overwrite=True (--overwrite) to replace its contents."
            )
        if self.folder.exists():
            self._clear()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_manifest(self.manifest)
        return False

    def _clear(self):
        # Only what a batch job writes; anything else stays.
        for path in self.folder.glob("part-*.parquet"):
            path.unlink()
        (self.folder / MANIFEST_FILE).unlink(missing_ok=True)

    def _write_manifest(self, document):
        with published(self.folder / MANIFEST_FILE, overwrite=True) as staging:
            write_file(staging, json_bytes(document))


def _other_job(folder, found, wanted):
    differing = [
        key for key in wanted if found.get(key) != wanted[key] and key != "settings"
    ]
    settings = found.get("settings") or {}
    differing += [
        f"settings.{key}" for key in wanted["settings"]
        if settings.get(key) != wanted["settings"][key]
    ]  # fmt: skip
    return (
        f"{folder} holds the output of another batch job (differing: "
        f"{', '.join(differing) or 'format'}); a rerun resumes only with the same "
        "inputs and settings. Choose a new output path, or pass overwrite=True "
        "(--overwrite) to replace it."
    )


def read_output(folder):
    """The rows of a batch job's output folder, in input order, as one
    pyarrow table (`.to_pandas()` for a DataFrame).

    Raises:
        ValueError: the folder has no manifest or misses shards.
    """
    pyarrow, parquet = import_pyarrow()
    folder = pathlib.Path(folder)
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ValueError(
            f"{folder} is not a batch output folder (no {MANIFEST_FILE}); pass the "
            "folder batch_predict or batch_embed wrote."
        )
    manifest = read_json(manifest_path, None, fix=None)
    paths = [shard_path(folder, shard) for shard in range(manifest["shards"])]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise ValueError(
            f"{folder} misses {len(missing)} shard(s) ({', '.join(missing[:3])}); the "
            "job did not finish: run it again with the same inputs to complete it."
        )
    return pyarrow.concat_tables([parquet.read_table(path) for path in paths])
