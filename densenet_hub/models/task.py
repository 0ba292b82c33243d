"""Base class of densenet_hub task models: a backbone plus a head, whose
`fit`, `evaluate` and `predict` run a preprocessor on every batch."""

import inspect
import pathlib

import keras

from densenet_hub.base import file_names as names
from densenet_hub.models import task_data
from densenet_hub.models.failed_calls import keeps_values_on_error
from densenet_hub.models.property_setters import PropertySetters
from densenet_hub.presets import weights
from densenet_hub.presets.mixin import PresetMixin
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file


@keras.saving.register_keras_serializable(package="densenet_hub")
class Task(PropertySetters, PresetMixin, keras.Model):
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
            samples = self.preprocessor(x, y=y, sample_weight=sample_weight)
        else:
            samples = keras.utils.pack_x_y_sample_weight(self.preprocessor(x), y, sample_weight)
        self._check_channels(keras.utils.unpack_x_y_sample_weight(samples)[0])
        return samples

    def _check_channels(self, images):
        """Refuses a batch whose channel count the network cannot take, here
        rather than deep in a convolution, where each backend words it its
        own way (TensorFlow not even as a `ValueError`)."""
        shape = getattr(images, "shape", None)
        if shape is None or len(shape) != 4:
            return
        axis = 1 if getattr(self.backbone, "data_format", None) == "channels_first" else -1
        expected, actual = self.inputs[0].shape[axis], shape[axis]
        if expected is not None and actual is not None and expected != actual:
            raise ValueError(
                f"{type(self).__name__}: the model takes images with {expected} "
                f"channels, got a batch with {actual} (shape {tuple(shape)}). Fix: "
                "give RGB images: repeat a greyscale channel "
                "(`np.repeat(images, 3, axis=-1)`) or drop an alpha channel "
                "(`images[..., :3]`); image files are read as RGB already."
            )

    @keeps_values_on_error
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
            y, sample_weight = task_data.lists_as_arrays(y, sample_weight)
            if isinstance(validation_data, (tuple, list)):
                # Only the labels and weights: `x` stays as given.
                validation_data = (
                    validation_data[0],
                    *task_data.lists_as_arrays(*validation_data[1:]),
                )
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
            (x, y, sample_weight), validation_data = task_data.split_arrays(
                x, y, sample_weight, validation_split, f"{type(self).__name__}.fit"
            )
        data = self._batches(x, y, sample_weight, batch_size, shuffle, "fit")
        if validation_data is not None:
            validation_data = self._batches(
                *task_data.unpack_validation_data(validation_data),
                validation_batch_size or batch_size,
                False,
                "fit",
            )
        return super().fit(
            data, validation_data=validation_data, shuffle=shuffle, **kwargs
        )

    @keeps_values_on_error
    def evaluate(self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs):
        """`keras.Model.evaluate` on preprocessed batches; inputs as for `fit`."""
        if self.preprocessor is None:
            y, sample_weight = task_data.lists_as_arrays(y, sample_weight)
            return super().evaluate(
                x, y, batch_size=batch_size, sample_weight=sample_weight, **kwargs
            )
        data = self._batches(x, y, sample_weight, batch_size, False, "evaluate")
        return super().evaluate(data, **kwargs)

    @keeps_values_on_error
    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict` on preprocessed batches, in input order.

        With a preprocessor, 0 images (an empty array or list) raise a
        `ValueError` rather than return an empty result: skip the call when
        there is nothing to predict.
        """
        if self.preprocessor is None:
            return super().predict(x, batch_size=batch_size, **kwargs)
        data = self._batches(x, None, None, batch_size, False, "predict")
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

    def has_task_weights(self):
        """Whether the task has variables outside its backbone (a head)."""
        backbone_ids = {id(variable) for variable in self.backbone.weights}
        return any(id(variable) not in backbone_ids for variable in self.weights)

    def save_task_weights(self, filepath):
        """Saves the head's weights, without the backbone's, as KerasHub does.

        The file is a Keras `.weights.h5` file (`task.weights.h5` in a preset)
        that KerasHub's `load_task_weights` reads. An existing file is
        replaced; the new one is written beside it and renamed into place.

        Args:
            filepath: the file to write; its name must end in `.weights.h5`.

        Raises:
            ValueError: the name does not end in `.weights.h5`, or the task
                has no variables outside its backbone.

        Example:
        ```python
        import tempfile
        import densenet_hub

        backbone = densenet_hub.models.DenseNetBackbone(
            stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
        )
        task = densenet_hub.models.ImageClassifier(backbone, num_classes=3)
        path = tempfile.mkdtemp() + "/head.weights.h5"
        task.save_task_weights(path)
        other = densenet_hub.models.ImageClassifier(backbone, num_classes=3)
        other.load_task_weights(path)
        ```
        """
        self._check_task_weights_name("save_task_weights", filepath)
        if not self.has_task_weights():
            raise ValueError(
                f"{type(self).__name__}.save_task_weights: the task has no "
                f"variables outside its backbone, so there is nothing to save. "
                f"Save the backbone with backbone.save_weights() instead."
            )
        data = weights.weights_file_bytes(weights.task_weight_layout(self))
        with published(filepath, overwrite=True) as staging:
            write_file(staging, data)

    def load_task_weights(self, filepath):
        """Loads the head's weights from a `save_task_weights` file.

        Reads KerasHub's task weight files too, including the published ones
        that also hold the backbone and the optimizer (extra variables in
        this file are ignored). Every head variable must be present with its
        shape and finite values; nothing is assigned unless all are.

        Args:
            filepath: a `.weights.h5` file, e.g. a preset's `task.weights.h5`.

        Raises:
            ValueError: the name does not end in `.weights.h5`, or the file
                does not hold this head's variables.
        """
        self._check_task_weights_name("load_task_weights", filepath)
        # KerasHub's published task files also hold the whole model.
        weights.load_weights(
            [filepath], weights.task_weight_layout(self), allow_extra=True
        )

    def _check_task_weights_name(self, method, filepath):
        if not str(filepath).endswith(".weights.h5"):
            raise ValueError(
                f"{type(self).__name__}.{method}: the file name must end in "
                f"`.weights.h5`, got {pathlib.Path(filepath).name!r}. Use e.g. "
                f"{names.TASK_WEIGHTS_FILE!r}."
            )

    def compile_from_config(self, config):
        # `keras.Model` skips this for models that override `compile`, which
        # would drop the saved optimizer, loss and metrics on `load_model`.
        self.compile(**keras.saving.deserialize_keras_object(config))
        # The saved optimizer state loads only into a built optimizer.
        self.optimizer.build(self.trainable_variables)

    def _batches(self, x, y, sample_weight, batch_size, shuffle, method):
        return task_data.preprocessed_batches(
            x,
            y,
            sample_weight,
            batch_size,
            shuffle,
            self.preprocess_samples,
            f"{type(self).__name__}.{method}",
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
