"""Base class of densenet_hub backbones: a functional `keras.Model` with a config."""

import keras

from densenet_hub.models.property_setters import PropertySetters
from densenet_hub.presets.mixin import PresetMixin


@keras.saving.register_keras_serializable(package="densenet_hub")
class Backbone(PropertySetters, PresetMixin, keras.Model):
    """Base class for backbones: feature extractors without a task head.

    A backbone is a functional model built from stock Keras layers. Subclasses
    build their graph in `__init__` and return their constructor arguments
    from `get_config`, so `cls.from_config(model.get_config())` rebuilds the
    same architecture.

    Args:
        dtype: a dtype or `keras.DTypePolicy` applied to every layer, e.g.
            `"bfloat16"` or `"mixed_bfloat16"`. Defaults to Keras' global policy.
        **kwargs: `name` and `trainable`, passed to `keras.Model`.

    KerasHub's `Backbone` API is here too: `token_embedding` is `None` (an
    image backbone embeds no tokens), and the LoRA methods and
    `export_to_transformers` raise `NotImplementedError` saying why.

    Example:
    ```python
    import pytest
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    assert backbone.token_embedding is None
    with pytest.raises(NotImplementedError, match="enable_lora"):
        backbone.enable_lora(rank=4)
    ```
    """

    preset_kind = "backbone"

    def __init__(self, *args, dtype=None, **kwargs):
        super().__init__(*args, **kwargs)
        # `Functional.__init__` silently drops `dtype`: without this the model
        # reports (and saves) a float32 policy while its layers run bfloat16.
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

    @property
    def token_embedding(self):
        """The layer that embeds token ids, as on KerasHub's `Backbone`.

        Image backbones have none, so this is `None` unless a subclass or a
        caller sets it.
        """
        return getattr(self, "_token_embedding", None)

    @token_embedding.setter
    def token_embedding(self, value):
        self._token_embedding = value

    def default_lora_layer_names(self):
        """Not available: see `enable_lora`."""
        raise _no_lora("default_lora_layer_names")

    def enable_lora(self, rank, target_layer_names=None):
        """Not available: KerasHub's LoRA targets the query and value
        projections of attention layers, and an image backbone here has none.
        Raises `NotImplementedError`; fine-tune the whole backbone, or freeze
        it with `backbone.trainable = False` and train the head."""
        raise _no_lora("enable_lora")

    def save_lora_weights(self, filepath):
        """Not available: see `enable_lora`."""
        raise _no_lora("save_lora_weights")

    def load_lora_weights(self, filepath):
        """Not available: see `enable_lora`."""
        raise _no_lora("load_lora_weights")

    def export_to_transformers(self, path):
        """Not available: Hugging Face Transformers has no class for these
        backbones. Raises `NotImplementedError`; `save_to_preset` writes
        KerasHub's format and `densenet_hub.export.export_model` the others."""
        raise NotImplementedError(
            f"{type(self).__name__}.export_to_transformers is not available: "
            f"Hugging Face Transformers has no model class for this "
            f"architecture (KerasHub exports only its transformer models). "
            f"Save with save_to_preset(), or use "
            f"densenet_hub.export.export_model for ONNX and other formats."
        )

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


def _no_lora(method):
    return NotImplementedError(
        f"Backbone.{method} is not available: KerasHub's LoRA adapts the "
        f"query and value projections of attention layers, and this "
        f"convolutional backbone has none. Fine-tune the whole backbone, or "
        f"set `backbone.trainable = False` and train only the task's head."
    )
