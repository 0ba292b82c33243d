"""Base class of densenet_hub backbones: a functional `keras.Model` with a config."""

import keras

from densenet_hub.presets.mixin import PresetMixin


@keras.saving.register_keras_serializable(package="densenet_hub")
class Backbone(PresetMixin, keras.Model):
    """Base class for backbones: feature extractors without a task head.

    A backbone is a functional model built from stock Keras layers. Subclasses
    build their graph in `__init__` and return their constructor arguments
    from `get_config`, so `cls.from_config(model.get_config())` rebuilds the
    same architecture.

    Args:
        dtype: a dtype or `keras.DTypePolicy` applied to every layer, e.g.
            `"bfloat16"` or `"mixed_bfloat16"`. Defaults to Keras' global policy.
        **kwargs: `name` and `trainable`, passed to `keras.Model`.
    """

    preset_kind = "backbone"

    def __init__(self, *args, dtype=None, **kwargs):
        super().__init__(*args, **kwargs)
        # `Functional.__init__` silently drops `dtype`: without this the model
        # reports (and saves) a float32 policy while its layers run bfloat16.
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        # `keras.Model.from_config` would rebuild a plain functional model;
        # backbones rebuild themselves from their constructor arguments.
        return cls(**config)
