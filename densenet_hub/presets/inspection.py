"""What a preset is, found once before anything is built: a classifier, a
backbone, a checkpoint folder converted on load, or the folder of an
accelerated (e.g. int8) model; where its files are; its class labels.

Commands and loaders ask `inspect(preset)` instead of each looking up the
folder and its files again; `PresetInfo.to_load` goes to `from_preset`,
which then does not resolve the preset a second time.
"""

import dataclasses
import functools
import os
import pathlib

from densenet_hub.base import file_names as names
from densenet_hub.base.json_files import read_json
from densenet_hub.presets import registry
from densenet_hub.presets import resolver
from densenet_hub.presets import sources
from densenet_hub.presets.builtin import find_builtin
from densenet_hub.presets.class_labels import read_class_labels

KINDS = ("classifier", "backbone", "checkpoint", "accelerated")


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """A preset as `inspect` found it.

    Attributes:
        preset: the preset as given (a built-in name, a handle, a folder).
        kind: `"classifier"` (its folder holds `task.json`), `"backbone"`
            (no `task.json`), `"checkpoint"` (a folder in a format a
            converter registered, such as a timm repository, converted on
            load into either), `"accelerated"` (a folder
            `densenet_hub.runtime.AcceleratedModel.save` or `densenet-hub
            quantize` wrote, which `from_preset` cannot read), or `None`
            when the preset is not on this machine and was not downloaded
            (`inspect(..., download=False)`).
        folder: the local folder, or `None` when `kind` is `None`.
        resolved: the `ResolvedPreset`, `None` for an accelerated folder
            and when inspected with `download=False`.
        builtin: the `BuiltinPreset` when `preset` names one, else `None`.
        num_classes: a classifier's class count as `task.json` states it,
            else `None`.
        activation: the head's activation as `task.json` names it (`None`:
            logits), else `None`.
    """

    preset: object
    kind: str
    folder: pathlib.Path
    resolved: resolver.ResolvedPreset
    builtin: object
    num_classes: int = None
    activation: str = None

    @property
    def to_load(self):
        """What to pass to `from_preset`: the resolved preset, which is not
        looked up again, else the preset as given."""
        return self.preset if self.resolved is None else self.resolved

    @property
    def multi_label(self):
        """Whether the saved head is a sigmoid, one probability per class
        (a preset names its activation from a closed list, in which only
        `"sigmoid"` is multi-label)."""
        return self.activation == "sigmoid"

    @functools.cached_property
    def labels(self):
        """A classifier's `ClassLabels` (class names; for a sigmoid head the
        decision thresholds, their rule and the label policies of
        `multi_label.json`), read once; `None` for other kinds."""
        if self.kind != "classifier" or self.num_classes is None:
            return None
        return self.class_labels(self.num_classes, self.multi_label)

    def class_labels(self, num_classes, multi_label=False):
        """The `ClassLabels` saved in the folder for a head of `num_classes`
        classes (with thresholds when `multi_label`), e.g. for an
        accelerated folder, whose class count its outputs give; see
        `densenet_hub.presets.class_labels.read_class_labels`."""
        return read_class_labels(self.folder, num_classes, multi_label)


def inspect(preset, download=True):
    """Finds what `preset` is and where its files are, once.

    Args:
        preset: a built-in name or alias, a `kaggle://` or `hf://` handle,
            or a local folder (`str` or `pathlib.Path`): a preset folder or
            one an accelerated model was saved to.
        download: fetch a built-in name or handle that is not on this
            machine yet; with `False`, nothing touches the network and such
            a preset gets `kind=None`.

    Returns:
        A `PresetInfo`.

    Raises:
        ValueError: an unknown name or a missing folder (with `download`).

    Example:
    ```python
    import tempfile
    import densenet_hub
    from densenet_hub.presets import inspect

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    folder = tempfile.mkdtemp() + "/tiny"
    backbone.save_to_preset(folder)
    found = inspect(folder)
    assert found.kind == "backbone" and found.labels is None
    assert type(densenet_hub.models.Backbone.from_preset(found.to_load)) is type(backbone)
    assert inspect("densenet_121_imagenet", download=False).builtin.parameter_count == 7_037_504
    ```
    """
    # Model packages register their built-in names when imported, which
    # completing the class list does.
    registry.seal()
    builtin = find_builtin(preset) if isinstance(preset, str) else None
    if _is_accelerated_folder(preset):
        folder = pathlib.Path(preset)
        return PresetInfo(preset, "accelerated", folder, None, builtin)
    resolved = resolver.resolve(preset) if download else None
    folder = resolver.local_folder(preset) if resolved is None else resolved.directory
    if folder is None:
        return PresetInfo(preset, None, None, None, builtin)
    task = folder / names.TASK_FILE
    if task.is_file():
        config = read_json(task).get("config")
        config = config if isinstance(config, dict) else {}
        num_classes = config.get("num_classes")
        activation = config.get("activation")
        return PresetInfo(
            preset,
            "classifier",
            folder,
            resolved,
            builtin,
            # The loader refuses a bad task.json with the details.
            num_classes if _is_count(num_classes) else None,
            activation if isinstance(activation, str) else None,
        )
    kind = "backbone" if sources.find_source(folder) is None else "checkpoint"
    return PresetInfo(preset, kind, folder, resolved, builtin)


def _is_accelerated_folder(preset):
    # As before any lookup: such a folder is never a preset, whatever its name.
    if not isinstance(preset, (str, os.PathLike)):
        return False
    return (pathlib.Path(preset) / names.ACCELERATED_FILE).is_file()


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
