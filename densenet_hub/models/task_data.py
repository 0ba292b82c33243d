"""What `Task.fit`, `evaluate` and `predict` accept, turned into batches that
run the task's preprocessor: arrays and lists (batched, optionally shuffled),
`keras.utils.PyDataset`s, Python generators and `tf.data.Dataset`s."""

import math
import sys
import types

import keras
import numpy as np

# Keras' own default when `fit`, `evaluate` or `predict` get no batch size.
DEFAULT_BATCH_SIZE = 32


def preprocessed_batches(x, y, sample_weight, batch_size, shuffle, preprocess, owner):
    """Wraps `x` (and `y`, `sample_weight`) so each batch goes through
    `preprocess`; `owner` names the caller in messages."""
    if _is_tf_dataset(x) or isinstance(
        x, (keras.utils.PyDataset, types.GeneratorType)
    ):
        _check_no_separate_labels(owner, x, y, sample_weight)
    if _is_tf_dataset(x):
        tf = sys.modules["tensorflow"]
        return x.map(
            preprocess, num_parallel_calls=tf.data.AUTOTUNE
        ).prefetch(tf.data.AUTOTUNE)
    if isinstance(x, keras.utils.PyDataset):
        return _PreprocessedPyDataset(x, preprocess)
    if isinstance(x, types.GeneratorType):
        return _preprocessed_generator(x, preprocess)
    if _is_data_loader(x):
        raise TypeError(
            f"{owner}: cannot preprocess a {type(x).__module__}."
            f"{type(x).__name__}. Pass numpy arrays, a "
            f"keras.utils.PyDataset, a Python generator or a "
            f"tf.data.Dataset, or preprocess inside the loader and set "
            f"`preprocessor = None`."
        )
    return _PreprocessedArrays(
        _samples(x, y, sample_weight),
        _check_batch_size(owner, batch_size),
        shuffle,
        preprocess,
        owner,
    )


class _PreprocessedArrays(keras.utils.PyDataset):
    """Batches in-memory samples and preprocesses each batch as it is read.

    `samples` is `(x, y, sample_weight)` as `_samples` returns it.
    """

    def __init__(self, samples, batch_size, shuffle, preprocess, owner):
        super().__init__()
        self._samples = samples
        self._num_samples = _num_samples(samples, owner)
        self._batch_size = batch_size
        self._shuffle = shuffle
        self._preprocess = preprocess
        self._order = np.arange(self._num_samples)

    def __len__(self):
        return math.ceil(self._num_samples / self._batch_size)

    def __getitem__(self, index):
        start = index * self._batch_size
        rows = self._order[start : start + self._batch_size]
        batch = (_take(part, rows) for part in self._samples)
        return _as_batch(self._preprocess(*batch))

    def on_epoch_begin(self):
        if self._shuffle:
            self._order = np.random.permutation(self._num_samples)


class _PreprocessedPyDataset(keras.utils.PyDataset):
    """A view of a `PyDataset` whose batches are preprocessed as they are read."""

    def __init__(self, dataset, preprocess):
        super().__init__(
            workers=dataset.workers,
            use_multiprocessing=dataset.use_multiprocessing,
            max_queue_size=dataset.max_queue_size,
        )
        self._dataset = dataset
        self._preprocess = preprocess

    @property
    def num_batches(self):
        return self._dataset.num_batches

    def __getitem__(self, index):
        batch = keras.utils.unpack_x_y_sample_weight(self._dataset[index])
        return _as_batch(self._preprocess(*batch))

    def on_epoch_begin(self):
        self._dataset.on_epoch_begin()

    def on_epoch_end(self):
        self._dataset.on_epoch_end()


def _preprocessed_generator(generator, preprocess):
    for batch in generator:
        yield _as_batch(preprocess(*keras.utils.unpack_x_y_sample_weight(batch)))


def _as_batch(data):
    # A PyDataset must return a tuple (or dict); a bare tensor is only
    # accepted when it is a numpy array.
    return data if isinstance(data, (tuple, dict)) else (data,)


def _is_tf_dataset(x):
    # Only consulted when TensorFlow is already imported: data of any other
    # kind never needs it.
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, tf.data.Dataset)


def _is_data_loader(x):
    """torch DataLoaders and grain datasets, which cannot be mapped over."""
    root = type(x).__module__.split(".")[0]
    return root in ("torch", "grain") and not hasattr(x, "shape")


