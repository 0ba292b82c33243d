"""Builds backbones, tasks, preprocessors and image converters from presets.

`preset` is a built-in name (or alias), a `kaggle://` or `hf://` handle, or a
local folder (`str` or `pathlib.Path`). A `str` that is a built-in name wins
over a folder of the same name, as in KerasHub. Every JSON file is checked by
`safe_config` and every weight file by `weights` before anything is built or
assigned; a failed load raises and returns no model.

A folder or `hf://` repository holding a timm checkpoint (its `config.json`
has an `"architecture"` key, e.g. `hf://timm/densenet121.tv_in1k`) is
converted on the fly by `densenet_hub.convert` into a temporary preset (a
classifier with the timm eval transform as its preprocessor), which then
loads like any other; the architecture comes from the checkpoint's tensors,
so even `load_weights=False` reads them.

Config precedence, lowest first: KerasHub's behaviour for the keys KerasHub
does not write (`stem_padding="same"`, `stem_filters=64`,
`data_format="channels_last"`), the preset's JSON file, the registry's
overrides for a built-in preset (`stem_padding="symmetric"`), the caller's
keyword arguments. As in KerasHub, a backbone's saved dtype is not reused: the
`dtype=` argument, else Keras' global policy, decides.
"""

import contextlib
import dataclasses
import pathlib
import tempfile

from densenet_hub.presets import files
from densenet_hub.presets import registry
from densenet_hub.presets import safe_config
from densenet_hub.presets import weights
from densenet_hub.version import __version__

_BACKBONE_ARGUMENTS = tuple(
    key for key in safe_config.BACKBONE_KEYS if key not in ("name", "trainable")
)


@dataclasses.dataclass(frozen=True)
class _Source:
    directory: pathlib.Path
    builtin: registry.BuiltinPreset | None
    # The timm checkpoint folder that `directory` was converted from.
    converted_from: pathlib.Path | None = None


def resolve(preset):
    """The local folder holding `preset`'s files, downloading if needed."""
    if isinstance(preset, pathlib.PurePath):
        return _Source(_local_folder(pathlib.Path(preset), preset), None)
    if not isinstance(preset, str):
        raise TypeError(
            f"`preset` must be a str (a built-in name, a kaggle:// or hf:// "
            f"handle, or a folder) or a pathlib.Path, got "
            f"{type(preset).__name__} {preset!r}."
        )
    if not preset.strip():
        raise ValueError(
            f"`preset` is empty or only whitespace ({preset!r}). Pass a "
            f"built-in name such as 'densenet_121_imagenet', a handle or a "
            f"folder."
        )
    builtin = registry.find_builtin(preset)
    if builtin is not None:
        return _Source(_download_builtin(builtin), builtin)
    from densenet_hub.hub.handles import is_remote_handle

    if is_remote_handle(preset):
        from densenet_hub.hub.download import download_preset

        return _Source(pathlib.Path(download_preset(preset)), None)
    path = pathlib.Path(preset)
    if not path.exists() and registry.looks_like_preset_name(preset):
        raise registry.unknown_preset_error(preset)
    return _Source(_local_folder(path, preset), None)


@contextlib.contextmanager
def _opened(preset):
    """`resolve(preset)`, with a timm checkpoint converted into a temporary
    preset folder that lasts until the `with` block ends."""
    source = resolve(preset)
    if not _is_timm_checkpoint(source.directory):
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="densenet_hub-timm-") as work:
        converted = _convert_timm(source.directory, pathlib.Path(work) / "preset")
        yield dataclasses.replace(
            source, directory=converted, converted_from=source.directory
        )


def _is_timm_checkpoint(directory):
    config = files.existing_file(directory, files.CONFIG_FILE)
    if config is None:
        return False
    content = safe_config.read_json(config)
    return isinstance(content, dict) and "architecture" in content


def _convert_timm(directory, out):
    # Imported here: the converters import the models, which import this module.
    from densenet_hub.convert import convert

    # Checked first: the converter itself would follow a link out of the folder.
    files.required_file(directory, files.TIMM_WEIGHTS_FILE, "the timm weights")
    return convert(directory, out, source_format="timm")


def _local_folder(path, preset):
    if not path.exists():
        raise ValueError(
            f"The preset folder {str(path)!r} does not exist. Pass an existing "
            f"folder, a built-in name ({', '.join(registry.listings())}) or a "
            f"kaggle:// or hf:// handle."
        )
    if not path.is_dir():
        raise ValueError(
            f"The preset {str(preset)!r} is a file, not a preset folder. Pass "
            f"the folder that holds config.json."
        )
    return path


