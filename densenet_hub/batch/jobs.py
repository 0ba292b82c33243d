"""`batch_predict` and `batch_embed`: a model over many image files, written
to a Parquet dataset that a rerun completes (see `densenet_hub.batch.shards`),
on this machine or on Ray Data (`engine="ray"`)."""

import dataclasses
import os
import pathlib
import time

from densenet_hub.base.choices import BATCH_ENGINES
from densenet_hub.base.validation import check_choice
from densenet_hub.base.validation import check_positive_int
from densenet_hub.batch.inputs import job_paths
from densenet_hub.batch.inputs import paths_digest
from densenet_hub.batch.runners import ERROR_COLUMN
from densenet_hub.batch.runners import JobModel
from densenet_hub.batch.runners import run_shards
from densenet_hub.batch.shards import ShardedOutput
from densenet_hub.batch.shards import import_pyarrow
from densenet_hub.batch.shards import shard_path
from densenet_hub.inference.embedding import FINAL_LEVEL
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE

ENGINES = BATCH_ENGINES
# Rows per shard, in batches: what a crash can lose, and the unit of work
# of a Ray actor.
DEFAULT_SHARD_BATCHES = 16


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """What `batch_predict` or `batch_embed` did.

    Attributes:
        output: the output folder (`_manifest.json` and `part-*.parquet`;
            `densenet_hub.batch.read_output` reads it).
        rows: rows in the output, one per input path.
        errors: rows whose file could not be read (their `error` is set),
            over the whole output, resumed shards included.
        written: shards written by this run.
        skipped: shards a previous run had written, left as they were.
        seconds: how long this run took.
        workers: with `engine="ray"`, one record per shard written:
            `{"shard", "rows", "errors", "node", "pid"}` (which Ray node and
            process wrote it); else empty.
    """

    output: pathlib.Path
    rows: int
    errors: int
    written: int
    skipped: int
    seconds: float
    workers: list


def batch_predict(
    model_or_preset, inputs, output, *, engine="local", runtime=None, precision="float32",
    batch_size=DEFAULT_BATCH_SIZE, top_k=5, image_size=None, shard_size=None, address=None,
    workers=None, overwrite=False, on_batch=None, images=None, path_column=None, where=None,
):  # fmt: skip
    """Classifies many image files and writes one row per file to a Parquet
    dataset: `output/part-00000.parquet`, ... and `output/_manifest.json`.

    Columns: `path`; for a single-label classifier `classes` (list of str)
    and `probabilities` (list of float32), the `top_k` most probable, most
    probable first; for a multi-label one a float32 column per finding and,
    when the preset saved decision thresholds, a bool column
    `"<finding> positive"`; then `error`, null for a file that was read,
    else why it could not be (such a row has nulls for the results: a bad
    file never stops the job, `BatchResult.errors` counts them).

    Files are decoded and resized in a thread pool (or in each Ray actor)
    while the network runs. Each shard is written atomically, and the
    manifest records the inputs (a digest of the path list) and the
    settings: a rerun into the same `output` skips the shards already
    written and writes the rest, giving the rows of an uninterrupted run;
    a rerun with other inputs or settings is refused unless `overwrite`.

    Args:
        model_or_preset: a classifier preset (built-in name, handle or
            folder), a folder `densenet-hub quantize` wrote (e.g. int8), an
            `ImageClassifier` with its preprocessor or an `AcceleratedModel`.
        inputs: a folder, a glob pattern, a label table (file or
            `LabelTable`) or a list of image paths (see
            `densenet_hub.batch.inputs.job_paths`).
        output: the output folder; created if absent.
        engine: `"local"` (this process) or `"ray"` (Ray Data; the `ray`
            extra).
        runtime: `None` runs the network in Keras; `"onnxruntime"` or
            `"openvino"` exports it once (per Ray actor) and runs it there.
        precision: `"float32"`, or `"bfloat16"` with `runtime="openvino"`;
            for int8 pass a quantized folder as the model.
        batch_size: images per network call.
        top_k: classes kept per image (single-label heads).
        image_size: `(height, width)` to resize to instead of the preset's.
        shard_size: rows per shard, default `16 * batch_size`.
        address: `engine="ray"`: `None` starts Ray on this machine for the
            job; `"auto"` or `"host:port"` joins a running cluster.
        workers: `"local"`: decoding threads (default one per CPU); `"ray"`:
            actors, each holding one model (default one per cluster CPU).
        overwrite: replace another job's output in `output`.
        on_batch: `None`, or called as `on_batch(done, total)` with the rows
            this run has finished and will do (for a progress bar): after
            each batch locally, after each shard on Ray.
        images, path_column, where: for a label table file, as
            `densenet_hub.data.read_label_table` takes them.

    Returns:
        `BatchResult`.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.batch import batch_predict, read_output

    folder = pathlib.Path(tempfile.mkdtemp())
    PIL.Image.fromarray(np.zeros((40, 48, 3), "uint8")).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not a picture")
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    paths = [folder / "a.png", folder / "b.png"]
    result = batch_predict(classifier, paths, folder / "out", top_k=2)
    rows = read_output(result.output).to_pylist()
    assert result.rows == 2 and result.errors == 1
    assert len(rows[0]["classes"]) == 2 and rows[0]["error"] is None
    assert rows[1]["classes"] is None and "cannot read the image" in rows[1]["error"]
    ```
    """
    check_positive_int("batch_predict", "top_k", top_k)
    job = JobModel(model_or_preset, "predict", runtime, precision, _size(image_size), top_k)
    return _run(
        "batch_predict", job, inputs, output, engine, batch_size, shard_size, address,
        workers, overwrite, on_batch, images, path_column, where,
    )  # fmt: skip


