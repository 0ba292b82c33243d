"""Builds backbones, tasks, preprocessors and image converters from presets.

`presets.resolver` finds the preset's folder. Every JSON file is checked by
`presets.schema` and every weight file by `weights` before anything is built
or assigned; a failed load raises and returns no model. The classes come
from the allow-list (`presets.registry`), never from an import the file names.

A folder in a format a converter registered (`presets.sources`; e.g. a timm
checkpoint, whose `config.json` has an `"architecture"` key, such as
`hf://timm/densenet121.tv_in1k`) is converted in memory into the documents
and weight arrays a preset would hold (`presets.contents.ConvertedPreset`),
which go through the same schema and weight checks; nothing is written and
the model is built once. The architecture comes from the checkpoint's
tensors, so even `load_weights=False` reads them.

Config precedence, lowest first: KerasHub's behaviour for the keys KerasHub
does not write (the backbone class's `keras_hub_defaults`), the preset's JSON
file, the built-in preset's overrides, the caller's keyword arguments. As in
KerasHub, a backbone's saved dtype is not reused: the `dtype=` argument, else
Keras' global policy, decides.
"""

import dataclasses

from packaging.version import InvalidVersion
from packaging.version import Version

from densenet_hub.base import file_names as names
from densenet_hub.hub import digests
from densenet_hub.presets import registry
from densenet_hub.presets import resolver
from densenet_hub.presets import schema
from densenet_hub.presets import sources
from densenet_hub.presets.contents import PresetFolder
from densenet_hub.base.validation import TASK_KWARGS
from densenet_hub.version import __version__


def verify_preset(preset):
    """Downloads `preset` if needed and checks every file of the download
    against the sha256 recorded when it was downloaded (`hub.digests`);
    returns `{file name: sha256}`.

    Raises:
        ValueError: `preset` is a local folder, which has no digests.
        HubIntegrityError: no record, or a file that differs from it (the
            error names the file, both digests and the fix).
    """
    return _verified(resolver.resolve(preset), preset)


def _verified(resolved, preset):
    if not resolved.downloaded:
        raise ValueError(
            f"verify=True checks a downloaded preset against the sha256 "
            f"recorded at download, but {str(preset)!r} is a local folder, "
            f"which has none. Fix: load it without verify=True (its files are "
            f"still checked before anything is built), or pass the built-in "
            f"name or hub handle it came from."
        )
    return digests.verify_folder(resolved.directory)


@dataclasses.dataclass(frozen=True)
class _Source:
    """A preset to load: its built-in entry (or `None`) and what it holds
    (`presets.contents`: its folder's files, or a converted checkpoint)."""

    builtin: object
    contents: object


def _opened(preset, verify):
    """`resolver.resolve(preset)`, its download checked against its digests
    when `verify`, with a folder of a registered checkpoint format converted
    in memory."""
    resolved = resolver.resolve(preset)
    if verify:
        _verified(resolved, preset)
    source = sources.find_source(resolved.directory)
    if source is None:
        return _Source(resolved.builtin, PresetFolder(resolved.directory))
    return _Source(resolved.builtin, source.convert(resolved.directory))


def _parse(document, where, kinds):
    return schema.parse_object(document, str(where), kinds)


def _pick_class(cls, parsed, file):
    """The class to build: the file's, or `cls` when it refines the file's
    (any allow-listed class of the file's kind when `cls` is `None`)."""
    found = parsed.resolve_class()
    if cls is None or issubclass(found, cls):
        return found
    if issubclass(cls, found):
        return cls
    raise ValueError(
        f"{file} describes a {found.__name__}, which is not a {cls.__name__}. "
        f"Call {found.__name__}.from_preset (or the base class's) instead."
    )


# === Backbones ===


def load_backbone(cls, preset, load_weights=True, verify=False, **kwargs):
    """Builds the backbone in `preset`, with its weights unless told not to."""
    return _backbone(_opened(preset, verify), cls, load_weights, kwargs)


def _parse_backbone(source):
    contents = source.contents
    config = contents.required_document(names.CONFIG_FILE, "the backbone config")
    return _parse(config, contents.where(names.CONFIG_FILE), ("backbone",))


def _backbone(source, cls, load_weights, kwargs, parsed=None):
    parsed = parsed or _parse_backbone(source)
    backbone_cls = _pick_class(cls, parsed, names.CONFIG_FILE)
    _check_builtin_config(source, parsed)
    _check_metadata(source, parsed)
    config = dict(parsed.entry.keras_hub_defaults)
    config.update((k, v) for k, v in parsed.config.items() if k != "dtype")
    if source.builtin is not None:
        config.update(source.builtin.overrides)
    config.update(kwargs)
    backbone = backbone_cls.from_config(config)
    if load_weights:
        source.contents.load_backbone_weights(backbone)
    return backbone


def _check_builtin_config(source, parsed):
    """A built-in preset's download must describe the registry's model."""
    if source.builtin is None:
        return
    config = {**parsed.entry.keras_hub_defaults, **parsed.config}
    where = source.contents.where(names.CONFIG_FILE)
    for key, expected in source.builtin.config.items():
        found = config.get(key)
        if found != expected:
            raise ValueError(
                f"{where}: `{key}` is {found!r} "
                f"but the built-in preset {source.builtin.name!r} has "
                f"{expected!r}; the download is not that preset. Delete it "
                f"from the cache and load again."
            )