def _download_builtin(builtin):
    """The registry's handles in order, moving on only when one is unreachable."""
    from densenet_hub.hub.download import download_first_available

    return pathlib.Path(download_first_available(list(builtin.handles)))


def _parse(path, kinds):
    return safe_config.parse_object(safe_config.read_json(path), str(path), kinds)


def _pick_class(cls, parsed, file):
    """The class to build: the file's, or `cls` when it refines the file's."""
    found = parsed.resolve_class()
    if issubclass(found, cls):
        return found
    if issubclass(cls, found):
        return cls
    raise ValueError(
        f"{file} describes a {found.__name__}, which is not a {cls.__name__}. "
        f"Call {found.__name__}.from_preset (or the base class's) instead."
    )


# === Backbones ===


def load_backbone(cls, preset, load_weights=True, **kwargs):
    """Builds the backbone in `preset`, with its weights unless told not to."""
    with _opened(preset) as source:
        return _backbone(source, cls, load_weights, kwargs)


def _backbone(source, cls, load_weights, kwargs):
    config_path = files.required_file(source.directory, files.CONFIG_FILE, "the backbone config")
    parsed = _parse(config_path, ("backbone",))
    backbone_cls = _pick_class(cls, parsed, files.CONFIG_FILE)
    _check_builtin_config(source, parsed)
    _check_metadata(source, parsed)
    config = dict(safe_config.KERAS_HUB_BACKBONE_DEFAULTS)
    config.update((k, v) for k, v in parsed.config.items() if k != "dtype")
    if source.builtin is not None:
        config.update(source.builtin.overrides)
    config.update(kwargs)
    backbone = backbone_cls.from_config(config)
    if load_weights:
        weights.load_weights(
            weights.backbone_weight_files(source.directory),
            weights.weight_layout(backbone),
        )
    return backbone


def _check_builtin_config(source, parsed):
    """A built-in preset's download must describe the registry's model."""
    if source.builtin is None:
        return
    config = {**safe_config.KERAS_HUB_BACKBONE_DEFAULTS, **parsed.config}
    where = source.converted_from or source.directory / files.CONFIG_FILE
    for key, expected in source.builtin.config.items():
        found = config.get(key)
        if found != expected:
            raise ValueError(
                f"{where}: `{key}` is {found!r} "
                f"but the built-in preset {source.builtin.name!r} has "
                f"{expected!r}; the download is not that preset. Delete it "
                f"from the cache and load again."
            )


def _version_tuple(text):
    parts = []
    for part in str(text).split("."):
        digits = "".join(char for char in part if char.isdigit())
        if not digits or digits != part:
            break
        parts.append(int(digits))
    return tuple(parts)


def _check_metadata(source, parsed):
    """`metadata.json`, when present, must agree with the config and must
    not come from a newer densenet_hub."""
    path = files.existing_file(source.directory, files.METADATA_FILE)
    if path is None:
        return
    metadata = safe_config.read_json(path)
    saved_version = metadata.get("densenet_hub_version")
    if saved_version is not None and _version_tuple(saved_version) > _version_tuple(
        __version__
    ):
        raise ValueError(
            f"{path}: the preset was saved by densenet_hub {saved_version!r}, "
            f"newer than this densenet_hub {__version__}. Upgrade densenet_hub "
            f"(pip install -U densenet-hub)."
        )
    count = metadata.get("parameter_count")
    expected = safe_config.backbone_size(parsed.config)[0]
    if count is not None and count != expected:
        raise ValueError(
            f"{path}: `parameter_count` is {count!r} but config.json describes "
            f"a backbone with {expected:,} parameters. The files do not belong "
            f"together; re-download or re-save the preset."
        )


# === Tasks ===


def load_task(cls, preset, load_weights=True, **kwargs):
    """Builds the task in `preset`.

    With `task.json`, the task's class and head come from it and the head
    weights from `task.weights.h5`; `num_classes=` replaces the head with a
    fresh one. Without it (a backbone preset), `num_classes=` is required.
    Keyword arguments of the backbone (`image_shape`, `dtype`,
    `stem_padding`, ...) go to the backbone, the rest to the task.
    """
    with _opened(preset) as source:
        return _task(source, cls, load_weights, kwargs)


