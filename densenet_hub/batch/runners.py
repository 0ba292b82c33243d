"""What a batch job runs, in any process: `JobModel` (a picklable
description of the model and its settings, sent as it is to each Ray
actor) builds a `Runner`, and `run_shards` feeds it one shard after another,
files decoded and resized in a thread pool while the network runs.

Every engine computes a shard the same way (the same batches, cut from the
shard's first row), so a shard's rows are the same whichever process wrote
it, in a first run or a rerun."""

import collections
import concurrent.futures
import dataclasses
import os

import keras
import numpy as np

from densenet_hub.batch.shards import import_pyarrow
from densenet_hub.data.images import read_image
from densenet_hub.inference.embedding import FINAL_LEVEL
from densenet_hub.inference.embedding import POOLING_CHOICES
from densenet_hub.inference.embedding import feature_model
from densenet_hub.inference.loading import load_backbone
from densenet_hub.inference.scoring import to_probabilities
from densenet_hub.models import ImageClassifier
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.presets.class_labels import at_or_above
from densenet_hub.presets.class_labels import most_probable_first
from densenet_hub.presets.inspection import inspect
from densenet_hub.runtime.accelerated_model import AcceleratedModel
from densenet_hub.runtime.accelerated_model import accelerate
from densenet_hub.runtime.model_folders import class_count
from densenet_hub.runtime.model_folders import load_feature_folder
from densenet_hub.runtime.model_folders import load_scoring_model

TASKS = ("predict", "embed")
# Column names the rows use themselves, which no finding may take.
PATH_COLUMN, ERROR_COLUMN = "path", "error"
POSITIVE_SUFFIX = " positive"
# Batches decoded ahead of the network, per decoding thread: enough to keep
# it busy through a slow file, few enough to bound the memory they hold.
PREFETCH_PER_THREAD = 2


@dataclasses.dataclass(frozen=True)
class JobModel:
    """The model of a batch job and how it runs, picklable so that each Ray
    actor builds its own copy (`build`).

    Attributes:
        source: a preset name, handle or folder, an accelerated folder
            (`densenet-hub quantize`), or a Keras model: an
            `ImageClassifier` with its preprocessor (predict, embed) or an
            `AcceleratedModel` (predict).
        task: `"predict"` or `"embed"`.
        runtime: `None` (Keras), `"onnxruntime"` or `"openvino"`.
        precision: `"float32"` or `"bfloat16"` (with a runtime); an int8
            model comes as an accelerated folder.
        image_size: `(height, width)` instead of the preset's, or `None`.
        top_k: predict with a single-label head: classes kept per image.
        level: embed: `"output"` or a pyramid level such as `"P3"`.
        pooling: embed: `"avg"`, `"max"` or `"none"`.
        threads: the runtime's inference threads; `None` for its default
            (every core). Not part of `settings`: it changes no row.
    """

    source: object
    task: str
    runtime: str = None
    precision: str = "float32"
    image_size: tuple = None
    top_k: int = 5
    level: str = FINAL_LEVEL
    pooling: str = "avg"
    threads: int = None

    def settings(self):
        """What decides the rows, JSON-able, for the output's manifest."""
        source = self.source
        if not isinstance(source, (str, os.PathLike)):
            source = f"{type(source).__name__} {getattr(source, 'name', '')}".strip()
        settings = {
            "task": self.task,
            "model": str(source),
            "runtime": self.runtime,
            "precision": self.precision,
            "image_size": None if self.image_size is None else list(self.image_size),
        }
        if self.task == "predict":
            return {**settings, "top_k": self.top_k}
        return {**settings, "level": self.level, "pooling": self.pooling}

    def build(self):
        """The `Runner` of this model (loads and, with a runtime, exports it)."""
        if self.task == "predict":
            return _predict_runner(self)
        return _embed_runner(self)


class Runner:
    """Runs one model over batches of decoded images.

    Attributes:
        prepare: images (a list of arrays) -> the network's input batch;
            safe to call from several threads at once.
        infer: an input batch -> a 2-D float32 array, a row per image
            (probabilities, or flattened features).
        layout: the output columns (`TopClasses`, `Findings` or
            `Embedding`).
    """

    def __init__(self, prepare, infer, layout):
        self.prepare = prepare
        self.infer = infer
        self.layout = layout


@dataclasses.dataclass(frozen=True)
class TopClasses:
    """A single-label head: `classes` (list of str) and `probabilities`
    (list of float32), the `top_k` most probable, most probable first."""

    names: list
    top_k: int

    def columns(self, pyarrow, outputs, count):
        k = min(self.top_k, len(self.names))
        names = np.asarray(self.names, dtype=object)
        classes, probabilities = [None] * count, [None] * count
        for row, scores in outputs.items():
            order = most_probable_first(scores, k)
            classes[row] = names[order].tolist()
            probabilities[row] = scores[order]
        return {
            "classes": pyarrow.array(classes, pyarrow.list_(pyarrow.string())),
            "probabilities": pyarrow.array(probabilities, pyarrow.list_(pyarrow.float32())),
        }