def _check_no_separate_labels(owner, x, y, sample_weight):
    for name, value in (("y", y), ("sample_weight", sample_weight)):
        if value is not None:
            raise ValueError(
                f"{owner}: `{name}` must be None when `x` is a "
                f"{type(x).__name__}, got a {type(value).__name__}. Yield "
                f"`(x, y)` or `(x, y, sample_weight)` batches from the "
                f"dataset instead."
            )


def _check_batch_size(owner, batch_size):
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ValueError(
            f"{owner}: `batch_size` must be a positive integer or None "
            f"(for {DEFAULT_BATCH_SIZE}), got {batch_size!r}."
        )
    return batch_size


def _samples(x, y, sample_weight):
    """`(x, y, sample_weight)` as numpy data that batches can be taken from.

    The task has one input, so a list `x` can only be a list of images; it
    stays a list because its images may differ in size (the preprocessor
    resizes them). Lists of labels or weights become arrays.
    """
    if isinstance(x, list):
        x = [_to_numpy(image) for image in x]
    else:
        x = _numpy_structure(x)
    return x, _numpy_structure(y), _numpy_structure(sample_weight)


def lists_as_arrays(*parts):
    """`parts` with each Python list turned into a numpy array.

    Keras' own `fit` and `evaluate` refuse a list of labels or weights
    ("Unrecognized data type"); KerasHub accepts one, so a task without a
    preprocessor converts them first. Anything else is passed through.
    """
    return tuple(np.asarray(part) if isinstance(part, list) else part for part in parts)


def _numpy_structure(data):
    if data is None:
        return None
    if isinstance(data, list):
        return np.asarray(data)
    return keras.tree.map_structure(_to_numpy, data)


def _to_numpy(array):
    return array if isinstance(array, np.ndarray) else keras.ops.convert_to_numpy(array)


def _take(data, rows):
    """The samples `rows` (an index array) of one part of `_samples`."""
    if data is None:
        return None
    if isinstance(data, list):
        return [data[row] for row in rows]
    return keras.tree.map_structure(lambda array: array[rows], data)


def _num_samples(samples, owner):
    shapes = []
    for part in samples:
        if isinstance(part, list):
            shapes.append((len(part),))
        elif part is not None:
            shapes.extend(np.shape(leaf) for leaf in keras.tree.flatten(part))
    if not shapes or any(len(shape) == 0 for shape in shapes):
        raise ValueError(
            f"{owner}: `x`, `y` and `sample_weight` must be arrays with a "
            f"batch axis, got shapes {shapes}. Add a leading batch axis, e.g. "
            f"`images[None]` for one image."
        )
    sizes = sorted({shape[0] for shape in shapes})
    if len(sizes) > 1:
        raise ValueError(
            f"{owner}: `x`, `y` and `sample_weight` must have the same "
            f"number of samples, got batch sizes {sizes}. Pass one label "
            f"(and weight) per image."
        )
    if sizes[0] == 0:
        raise ValueError(
            f"{owner}: got 0 samples (shapes {shapes}), so there is nothing "
            "to run. Pass at least one image; skip the call when a batch is "
            "empty."
        )
    return sizes[0]


def split_arrays(x, y, sample_weight, validation_split, owner):
    """Splits off the last `validation_split` of the samples, as Keras does.

    Returns the training and the validation `(x, y, sample_weight)`.
    """
    if not 0 < validation_split < 1:
        raise ValueError(
            f"{owner}: `validation_split` must be in (0, 1), got "
            f"{validation_split!r}."
        )
    if _is_tf_dataset(x) or isinstance(
        x, (keras.utils.PyDataset, types.GeneratorType)
    ):
        raise ValueError(
            f"{owner}: `validation_split` only works with array inputs, got "
            f"x of type {type(x).__name__}. Pass `validation_data` instead."
        )
    samples = _samples(x, y, sample_weight)
    num_samples = _num_samples(samples, owner)
    split_at = math.floor(num_samples * (1.0 - validation_split))
    if split_at in (0, num_samples):
        raise ValueError(
            f"{owner}: `validation_split={validation_split}` of "
            f"{num_samples} samples leaves an empty training or validation "
            f"set. Use more samples or a different split."
        )
    rows = np.arange(num_samples)
    return (
        tuple(_take(part, rows[:split_at]) for part in samples),
        tuple(_take(part, rows[split_at:]) for part in samples),
    )


def unpack_validation_data(validation_data):
    if isinstance(validation_data, (tuple, list)):
        return keras.utils.unpack_x_y_sample_weight(validation_data)
    return validation_data, None, None