def _task(source, cls, load_weights, kwargs):
    task_path = files.existing_file(source.directory, files.TASK_FILE)
    task_parsed = None if task_path is None else _parse(task_path, ("task",))
    backbone_kwargs = {k: kwargs.pop(k) for k in _BACKBONE_ARGUMENTS if k in kwargs}
    backbone = _backbone(source, _backbone_class_of(cls), load_weights, backbone_kwargs)
    task_cls = _task_class(cls, task_parsed, type(backbone))
    config = {}
    if task_parsed is not None:
        config = {k: v for k, v in task_parsed.config.items() if k != "backbone"}
    if "preprocessor" not in kwargs:
        config["preprocessor"] = _task_preprocessor(source, task_parsed, task_cls)
    new_head = "num_classes" in kwargs
    config.update(kwargs)
    if "num_classes" not in config:
        raise ValueError(
            f"{source.directory} has no {files.TASK_FILE}: it is a backbone "
            f"preset, so {task_cls.__name__}.from_preset needs num_classes=N "
            f"for a new classification head."
        )
    task = task_cls.from_config({**config, "backbone": backbone})
    if load_weights and task_parsed is not None and not new_head:
        task_weights = files.required_file(
            source.directory, files.TASK_WEIGHTS_FILE, "the head weights"
        )
        # KerasHub's published task files also hold the whole model: extras
        # are ignored in this file only.
        weights.load_weights(
            [task_weights], weights.weight_layout(task, skip=[backbone]), allow_extra=True
        )
    return task


def _backbone_class_of(task_cls):
    from densenet_hub.models.backbone import Backbone

    return getattr(task_cls, "backbone_cls", None) or Backbone


def _task_class(cls, task_parsed, backbone_cls):
    if task_parsed is not None:
        return _pick_class(cls, task_parsed, files.TASK_FILE)
    return _subclass_for_backbone(cls, backbone_cls)


def _subclass_for_backbone(cls, backbone_cls):
    """`cls` or its subclass made for `backbone_cls`, as KerasHub picks
    `DenseNetImageClassifier` for `ImageClassifier.from_preset`."""
    if getattr(cls, "backbone_cls", None) is not None:
        return cls
    pending = list(cls.__subclasses__())
    while pending:
        candidate = pending.pop(0)
        if getattr(candidate, "backbone_cls", None) is backbone_cls:
            return candidate
        pending.extend(candidate.__subclasses__())
    return cls


def _task_preprocessor(source, task_parsed, task_cls):
    if task_parsed is not None and "preprocessor" in task_parsed.config:
        nested = task_parsed.config["preprocessor"]
        return None if nested is None else _build_preprocessor(nested.resolve_class(), nested, {})
    preprocessor_cls = getattr(task_cls, "preprocessor_cls", None)
    if preprocessor_cls is None:
        return None
    return _preprocessor(source, preprocessor_cls, {}, required=False)


# === Preprocessors and image converters ===


def load_preprocessor(cls, preset, **kwargs):
    """Builds the preprocessor in `preset`: from `preprocessor.json`, else
    `cls` around the converter in `image_converter.json`."""
    with _opened(preset) as source:
        return _preprocessor(source, cls, kwargs, required=True)


def _preprocessor(source, cls, kwargs, required):
    path = files.existing_file(source.directory, files.PREPROCESSOR_FILE)
    if path is not None:
        parsed = _parse(path, ("preprocessor",))
        return _build_preprocessor(
            _pick_class(cls, parsed, files.PREPROCESSOR_FILE), parsed, kwargs
        )
    if files.existing_file(source.directory, files.IMAGE_CONVERTER_FILE) is None:
        if not required:
            return None
        raise ValueError(
            f"{source.directory} has neither {files.PREPROCESSOR_FILE} nor "
            f"{files.IMAGE_CONVERTER_FILE}, so it holds no preprocessor. Pass "
            f"a preset saved with a preprocessor, or build one yourself."
        )
    converter_cls = getattr(cls, "image_converter_cls", None) or _image_converter_base()
    converter = _converter(source, converter_cls, {})
    return cls.from_config({"image_converter": converter, **kwargs})


def _build_preprocessor(preprocessor_cls, parsed, kwargs):
    config = dict(parsed.config)
    nested = config.get("image_converter")
    if nested is not None:
        config["image_converter"] = _build_converter(nested.resolve_class(), nested, {})
    return preprocessor_cls.from_config({**config, **kwargs})


def _image_converter_base():
    from densenet_hub.preprocessing.image_converter import ImageConverter

    return ImageConverter


def load_image_converter(cls, preset, **kwargs):
    """Builds the image converter in `preset`'s `image_converter.json`."""
    with _opened(preset) as source:
        return _converter(source, cls, kwargs)


def _converter(source, cls, kwargs):
    path = files.required_file(
        source.directory, files.IMAGE_CONVERTER_FILE, "the image converter config"
    )
    parsed = _parse(path, ("image_converter",))
    return _build_converter(_pick_class(cls, parsed, files.IMAGE_CONVERTER_FILE), parsed, kwargs)


def _build_converter(converter_cls, parsed, kwargs):
    return converter_cls.from_config({**parsed.config, **kwargs})
