"""What the loader reads a preset from: the files of a preset folder
(`PresetFolder`), or a checkpoint that a registered source
(`presets.sources`) converted in memory (`ConvertedPreset`).

Both answer the loader's questions alike: a JSON document by file name,
which the loader then checks with `presets.schema` whatever its origin, and
the weights of a built backbone or head, which `presets.weights` checks
variable by variable (missing, unexpected, shape, dtype, NaN/Inf) before
assigning any. A converted checkpoint is never written to disk, so the model
is built once, from its documents, and messages name the checkpoint's folder.
"""

import dataclasses
import pathlib

from densenet_hub.base import file_names as names
from densenet_hub.base.json_files import read_json
from densenet_hub.presets import files
from densenet_hub.presets import weights


@dataclasses.dataclass(frozen=True)
class PresetFolder:
    """A preset folder on disk; every file name stays inside it
    (`presets.files`).

    Args:
        directory: the folder, a `pathlib.Path`.
    """

    directory: pathlib.Path

    def where(self, name):
        """The file `name` as messages name it."""
        return self.directory / name

    def has(self, name):
        """Whether the preset holds the file `name`."""
        return files.existing_file(self.directory, name) is not None

    def document(self, name):
        """The JSON object of the file `name`, or `None` without one."""
        path = files.existing_file(self.directory, name)
        return None if path is None else read_json(path)

    def required_document(self, name, what):
        """The JSON object of the file `name`; its absence is an error
        naming `what` it holds."""
        return read_json(files.required_file(self.directory, name, what))

    def load_backbone_weights(self, backbone):
        """Checks and assigns the backbone's weight files (`model.weights.h5`
        or its shards)."""
        weights.load_weights(
            weights.backbone_weight_files(self.directory), weights.weight_layout(backbone)
        )

    def load_task_weights(self, task):
        """Checks and assigns the head's `task.weights.h5`."""
        task.load_task_weights(
            files.required_file(self.directory, names.TASK_WEIGHTS_FILE, "the head weights")
        )


@dataclasses.dataclass(frozen=True, eq=False)
class ConvertedPreset:
    """A checkpoint converted in memory into what a preset folder holds.

    Args:
        directory: the checkpoint's folder, which messages name (the only
            thing on disk).
        documents: `{file name: JSON object}`: `config.json` and, for a
            classifier, `task.json`, `preprocessor.json` and
            `image_converter.json`, as plain JSON data (lists, not tuples).
        weights: `{file name: {"layer/variable": numpy array}}`:
            `model.weights.h5` for the backbone and, for a classifier,
            `task.weights.h5` for the head, keyed as `weights.named_layout`.

    Example:
    ```python
    import pathlib
    import numpy as np
    from densenet_hub.models import DenseNetBackbone
    from densenet_hub.presets.contents import ConvertedPreset
    from densenet_hub.presets.saver import object_reference
    from densenet_hub.presets.weights import named_layout

    config = {"stackwise_num_repeats": [2, 2], "growth_rate": 4}
    layout = named_layout(DenseNetBackbone(**config))
    arrays = {key: np.full(v.shape, 0.5, "float32") for key, v in layout.items()}
    converted = ConvertedPreset(
        pathlib.Path("checkpoint"),
        {"config.json": object_reference(DenseNetBackbone, config)},
        {"model.weights.h5": arrays},
    )
    backbone = DenseNetBackbone.from_config(converted.document("config.json")["config"])
    converted.load_backbone_weights(backbone)
    assert np.all(backbone.get_layer("conv1_conv").get_weights()[0] == 0.5)
    ```
    """

    directory: pathlib.Path
    documents: dict
    weights: dict

    def where(self, name):
        """The checkpoint's folder: the converted files exist nowhere else."""
        return self.directory

    def has(self, name):
        """Whether the conversion made the file `name`."""
        return name in self.documents

    def document(self, name):
        """The JSON object the conversion made for `name`, or `None`."""
        return self.documents.get(name)

    def required_document(self, name, what):
        """The JSON object for `name`; its absence is an error naming `what`."""
        if name not in self.documents:
            raise ValueError(
                f"{self.directory} converts into a preset without {name} "
                f"({what}); it gives {sorted(self.documents)}. Pass a "
                "checkpoint with a classifier head, or build this part yourself."
            )
        return self.documents[name]

    def load_backbone_weights(self, backbone):
        """Checks and assigns the converted backbone arrays."""
        weights.load_arrays(
            self.weights[names.MODEL_WEIGHTS_FILE], weights.named_layout(backbone), self.directory
        )

    def load_task_weights(self, task):
        """Checks and assigns the converted head arrays."""
        weights.load_arrays(
            self.weights[names.TASK_WEIGHTS_FILE],
            weights.named_layout(task, skip=[task.backbone]),
            self.directory,
        )