@dataclasses.dataclass(frozen=True)
class Findings:
    """A multi-label head: a float32 column per finding, its probability,
    and with the preset's thresholds a bool column `"<finding> positive"`
    (`at_or_above`: probability >= threshold)."""

    names: list
    thresholds: list = None

    def columns(self, pyarrow, outputs, count):
        scores = np.full((count, len(self.names)), np.nan, "float32")
        missing = np.ones(count, bool)
        for row, values in outputs.items():
            scores[row] = values
            missing[row] = False
        columns = {}
        positive = None if self.thresholds is None else at_or_above(scores, self.thresholds)
        for index, name in enumerate(self.names):
            columns[name] = pyarrow.array(scores[:, index], mask=missing)
            if positive is not None:
                columns[name + POSITIVE_SUFFIX] = pyarrow.array(positive[:, index], mask=missing)
        return columns


@dataclasses.dataclass(frozen=True)
class Embedding:
    """Features: `embedding`, a fixed-size list of `size` float32 (a
    feature map flattened in the model's layout, `shape` giving it)."""

    size: int

    def columns(self, pyarrow, outputs, count):
        values = np.zeros((count, self.size), "float32")
        missing = np.ones(count, bool)
        for row, features in outputs.items():
            values[row] = features
            missing[row] = False
        flat = pyarrow.array(values.reshape(-1))
        embedding = pyarrow.FixedSizeListArray.from_arrays(
            flat, self.size, mask=pyarrow.array(missing)
        )
        return {"embedding": embedding}


def _predict_runner(job):
    source = job.source
    if isinstance(source, (str, os.PathLike)):
        found = inspect(source)
        if found.kind == "accelerated":
            _check_fixed(job, found.folder)
        model, labels = load_scoring_model(found, job.image_size, threads=job.threads)
    elif isinstance(source, AcceleratedModel):
        model = source
        labels = _numbered(class_count(model))
    elif isinstance(source, ImageClassifier):
        model = source
        labels = _numbered(model.num_classes)
    else:
        raise TypeError(
            f"batch_predict needs a classifier preset (name, handle or folder), an "
            f"accelerated folder, an ImageClassifier or an AcceleratedModel, got "
            f"{type(source).__name__}."
        )
    if getattr(model, "preprocessor", None) is None:
        raise ValueError(
            f"{model.name!r} has no preprocessor, so it cannot read image files; "
            "give it one (classifier.preprocessor = ...) or pass its preset."
        )
    if isinstance(model, AcceleratedModel):
        fast = model
    else:
        fast = _accelerated(model, job)
    multi_label = labels.multi_label or getattr(model, "multi_label", False)
    layout = (
        Findings(list(labels.names), labels.thresholds)
        if multi_label
        else TopClasses(list(labels.names), job.top_k)
    )
    if fast is not None:
        return Runner(
            fast.network_input, lambda x: to_probabilities(fast, fast.engine.run(x)), layout
        )
    network = keras.Model(model.input, model.output)
    return Runner(
        lambda images: _as_numpy(model.preprocessor(images)),
        lambda x: to_probabilities(model, network.predict_on_batch(x)),
        layout,
    )


def _embed_runner(job):
    source = job.source
    if isinstance(source, (str, os.PathLike)):
        found = inspect(source)
        if found.kind == "accelerated":
            _check_fixed(job, found.folder)
            folder = load_feature_folder(found.folder, threads=job.threads)
            return _accelerated_features(folder, job)
        backbone, converter = load_backbone(found, job.image_size)
    elif isinstance(source, ImageClassifier) and source.preprocessor is not None:
        backbone, converter = source.backbone, source.preprocessor.image_converter
    else:
        raise TypeError(
            f"batch_embed needs a preset (name, handle or folder), an accelerated "
            f"feature folder, or an ImageClassifier with its preprocessor, got "
            f"{type(source).__name__}."
        )
    extractor = feature_model(backbone, job.level, job.pooling)
    fast = _accelerated(extractor, job)
    if fast is not None:
        # The engine is channels-last; the rows keep the Keras model's layout.
        def infer(x):
            features = fast.engine.run(x)
            if fast.channels_first and features.ndim == 4:
                features = np.moveaxis(features, -1, 1)
            return features.reshape(len(features), -1)

        prepare = lambda images: fast.network_input(converter(images))  # noqa: E731
    else:
        prepare = lambda images: _as_numpy(converter(images))  # noqa: E731

        def infer(x):
            features = keras.ops.convert_to_numpy(extractor.predict_on_batch(x))
            return features.reshape(len(features), -1)

    return Runner(prepare, infer, Embedding(_feature_size(prepare, infer, converter)))


def _accelerated_features(model, job):
    if job.level != FINAL_LEVEL:
        raise ValueError(
            f"`level` {job.level!r}: an accelerated folder keeps only the backbone's "
            f"final features ({FINAL_LEVEL!r}); leave `level` out, or embed with the "
            "preset it was made from."
        )
    if job.pooling not in POOLING_CHOICES:
        raise ValueError(
            f"`pooling` must be one of {', '.join(map(repr, POOLING_CHOICES))}, "
            f"got {job.pooling!r}."
        )

    def infer(x):
        maps = model.engine.run(x)
        if job.pooling == "avg":
            maps = maps.mean(axis=(1, 2))
        elif job.pooling == "max":
            maps = maps.max(axis=(1, 2))
        elif model.channels_first:
            maps = np.moveaxis(maps, -1, 1)
        return maps.reshape(len(maps), -1)

    size = _feature_size(model.network_input, infer, model.preprocessor.image_converter)
    return Runner(model.network_input, infer, Embedding(size))


