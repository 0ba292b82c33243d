"""Preprocessing for image classifiers: images through an image converter,
labels and sample weights passed through."""

import keras

from densenet_hub.base import file_names as names
from densenet_hub.preprocessing.image_converter import ImageConverter
from densenet_hub.presets import registry
from densenet_hub.presets import schema
from densenet_hub.presets.registry import preset_class
from densenet_hub.presets.mixin import PresetMixin
from densenet_hub.base.validation import reject_unknown_kwargs
from densenet_hub.base.validation import LAYER_KWARGS


def _check_config_file(file, where, value):
    if value != names.PREPROCESSOR_FILE:
        raise schema.error(file, where, repr(names.PREPROCESSOR_FILE), value)
    return value


PRESET_VALIDATORS = {
    **schema.LAYER_VALIDATORS,
    "image_converter": schema.nested("image_converter", optional=True),
    "config_file": _check_config_file,
}


@keras.saving.register_keras_serializable(package="densenet_hub")
@preset_class(
    kind="preprocessor",
    keras_hub_module="keras_hub.src.models.image_classifier_preprocessor",
    validators=PRESET_VALIDATORS,
)
class ImageClassifierPreprocessor(PresetMixin, keras.layers.Layer):
    """Prepares `(x, y, sample_weight)` for an image classifier, as KerasHub's.

    `x` goes through `image_converter` (unchanged when it is `None`); `y` and
    `sample_weight` pass through untouched. The result is `x`, `(x, y)` or
    `(x, y, sample_weight)`, as `keras.utils.pack_x_y_sample_weight` packs
    them. `x` may be one image, a batch, or a Python list of images of any
    sizes (the converter resizes each, then stacks them). The layer works
    eagerly on NumPy data with any backend and inside `tf.data`
    (`ds.map(preprocessor)`).

    Args:
        image_converter: an `ImageConverter`, or `None`.
        config_file: the preset file this preprocessor's config is saved to;
            kept for KerasHub compatibility.
        **kwargs: `name`, `trainable` and `dtype`, passed to `keras.Layer`.

    Example:
    ```python
    import numpy as np
    import densenet_hub

    preprocessor = densenet_hub.models.ImageClassifierPreprocessor(
        densenet_hub.layers.ImageConverter(image_size=(32, 32), scale=1 / 255)
    )
    images = [
        np.random.randint(0, 256, size=(40, 50, 3), dtype="uint8"),
        np.random.randint(0, 256, size=(64, 64, 3), dtype="uint8"),
    ]
    x, y = preprocessor(images, np.array([3, 7]))
    assert tuple(x.shape) == (2, 32, 32, 3) and list(y) == [3, 7]
    ```
    """

    preset_kind = "preprocessor"
    backbone_cls = None
    image_converter_cls = None

    def __init__(
        self,
        image_converter=None,
        config_file=names.PREPROCESSOR_FILE,
        **kwargs,
    ):
        owner = type(self).__name__
        reject_unknown_kwargs(self, kwargs, LAYER_KWARGS)
        super().__init__(**kwargs)
        if image_converter is not None and not isinstance(
            image_converter, ImageConverter
        ):
            raise ValueError(
                f"{owner}: `image_converter` must be an ImageConverter or None, "
                f"got {type(image_converter).__name__}. Pass e.g. "
                "densenet_hub.layers.ImageConverter(image_size=(224, 224))."
            )
        self.image_converter = image_converter
        self.config_file = config_file
        # Labels may be Python ints and, inside tf.data, tensors of another
        # framework than the backend's: pass them through as they are.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @property
    def image_size(self):
        """The converter's `(height, width)`; settable."""
        if self.image_converter is None:
            return None
        return self.image_converter.image_size

    @image_size.setter
    def image_size(self, value):
        if self.image_converter is None:
            raise ValueError(
                f"{type(self).__name__}: cannot set `image_size`={value!r} "
                "without an image converter. Construct the preprocessor with "
                "an `image_converter`."
            )
        self.image_converter.image_size = value

    def call(self, x, y=None, sample_weight=None):
        if self.image_converter is not None:
            x = self.image_converter(x)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config["config_file"] = self.config_file
        if self.image_converter is not None:
            config["image_converter"] = keras.layers.serialize(
                self.image_converter
            )
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuilds the preprocessor, with its nested converter config.

        The nested converter is resolved by class name among the
        `ImageConverter` classes of this package only, whether the config
        was written by densenet_hub or by KerasHub (`"keras_hub>..."`).
        """
        config = dict(config)
        converter = config.get("image_converter")
        if isinstance(converter, dict):
            config["image_converter"] = _converter_from_config(
                cls.__name__, converter
            )
        return cls(**config)


def _converter_from_config(owner, serialized):
    entry = registry.find(serialized.get("class_name"))
    if (
        entry is None
        or entry.kind != "image_converter"
        or not isinstance(serialized.get("config"), dict)
    ):
        raise ValueError(
            f"{owner}: `image_converter` config names class "
            f"{serialized.get('class_name')!r}; expected one of "
            f"{registry.names_of_kinds(('image_converter',))} with a `config` "
            "dict. Save the preprocessor with one of these converters."
        )
    return entry.cls.from_config(serialized["config"])
