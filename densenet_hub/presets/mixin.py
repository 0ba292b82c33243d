"""`from_preset`, `save_to_preset` and `presets` for the model and
preprocessing classes."""

from densenet_hub.presets import builtin
from densenet_hub.presets import registry
from densenet_hub.presets import loader
from densenet_hub.presets import saver


class _ClassProperty:
    """A read-only property evaluated on the class (`Cls.presets`)."""

    def __init__(self, getter):
        self.getter = getter
        self.__doc__ = getter.__doc__

    def __get__(self, instance, owner):
        return self.getter(owner)


def _without_weights(load):
    def load_ignoring_weights(cls, preset, load_weights=True, **kwargs):
        return load(cls, preset, **kwargs)

    return load_ignoring_weights


_LOADERS = {
    "backbone": loader.load_backbone,
    "task": loader.load_task,
    "preprocessor": _without_weights(loader.load_preprocessor),
    "image_converter": _without_weights(loader.load_image_converter),
}


class PresetMixin:
    """Gives a class KerasHub's preset API.

    Mixed into `Backbone`, `Task`, `ImageClassifierPreprocessor` and
    `ImageConverter` (before the Keras base class), so every model and
    preprocessing class of densenet_hub has `from_preset`, `save_to_preset`
    and `presets`.

    Example:
    ```python
    import tempfile
    import numpy as np
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    folder = tempfile.mkdtemp() + "/tiny_densenet"
    backbone.save_to_preset(folder)
    restored = densenet_hub.models.Backbone.from_preset(folder)
    images = np.random.uniform(size=(1, 32, 32, 3))
    assert np.array_equal(backbone.predict(images, verbose=0),
                          restored.predict(images, verbose=0))
    assert "densenet_121_imagenet" in densenet_hub.models.Backbone.presets
    ```
    """

    @_ClassProperty
    def presets(cls):
        """The built-in presets: `{name: {"metadata": {...}, "kaggle_handle":
        ..., "hf_handle": ...}}` with description, parameter count, aliases,
        weights origin, architecture and config overrides."""
        return builtin.listings()

    @classmethod
    def from_preset(cls, preset, load_weights=True, *, verify=False, **kwargs):
        """Builds an instance from a preset, checking every file first.

        Args:
            preset: a built-in name such as `"densenet_121_imagenet"` (or
                its alias `"densenet121_imagenet"`), a
                `"kaggle://owner/model/framework/variation/version"` or
                `"hf://owner/repo"` handle, or a local preset folder (`str`
                or `pathlib.Path`). A built-in name wins over a folder of the
                same name.
            load_weights: load the saved weights (models only); `False` gives
                the architecture with fresh weights.
            verify: first check every file of a downloaded preset (built-in
                name or handle) against the sha256 recorded when it was
                downloaded, itself checked then against the digest the hub
                stated; a mismatch raises `HubIntegrityError` naming the file
                and both digests, and deletes nothing. A local folder has no
                digests: `verify=True` on one raises `ValueError`.
            **kwargs: override the saved config, e.g. `image_shape`, `dtype`
                or `stem_padding`; on a task, `num_classes=` gives a new head
                on the pretrained backbone.

        On a base class (`Backbone`, `ImageClassifier`, ...) the class is
        taken from the preset; on a specific class the preset must describe
        that class or a subclass of it.

        Built-in presets load with `stem_padding="symmetric"`, reproducing the
        torchvision model their weights come from; KerasHub's own files mean
        `"same"`. Pass `stem_padding="same"` for KerasHub's outputs.
        """
        load = _LOADERS[registry.preset_kind(cls)]
        return load(cls, preset, load_weights=load_weights, verify=verify, **kwargs)

    def save_to_preset(self, preset_dir, max_shard_size=10, *, overwrite=False, metadata=None):
        """Saves this object as a preset folder in KerasHub's layout.

        The folder is written beside the target and renamed into place, so
        it is either complete or absent.

        Args:
            preset_dir: the folder to write (`str` or `os.PathLike`).
            max_shard_size: as in KerasHub, the most GB of backbone weights
                in one file: a larger backbone is written as
                `model_00000.weights.h5`, ... listed in `model.weights.json`
                (KerasHub reads both layouts). `None` always writes one
                `model.weights.h5`. No effect on preprocessors and image
                converters, which have no weights.
            overwrite: replace an existing non-empty folder.
            metadata: extra JSON keys for `metadata.json`, e.g. where the
                weights come from (backbones and tasks only).
        """
        saver.save_preset(
            self,
            preset_dir,
            overwrite=overwrite,
            metadata=metadata,
            max_shard_size=max_shard_size,
        )