def _check_saved_version(path, saved_version):
    """Refuses a `densenet_hub_version` that is not a version (PEP 440, as
    pip reads it: "1.2", "v1.2", "1.2.0rc1") or is newer than this library."""
    try:
        saved = Version(saved_version) if isinstance(saved_version, str) else None
    except InvalidVersion:
        saved = None
    if saved is None:
        raise ValueError(
            f"{path}: `densenet_hub_version` is {saved_version!r}, which is not "
            f"a version string such as {__version__!r}. The file is damaged "
            f"or was not written by densenet_hub: re-save or re-download the "
            f"preset, or remove the key."
        )
    if saved > Version(__version__):
        raise ValueError(
            f"{path}: the preset was saved by densenet_hub {saved_version!r}, "
            f"newer than this densenet_hub {__version__}. Upgrade densenet_hub "
            f"(pip install -U densenet-hub)."
        )


def _check_metadata(source, parsed):
    """`metadata.json`, when present, must agree with the config and must
    not come from a newer densenet_hub."""
    metadata = source.contents.document(names.METADATA_FILE)
    if metadata is None:
        return
    path = source.contents.where(names.METADATA_FILE)
    saved_version = metadata.get("densenet_hub_version")
    if saved_version is not None:
        _check_saved_version(path, saved_version)
    count = metadata.get("parameter_count")
    expected = parsed.entry.size(parsed.config)[0]
    if count is not None and count != expected:
        raise ValueError(
            f"{path}: `parameter_count` is {count!r} but config.json describes "
            f"a backbone with {expected:,} parameters. The files do not belong "
            f"together; re-download or re-save the preset."
        )


# === Tasks ===


def load_task(cls, preset, load_weights=True, verify=False, **kwargs):
    """Builds the task in `preset`.

    With `task.json`, the task's class and head come from it and the head
    weights from `task.weights.h5`; `num_classes=` replaces the head with a
    fresh one. Without it (a backbone preset), `num_classes=` is required.
    Keyword arguments of the backbone (`image_shape`, `dtype`,
    `stem_padding`, ...) go to the backbone, the rest to the task.
    """
    return _task(_opened(preset, verify), cls, load_weights, kwargs)


def _task(source, cls, load_weights, kwargs):
    contents = source.contents
    task_document = contents.document(names.TASK_FILE)
    task_parsed = None
    if task_document is not None:
        task_parsed = _parse(task_document, contents.where(names.TASK_FILE), ("task",))
    backbone_parsed = _parse_backbone(source)
    backbone_keys = set(backbone_parsed.entry.validators) - set(TASK_KWARGS)
    backbone_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in backbone_keys}
    backbone = _backbone(
        source,
        getattr(cls, "backbone_cls", None),
        load_weights,
        backbone_kwargs,
        backbone_parsed,
    )
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
            f"{contents.directory} has no {names.TASK_FILE}: it is a backbone "
            f"preset, so {task_cls.__name__}.from_preset needs num_classes=N "
            f"for a new classification head."
        )
    task = task_cls.from_config({**config, "backbone": backbone})
    if load_weights and task_parsed is not None and not new_head:
        contents.load_task_weights(task)
    return task


def _task_class(cls, task_parsed, backbone_cls):
    if task_parsed is not None:
        return _pick_class(cls, task_parsed, names.TASK_FILE)
    return _subclass_for_backbone(cls, backbone_cls)


def _subclass_for_backbone(cls, backbone_cls):
    """`cls` or its allow-listed subclass made for `backbone_cls`, as KerasHub
    picks `DenseNetImageClassifier` for `ImageClassifier.from_preset`."""
    if getattr(cls, "backbone_cls", None) is not None:
        return cls
    for candidate in registry.classes_of_kind("task"):
        if issubclass(candidate, cls) and candidate.backbone_cls is backbone_cls:
            return candidate
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


def load_preprocessor(cls, preset, verify=False, **kwargs):
    """Builds the preprocessor in `preset`: from `preprocessor.json`, else
    `cls` around the converter in `image_converter.json`."""
    return _preprocessor(_opened(preset, verify), cls, kwargs, required=True)


def _preprocessor(source, cls, kwargs, required):
    contents = source.contents
    document = contents.document(names.PREPROCESSOR_FILE)
    if document is not None:
        parsed = _parse(document, contents.where(names.PREPROCESSOR_FILE), ("preprocessor",))
        return _build_preprocessor(
            _pick_class(cls, parsed, names.PREPROCESSOR_FILE), parsed, kwargs
        )
    if not contents.has(names.IMAGE_CONVERTER_FILE):
        if not required:
            return None
        raise ValueError(
            f"{contents.directory} has neither {names.PREPROCESSOR_FILE} nor "
            f"{names.IMAGE_CONVERTER_FILE}, so it holds no preprocessor. Pass "
            f"a preset saved with a preprocessor, or build one yourself."
        )
    converter = _converter(source, getattr(cls, "image_converter_cls", None), {})
    return cls.from_config({"image_converter": converter, **kwargs})


def _build_preprocessor(preprocessor_cls, parsed, kwargs):
    config = dict(parsed.config)
    nested = config.get("image_converter")
    if nested is not None:
        config["image_converter"] = _build_converter(nested.resolve_class(), nested, {})
    return preprocessor_cls.from_config({**config, **kwargs})


def load_image_converter(cls, preset, verify=False, **kwargs):
    """Builds the image converter in `preset`'s `image_converter.json`."""
    return _converter(_opened(preset, verify), cls, kwargs)


def _converter(source, cls, kwargs):
    contents = source.contents
    document = contents.required_document(
        names.IMAGE_CONVERTER_FILE, "the image converter config"
    )
    parsed = _parse(document, contents.where(names.IMAGE_CONVERTER_FILE), ("image_converter",))
    return _build_converter(_pick_class(cls, parsed, names.IMAGE_CONVERTER_FILE), parsed, kwargs)


def _build_converter(converter_cls, parsed, kwargs):
    return converter_cls.from_config({**parsed.config, **kwargs})
