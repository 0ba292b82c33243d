"""Base class of densenet_hub task models: a backbone plus a head, whose
`fit`, `evaluate` and `predict` run a preprocessor on every batch."""

import inspect
import math
import sys
import types

import keras
import numpy as np

from densenet_hub.presets.mixin import PresetMixin

# Keras' own default when `fit`, `evaluate` or `predict` get no batch size.
DEFAULT_BATCH_SIZE = 32


@keras.saving.register_keras_serializable(package="densenet_hub")
class Task(PresetMixin, keras.Model):
    """Base class for task models: a functional backbone + head, with preprocessing.

    A task is a functional `keras.Model` whose graph contains a `backbone`.
    Calling the model (`task(x)`) runs the graph on already preprocessed
    inputs. `fit`, `evaluate`, `predict` and the `*_on_batch` methods first run
    `preprocessor` on every batch, so they take raw data: numpy arrays, backend
    tensors, a `keras.utils.PyDataset`, a Python generator or a
    `tf.data.Dataset`. Only `tf.data` input needs TensorFlow; the others are
    batched and preprocessed in Python on the active backend. Set
    `task.preprocessor = None` to feed preprocessed data yourself.

    Subclasses build the graph around the backbone, pass it here, and return
    their constructor arguments from `get_config`.

    Args:
        inputs: the graph's input tensor(s), normally `backbone.input`.
        outputs: the graph's output tensor(s).
        backbone: the `keras.Model` inside the graph.
        preprocessor: `None` or a `keras.layers.Layer`. A layer whose `call`
            takes `y` (and `sample_weight`) gets the labels too and returns
            `keras.utils.pack_x_y_sample_weight(x, y, sample_weight)`; any
            other layer is called on the inputs alone.
        **kwargs: `name` and `trainable`, passed to `keras.Model`.

    Example:
    ```python
    import keras
    import numpy as np
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    task = densenet_hub.models.ImageClassifier(
        backbone, num_classes=3, preprocessor=keras.layers.Rescaling(1 / 255)
    )
    images = np.random.randint(0, 256, (4, 32, 32, 3)).astype("uint8")
    scores = task.predict(images, verbose=0)  # rescaled, then classified
    expected = keras.ops.convert_to_numpy(task(images / 255))
    assert np.allclose(scores, expected, atol=1e-5)
    ```
    """

    preset_kind = "task"
    backbone_cls = None
    preprocessor_cls = None

    def __init__(self, inputs, outputs, backbone, preprocessor=None, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._backbone = backbone
        self.preprocessor = preprocessor
        # `compile` wraps the optimizer for loss scaling when this policy is
        # mixed, so the task takes the backbone's policy.
        self.dtype_policy = backbone.dtype_policy

    def __setattr__(self, name, value):
        # With the torch backend, `torch.nn.Module.__setattr__` files a layer
        # value under `_modules` and skips a property's setter; calling the
        # descriptor directly keeps `preprocessor` (and `dtype_policy`) working.
        if isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @property
    def backbone(self):
        """The backbone `keras.Model` inside the task's graph (read-only)."""
        return self._backbone

    @property
    def preprocessor(self):
        """The layer `fit`, `evaluate` and `predict` run on each batch, or `None`."""
        return getattr(self, "_preprocessor", None)

    @preprocessor.setter
    def preprocessor(self, value):
        if value is not None and not isinstance(value, keras.layers.Layer):
            raise TypeError(
                f"{type(self).__name__}: `preprocessor` must be None or a "
                f"keras.layers.Layer, got {type(value).__name__}. Wrap the "
                f"function in a Layer subclass, or preprocess the data "
                f"yourself and pass preprocessor=None."
            )
        self._preprocessor = value

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Preprocesses one batch; returns `x`, `(x, y)` or `(x, y, sample_weight)`."""
        if self.preprocessor is None:
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        if "y" in inspect.signature(self.preprocessor.call).parameters:
            return self.preprocessor(x, y=y, sample_weight=sample_weight)
        return keras.utils.pack_x_y_sample_weight(
            self.preprocessor(x), y, sample_weight
        )

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        sample_weight=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        validation_batch_size=None,
        **kwargs,
    ):
        """`keras.Model.fit` on preprocessed batches.

        `x` (with `y` and `sample_weight`) and `validation_data` may be
        arrays, backend tensors, a list of images, a `keras.utils.PyDataset`,
        a Python generator or a `tf.data.Dataset`; `validation_split` needs
        arrays. Array inputs are shuffled each epoch when `shuffle` is True.
        The other arguments are those of `keras.Model.fit`.
        """
        if self.preprocessor is None:
            return super().fit(
                x,
                y,
                batch_size=batch_size,
                sample_weight=sample_weight,
                validation_split=validation_split,
                validation_data=validation_data,
                shuffle=shuffle,
                validation_batch_size=validation_batch_size,
                **kwargs,
            )
        if validation_split:
            if validation_data is not None:
                raise ValueError(
                    f"{type(self).__name__}.fit: pass either `validation_split` "
                    f"or `validation_data`, not both (got validation_split="
                    f"{validation_split!r})."
                )
            (x, y, sample_weight), validation_data = _split_arrays(
                x, y, sample_weight, validation_split, f"{type(self).__name__}.fit"
            )
        data = self._preprocessed(x, y, sample_weight, batch_size, shuffle, "fit")
        if validation_data is not None:
            validation_data = self._preprocessed(
                *_unpack_validation_data(validation_data),
                validation_batch_size or batch_size,
                False,
                "fit",
            )
        return super().fit(
            data, validation_data=validation_data, shuffle=shuffle, **kwargs
        )

    def evaluate(self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs):
        """`keras.Model.evaluate` on preprocessed batches; inputs as for `fit`."""
        if self.preprocessor is None:
            return super().evaluate(
                x, y, batch_size=batch_size, sample_weight=sample_weight, **kwargs
            )
        data = self._preprocessed(x, y, sample_weight, batch_size, False, "evaluate")
        return super().evaluate(data, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict` on preprocessed batches, in input order."""
        if self.preprocessor is None:
            return super().predict(x, batch_size=batch_size, **kwargs)
        data = self._preprocessed(x, None, None, batch_size, False, "predict")
        return super().predict(data, **kwargs)

    def train_on_batch(self, x, y=None, sample_weight=None, **kwargs):
        """`keras.Model.train_on_batch` on the preprocessed batch."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
            self.preprocess_samples(x, y, sample_weight)
        )
        return super().train_on_batch(x, y, sample_weight=sample_weight, **kwargs)

    def test_on_batch(self, x, y=None, sample_weight=None, **kwargs):
        """`keras.Model.test_on_batch` on the preprocessed batch."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
            self.preprocess_samples(x, y, sample_weight)
        )
        return super().test_on_batch(x, y, sample_weight=sample_weight, **kwargs)

    def predict_on_batch(self, x):
        """`keras.Model.predict_on_batch` on the preprocessed batch."""
        x, _, _ = keras.utils.unpack_x_y_sample_weight(self.preprocess_samples(x))
        return super().predict_on_batch(x)

    def compile_from_config(self, config):
        # `keras.Model` skips this for models that override `compile`, which
        # would drop the saved optimizer, loss and metrics on `load_model`.
        self.compile(**keras.saving.deserialize_keras_object(config))
        # The saved optimizer state loads only into a built optimizer.
        self.optimizer.build(self.trainable_variables)

    def _preprocessed(self, x, y, sample_weight, batch_size, shuffle, method):
        """Wraps `x` (and `y`, `sample_weight`) so each batch is preprocessed."""
        owner = f"{type(self).__name__}.{method}"
        if _is_tf_dataset(x) or isinstance(
            x, (keras.utils.PyDataset, types.GeneratorType)
        ):
            _check_no_separate_labels(owner, x, y, sample_weight)
        if _is_tf_dataset(x):
            tf = sys.modules["tensorflow"]
            return x.map(
                self.preprocess_samples, num_parallel_calls=tf.data.AUTOTUNE
            ).prefetch(tf.data.AUTOTUNE)
        if isinstance(x, keras.utils.PyDataset):
            return _PreprocessedPyDataset(x, self.preprocess_samples)
        if isinstance(x, types.GeneratorType):
            return _preprocessed_generator(x, self.preprocess_samples)
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
            self.preprocess_samples,
            owner,
        )

    def get_config(self):
        # Not chained to `keras.Model.get_config`: a functional model's config
        # describes its graph, while a task is rebuilt from its arguments.
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "preprocessor": keras.layers.serialize(self.preprocessor),
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "preprocessor"):
            if isinstance(config.get(key), dict):
                config[key] = keras.layers.deserialize(config[key])
        return cls(**config)


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
    return sizes[0]


def _split_arrays(x, y, sample_weight, validation_split, owner):
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


def _unpack_validation_data(validation_data):
    if isinstance(validation_data, (tuple, list)):
        return keras.utils.unpack_x_y_sample_weight(validation_data)
    return validation_data, None, None