def _feature_size(prepare, infer, converter):
    """The length of one image's flattened features, from one blank image
    (an all-error shard still needs its column's size)."""
    height, width = getattr(converter, "image_size", None) or (32, 32)
    return int(infer(prepare([np.zeros((height, width, 3), "uint8")])).shape[1])


def _check_fixed(job, folder):
    """An accelerated folder fixes its runtime, precision and image size."""
    if job.runtime is not None or job.precision != "float32" or job.image_size is not None:
        raise ValueError(
            f"{folder} holds an accelerated model, whose runtime, precision and image "
            f"size were fixed when it was saved; leave `runtime`, `precision` and "
            f"`image_size` out (got {job.runtime!r}, {job.precision!r}, "
            f"{job.image_size!r})."
        )


def _accelerated(model, job):
    """`model` on `job.runtime`, or `None` to run it in Keras."""
    if job.precision == "int8":
        raise ValueError(
            "precision 'int8' needs a model quantized on your own images: run "
            "`densenet-hub quantize PRESET OUT --calibration DIR` once and pass OUT "
            "as the model."
        )
    if job.runtime is None:
        if job.precision != "float32":
            raise ValueError(
                f"precision {job.precision!r} needs runtime='openvino'; Keras runs the "
                "model in its saved precision."
            )
        return None
    return accelerate(model, runtime=job.runtime, precision=job.precision, threads=job.threads)


def _numbered(num_classes):
    """Class names for a model given without a preset: `class_0`, ... (as
    `densenet_hub.presets.class_labels` names them for a preset without
    names), and no thresholds."""
    return ClassLabels([f"class_{index}" for index in range(num_classes)])


def _as_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float32")


def _decoded(runner, paths, start, stop):
    """Decodes `paths[start:stop]` and prepares the readable ones: `(start,
    stop, batch or None, rows read, {row: why it failed})`."""
    images, rows, errors = [], [], {}
    for row in range(start, stop):
        try:
            images.append(read_image(paths[row]))
        except ValueError as error:
            errors[row] = str(error)
            continue
        rows.append(row)
    return start, stop, (runner.prepare(images) if images else None), rows, errors


def run_shards(runner, paths, shards, batch_size, threads, on_shard, on_batch=None):
    """Runs `runner` over the rows of each shard in `shards` and hands each
    finished shard's table to `on_shard(shard, table)`, in order.

    Args:
        runner: a `Runner`.
        paths: every path of the job (indexed by row).
        shards: `(shard, start, stop)` triples.
        batch_size: images per batch; each shard's batches start at its
            first row, so a shard's rows do not depend on the others.
        threads: decoding threads, working ahead of the network.
        on_shard: called with each shard's number and pyarrow table.
        on_batch: `None`, or called with the number of rows of each batch
            once it is done.
    """
    pyarrow, _ = import_pyarrow()
    batches = [
        (shard, first, min(first + batch_size, stop))
        for shard, start, stop in shards
        for first in range(start, stop, batch_size)
    ]
    bounds = {shard: (start, stop) for shard, start, stop in shards}
    pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="decode")
    try:
        queue = collections.deque()
        upcoming = iter(batches)

        def submit():
            batch = next(upcoming, None)
            if batch is not None:
                queue.append((batch[0], pool.submit(_decoded, runner, paths, *batch[1:])))

        for _ in range(threads * PREFETCH_PER_THREAD):
            submit()
        outputs, errors = {}, {}
        while queue:
            shard, future = queue.popleft()
            start, stop, prepared, rows, failed = future.result()
            submit()
            if prepared is not None:
                outputs.update(zip(rows, runner.infer(prepared)))
            errors.update(failed)
            if on_batch is not None:
                on_batch(stop - start)
            if stop == bounds[shard][1]:
                on_shard(shard, _table(pyarrow, runner, paths, *bounds[shard], outputs, errors))
                outputs, errors = {}, {}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _table(pyarrow, runner, paths, start, stop, outputs, errors):
    count = stop - start
    columns = {PATH_COLUMN: pyarrow.array([str(paths[row]) for row in range(start, stop)])}
    local = {row - start: values for row, values in outputs.items()}
    for name, column in runner.layout.columns(pyarrow, local, count).items():
        if name in (PATH_COLUMN, ERROR_COLUMN):
            raise ValueError(
                f"the model names a class {name!r}, a column the output keeps for "
                "itself; rename the class (class_names.json)."
            )
        columns[name] = column
    columns[ERROR_COLUMN] = pyarrow.array(
        [errors.get(row) for row in range(start, stop)], pyarrow.string()
    )
    return pyarrow.table(columns)