def batch_embed(
    model_or_preset, inputs, output, *, level=FINAL_LEVEL, pooling="avg", engine="local",
    runtime=None, precision="float32", batch_size=DEFAULT_BATCH_SIZE, image_size=None,
    shard_size=None, address=None, workers=None, overwrite=False, on_batch=None, images=None,
    path_column=None, where=None,
):  # fmt: skip
    """Writes one feature vector per image file to a Parquet dataset, laid
    out, resumed and run as `batch_predict`'s.

    Columns: `path`, `embedding` (a fixed-size list of float32: the
    features of `level`, pooled as `pooling` says; with `pooling="none"`
    the feature map flattened in the model's layout) and `error`.

    Args:
        model_or_preset: a backbone or classifier preset, a folder of an
            accelerated feature model (`densenet-hub quantize` on a backbone
            preset), or an `ImageClassifier` with its preprocessor.
        inputs, output, engine, runtime, precision, batch_size, image_size,
        shard_size, address, workers, overwrite, on_batch, images,
        path_column, where: as for `batch_predict`.
        level: `"output"` (the backbone's final features) or a pyramid
            level such as `"P3"`.
        pooling: `"avg"`, `"max"` or `"none"` (as `embed_files`).

    Returns:
        `BatchResult`.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.batch import batch_embed, read_output

    folder = pathlib.Path(tempfile.mkdtemp())
    PIL.Image.fromarray(np.zeros((40, 48, 3), "uint8")).save(folder / "a.png")
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    result = batch_embed(classifier, folder, folder / "features")
    table = read_output(result.output)
    assert table.num_rows == 1 and len(table.column("embedding")[0]) == 44
    ```
    """
    job = JobModel(
        model_or_preset, "embed", runtime, precision, _size(image_size), level=level,
        pooling=pooling,
    )  # fmt: skip
    return _run(
        "batch_embed", job, inputs, output, engine, batch_size, shard_size, address,
        workers, overwrite, on_batch, images, path_column, where,
    )  # fmt: skip


def _size(image_size):
    return None if image_size is None else tuple(int(side) for side in image_size)


def _run(owner, job, inputs, output, engine, batch_size, shard_size, address, workers,
         overwrite, on_batch, images, path_column, where):  # fmt: skip
    check_choice(owner, "engine", engine, ENGINES)
    check_positive_int(owner, "batch_size", batch_size)
    shard_size = DEFAULT_SHARD_BATCHES * batch_size if shard_size is None else shard_size
    check_positive_int(owner, "shard_size", shard_size)
    if workers is not None:
        check_positive_int(owner, "workers", workers)
    if engine == "local" and address is not None:
        raise ValueError(
            f"{owner}: `address` {address!r} is for engine='ray'; pass engine='ray' to "
            "run on that cluster, or leave `address` out."
        )
    began = time.monotonic()
    paths = job_paths(inputs, images=images, path_column=path_column, where=where)
    settings = {**job.settings(), "batch_size": batch_size}
    out = ShardedOutput(output, len(paths), shard_size, paths_digest(paths), settings, overwrite)
    pending = list(out.pending)
    total = sum(out.rows(shard)[1] - out.rows(shard)[0] for shard in pending)
    done = 0

    def advance(count):
        nonlocal done
        done += count
        if on_batch is not None:
            on_batch(done, total)

    records = []
    if pending and engine == "local":
        run_shards(
            job.build(), paths, [(shard, *out.rows(shard)) for shard in pending], batch_size,
            workers or os.cpu_count() or 1, out.write, advance,
        )  # fmt: skip
    elif pending:
        from densenet_hub.batch.ray_engine import run_on_ray

        records = run_on_ray(
            job, paths, out, pending, batch_size, address=address, workers=workers,
            on_shard=lambda record: advance(record["rows"]),
        )  # fmt: skip
    errors = _count_errors(out)
    out.finish({"errors": errors})
    return BatchResult(
        out.folder, len(paths), errors, len(pending), out.shards - len(pending),
        time.monotonic() - began, records,
    )  # fmt: skip


def _count_errors(out):
    """Rows with an error over every shard, read from the files' metadata."""
    _, parquet = import_pyarrow()
    errors = 0
    for shard in range(out.shards):
        metadata = parquet.ParquetFile(shard_path(out.folder, shard)).metadata
        column = metadata.schema.names.index(ERROR_COLUMN)
        for group in range(metadata.num_row_groups):
            chunk = metadata.row_group(group)
            errors += chunk.num_rows - chunk.column(column).statistics.null_count
    return errors
