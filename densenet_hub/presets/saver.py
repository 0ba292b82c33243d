"""Writes presets in KerasHub's file layout, atomically.

Files: `config.json`, `metadata.json` and `model.weights.h5` for a backbone
(or, over `max_shard_size`, KerasHub's shards `model_00000.weights.h5`, ...
listed in `model.weights.json`);
`task.json` and `task.weights.h5` plus the backbone's and the preprocessor's
files for a task; `preprocessor.json` and `image_converter.json` for a
preprocessor; `image_converter.json` for a converter. JSON is written with an
indent of 4, as KerasHub does.

Whenever KerasHub can express the model, the files name KerasHub's classes
and modules and leave out densenet_hub's extra backbone keys, so KerasHub
loads the preset. A backbone KerasHub cannot express (stem width other than
64, symmetric stem padding, channels-first) keeps those keys and names
densenet_hub's classes; `metadata.json` then says `"keras_hub_compatible":
false` and lists why.

Atomicity: `densenet_hub.base.publish` writes the folder beside the target and
renames it into place, so a crash or a full disk leaves the old preset or no
preset, never a mix.
"""

import datetime
import json
import os
import pathlib
import stat

import keras

from densenet_hub.base import file_names as names
from densenet_hub.presets import registry
from densenet_hub.presets import files
from densenet_hub.presets import schema
from densenet_hub.presets import weights
from densenet_hub.base.json_files import json_bytes
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file
from densenet_hub.version import __version__


def save_preset(
    obj, preset_dir, overwrite=False, metadata=None, extra_files=None, max_shard_size=10
):
    """Saves a backbone, task, preprocessor or image converter to `preset_dir`.

    Args:
        obj: the object to save.
        preset_dir: the target folder (`str` or `os.PathLike`).
        overwrite: replace an existing non-empty folder.
        metadata: extra JSON-serialisable keys for `metadata.json` (backbones
            and tasks only), written in the same atomic save; they may not
            replace the keys the saver writes itself.
        extra_files: `{file name: bytes}` written into the same folder in
            the same atomic save, e.g. the command line's `class_names.json`;
            KerasHub ignores such files.
        max_shard_size: the most GB (2**30 bytes) of backbone weights in one
            file, as in KerasHub: larger backbones are written as shards
            `model_00000.weights.h5`, ... listed in `model.weights.json`.
            `None` always writes one `model.weights.h5`. Preprocessors and
            image converters have no weights, so it does not apply to them.

    Raises:
        FileExistsError: `preset_dir` is a non-empty folder and `overwrite`
            is False.
        NotADirectoryError: `preset_dir` is a file.
        OSError: writing failed (read-only folder, full disk); nothing is left
            behind.
        TypeError: `metadata` is not a dict of JSON-serialisable values.
        ValueError: `obj` holds something a preset cannot describe,
            `metadata` names a key the saver writes or has nowhere to go, or
            `max_shard_size` is not a positive number or None (or one
            variable is larger).

    Example:
    ```python
    import json, pathlib, tempfile
    from densenet_hub.models import DenseNetBackbone
    from densenet_hub.presets.saver import save_preset

    backbone = DenseNetBackbone([2, 2], growth_rate=4, image_shape=(32, 32, 3))
    folder = pathlib.Path(tempfile.mkdtemp()) / "tiny"
    save_preset(backbone, folder, metadata={"trained_on": "my photos"})
    saved = json.loads((folder / "metadata.json").read_text())
    assert saved["trained_on"] == "my photos"
    ```
    """
    if not isinstance(preset_dir, (str, os.PathLike)):
        raise TypeError(
            f"`preset_dir` must be a str or os.PathLike folder path, got "
            f"{type(preset_dir).__name__} {preset_dir!r}."
        )
    target = pathlib.Path(preset_dir)
    _check_target(target, overwrite)
    _check_max_shard_size(max_shard_size)
    documents, weight_files = _preset_contents(obj, max_shard_size)
    if metadata is not None:
        _merge_metadata(documents, metadata, obj)
    extra_files = _checked_extra_files(extra_files or {}, documents, weight_files)
    with published(target, overwrite) as staging:
        staging.mkdir()
        for name, document in documents.items():
            write_file(staging / name, json_bytes(document))
        for name, layout in weight_files.items():
            write_file(staging / name, weights.weights_file_bytes(layout))
        for name, data in extra_files.items():
            write_file(staging / name, data)


def _check_target(target, overwrite):
    # One look at the path: another writer may be replacing the folder.
    try:
        is_folder = stat.S_ISDIR(os.stat(target).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return  # the publisher reports a path under a file
    if not is_folder:
        raise NotADirectoryError(
            f"Cannot save a preset to {target}: it is a file. Pass a folder "
            f"path (new or empty), or remove the file."
        )
    if overwrite:
        return
    try:
        with os.scandir(target) as entries:
            non_empty = any(True for _ in entries)
    except FileNotFoundError:
        return
    if non_empty:
        raise FileExistsError(
            f"Cannot save a preset to {target}: the folder is not empty. Pass "
            f"overwrite=True to replace it, or choose a new folder."
        )


def _check_max_shard_size(max_shard_size):
    if max_shard_size is None:
        return
    if (
        isinstance(max_shard_size, bool)
        or not isinstance(max_shard_size, (int, float))
        or not max_shard_size > 0
    ):
        raise ValueError(
            f"`max_shard_size` must be a positive number of GB or None (one "
            f"file), got {max_shard_size!r}. KerasHub's default is 10."
        )


def _checked_extra_files(extra_files, documents, weight_files):
    for name, data in extra_files.items():
        files.preset_file(pathlib.Path("."), name, "`extra_files`")
        if name in documents or name in weight_files:
            raise ValueError(
                f"`extra_files` names {name!r}, a file the saver writes itself; "
                "rename it."
            )
        if not isinstance(data, bytes):
            raise TypeError(
                f"`extra_files[{name!r}]` must be bytes, got {type(data).__name__}."
            )
    return extra_files


def _merge_metadata(documents, extra, obj):
    """Adds the caller's `extra` keys to the `metadata.json` being written."""
    if not isinstance(extra, dict) or not all(isinstance(key, str) for key in extra):
        raise TypeError(
            f"`metadata` must be a dict with str keys, got "
            f"{type(extra).__name__} {extra!r}. Pass e.g. "
            f"{{\"trained_on\": \"my data\"}}."
        )
    written = documents.get(names.METADATA_FILE)
    if written is None:
        raise ValueError(
            f"`metadata` was given, but a {type(obj).__name__} preset has no "
            f"{names.METADATA_FILE} (only backbone and task presets do). Save "
            f"the task or backbone instead, or leave `metadata` out."
        )
    clashes = sorted(set(extra) & set(written))
    if clashes:
        raise ValueError(
            f"`metadata` keys {clashes} are written by the saver itself "
            f"({sorted(written)}); rename them, e.g. with a prefix."
        )
    try:
        # The loader refuses NaN and Infinity, which JSON does not have.
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`metadata` must hold only JSON values (str, numbers, bool, None, "
            f"lists, dicts with str keys; no NaN or infinity): {error}. Convert "
            f"the values first, e.g. paths with str()."
        ) from None
    written.update(extra)


# === What to write ===


def _preset_contents(obj, max_shard_size):
    """`({file name: JSON object}, {file name: weight layout})` for `obj`."""
    kind = registry.preset_kind(type(obj))
    if kind is None:
        raise TypeError(
            f"Cannot save a {type(obj).__name__} as a preset; only backbones, "
            f"tasks, preprocessors and image converters can be saved."
        )
    if kind in ("backbone", "task"):
        return _CONTENTS[kind](obj, max_shard_size)
    return _CONTENTS[kind](obj)


def _backbone_contents(backbone, max_shard_size):
    reference, incompatibilities = _backbone_reference(backbone)
    metadata = {
        "keras_version": keras.version(),
        "densenet_hub_version": __version__,
        "parameter_count": backbone.count_params(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "tasks": ["ImageClassifier"],
        "keras_hub_compatible": not incompatibilities,
        "keras_hub_incompatibilities": incompatibilities,
    }
    documents = {names.CONFIG_FILE: reference, names.METADATA_FILE: metadata}
    layout = weights.weight_layout(backbone)
    # KerasHub's rule: shard only when the whole backbone is over the limit.
    if max_shard_size is None or weights.variables_size_in_gb(backbone.variables) <= max_shard_size:
        return documents, {names.MODEL_WEIGHTS_FILE: layout}
    shards, documents[names.SHARDED_WEIGHTS_FILE] = weights.sharded_layouts(layout, max_shard_size)
    return documents, shards


def _task_contents(task, max_shard_size):
    documents, weight_files = _backbone_contents(task.backbone, max_shard_size)
    config = task.get_config()
    config["backbone"] = documents[names.CONFIG_FILE]
    config["preprocessor"] = None
    if task.preprocessor is not None:
        _check_preprocessor(task.preprocessor)
        documents.update(_preprocessor_contents(task.preprocessor))
        config["preprocessor"] = documents[names.PREPROCESSOR_FILE]
    if config.get("head_dtype") is None:
        # Older KerasHub versions have no `head_dtype`; None is their behaviour.
        config.pop("head_dtype", None)
    compatible = documents[names.METADATA_FILE]["keras_hub_compatible"]
    documents[names.TASK_FILE] = _reference(task, config, compatible, "task")
    weight_files[names.TASK_WEIGHTS_FILE] = weights.task_weight_layout(task)
    return documents, weight_files


def _check_preprocessor(preprocessor):
    if registry.preset_kind(type(preprocessor)) != "preprocessor":
        raise ValueError(
            f"The task's preprocessor is a {type(preprocessor).__name__}, "
            f"which a preset cannot describe (only ImageClassifierPreprocessor "
            f"and its subclasses). Use an ImageClassifierPreprocessor, or set "
            f"`task.preprocessor = None` before saving."
        )


def _preprocessor_contents(preprocessor):
    config = preprocessor.get_config()
    documents = {}
    if preprocessor.image_converter is not None:
        converter = _converter_reference(preprocessor.image_converter)
        documents[names.IMAGE_CONVERTER_FILE] = converter
        config["image_converter"] = converter
    documents[names.PREPROCESSOR_FILE] = _reference(
        preprocessor, config, True, "preprocessor"
    )
    return documents


def _converter_reference(converter):
    return _reference(converter, converter.get_config(), True, "image_converter")


_CONTENTS = {
    "backbone": _backbone_contents,
    "task": _task_contents,
    "preprocessor": lambda preprocessor: (_preprocessor_contents(preprocessor), {}),
    "image_converter": lambda converter: (
        {names.IMAGE_CONVERTER_FILE: _converter_reference(converter)},
        {},
    ),
}


def _backbone_reference(backbone):
    """The `config.json` object and why KerasHub could not load it, if so."""
    config = backbone.get_config()
    entry = _allow_listed_entry(type(backbone))
    for key in entry.run_settings:
        config.pop(key, None)
    incompatibilities = []
    for key, keras_hub_value in entry.keras_hub_defaults.items():
        if key not in config:
            continue
        if config[key] == keras_hub_value:
            del config[key]
        else:
            incompatibilities.append(
                f"{key}={config[key]!r} (KerasHub's DenseNetBackbone only does "
                f"{keras_hub_value!r})"
            )
    return _reference(backbone, config, not incompatibilities, "backbone"), incompatibilities


def _reference(obj, config, keras_hub_names, kind):
    """`object_reference` of `obj`, checked with the loader's own rules so a
    saved preset always loads."""
    reference = object_reference(type(obj), config, keras_hub_names)
    schema.parse_object(reference, f"the {kind} being saved", (kind,))
    return reference


def object_reference(cls, config, keras_hub_names=False):
    """Keras' `{"module", "class_name", "config", "registered_name"}` form of
    `cls` with `config`, as a preset's JSON file holds it.

    Args:
        cls: an allow-listed class (`presets.registry`).
        config: its JSON-serialisable constructor arguments.
        keras_hub_names: name KerasHub's module and registered name, so
            KerasHub can load it; else densenet_hub's.

    Returns:
        plain JSON data: a JSON round trip turns tuples into lists, as a
        file does.

    Example:
    ```python
    from densenet_hub.models import DenseNetBackbone
    from densenet_hub.presets.saver import object_reference

    reference = object_reference(DenseNetBackbone, {"stackwise_num_repeats": (2, 2)})
    assert reference["registered_name"] == "densenet_hub>DenseNetBackbone"
    assert reference["config"] == {"stackwise_num_repeats": [2, 2]}
    ```
    """
    class_name = cls.__name__
    entry = _allow_listed_entry(cls)
    if keras_hub_names:
        module = entry.keras_hub_module
        registered_name = f"keras_hub>{class_name}"
    else:
        module = cls.__module__
        registered_name = f"densenet_hub>{class_name}"
    reference = {
        "module": module,
        "class_name": class_name,
        "config": config,
        "registered_name": registered_name,
    }
    return json.loads(json.dumps(reference))


def _allow_listed_entry(cls):
    """The allow-list entry of `cls`; only those the loader accepts may be
    saved."""
    entry = registry.entry_of(cls)
    if entry is None:
        raise ValueError(
            f"Cannot save a {cls.__name__} ({cls.__module__}) as a "
            f"preset: presets can only name densenet_hub's own classes, which "
            f"the loader accepts. Save an instance of the densenet_hub class "
            f"it extends instead."
        )
    return entry
