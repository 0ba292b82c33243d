"""Checks a preset's JSON files before anything is built from them.

A preset file names classes and gives their arguments; Keras' deserialiser
would import and call whatever it names. Here nothing reaches Keras: each
file is size-capped and parsed as plain JSON, every object reference must be
one of the exact (module, class, registered name) triples below, every config
key must be on that class's allow-list and every value must be plain data of
the expected type and range. The result, a tree of `ParsedObject`, holds only
Python scalars, lists and tuples, and the loader builds the models from it by
calling densenet_hub's own constructors.
"""

import dataclasses
import importlib
import json
import math
import pathlib
import re

MAX_JSON_BYTES = 1 << 20
# DenseNet-264 with growth 48 has about 73M parameters; far more is a bomb.
MAX_PARAMETERS = 200_000_000
MAX_IMAGE_SIDE = 16384
MAX_CHANNELS = 4
MAX_STACKS = 8
MAX_REPEATS = 256
MAX_WIDTH = 1024
MAX_CLASSES = 1_000_000
UTF8_BOM = b"\xef\xbb\xbf"

DTYPE_POLICIES = (
    "float32",
    "float16",
    "bfloat16",
    "float64",
    "mixed_float16",
    "mixed_bfloat16",
)
# What KerasHub's DenseNetBackbone does, so what a config without these keys
# means (KerasHub writes none of them; densenet_hub omits them when equal).
KERAS_HUB_BACKBONE_DEFAULTS = {
    "stem_filters": 64,
    "stem_padding": "same",
    "data_format": "channels_last",
    "memory_efficient": False,
}
ACTIVATIONS = ("linear", "softmax", "sigmoid", "log_softmax")
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")
REFERENCE_KEYS = ("module", "class_name", "config", "registered_name")
# Keras' serialiser adds these; KerasHub strips them. They are never read.
IGNORED_REFERENCE_KEYS = ("build_config", "compile_config")
# Keras forbids "/" in names; control characters have no business there.
_NAME_PATTERN = re.compile(r"[^/\x00-\x1f\x7f]{1,256}")
_IDENTIFIER_PATTERN = re.compile(r"[a-z_]{1,32}")


@dataclasses.dataclass(frozen=True)
class ParsedObject:
    """One checked object reference from a preset JSON file.

    Args:
        class_name: the densenet_hub class to build, e.g. `"DenseNetBackbone"`.
        kind: `"backbone"`, `"task"`, `"preprocessor"` or `"image_converter"`.
        origin: `"keras_hub"` or `"densenet_hub"`, the library that wrote it.
        config: the constructor arguments; nested objects are `ParsedObject`s.

    Example:
    ```python
    from densenet_hub.presets.safe_config import parse_object

    parsed = parse_object(
        {
            "module": "keras_hub.src.models.densenet.densenet_backbone",
            "class_name": "DenseNetBackbone",
            "config": {"stackwise_num_repeats": [2, 2], "growth_rate": 4},
            "registered_name": "keras_hub>DenseNetBackbone",
        },
        "config.json",
        kinds=("backbone",),
    )
    assert parsed.origin == "keras_hub"
    assert parsed.config["stackwise_num_repeats"] == [2, 2]
    ```
    """

    class_name: str
    kind: str
    origin: str
    config: dict

    def resolve_class(self):
        """The densenet_hub class named by this object."""
        return densenet_hub_class(self.class_name)


def read_json(path, max_bytes=MAX_JSON_BYTES):
    """Parses a preset JSON file into a dict, refusing anything but a plain
    UTF-8 JSON object of at most `max_bytes` bytes."""
    path = pathlib.Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise _too_big(path, size, max_bytes)
    with open(path, "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_big(path, len(data), max_bytes)
    if data.startswith(UTF8_BOM):
        raise ValueError(
            f"{path} starts with a UTF-8 byte-order mark, which JSON does not "
            "allow. Save the file as UTF-8 without a BOM."
        )
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(
            f"{path} is not valid JSON: {error}. Re-download or re-save the "
            "preset."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{path} must hold a JSON object, got a JSON "
            f"{type(value).__name__}. Re-download or re-save the preset."
        )
    return value


def _too_big(path, size, max_bytes):
    return ValueError(
        f"{path} is {size} bytes, over the {max_bytes}-byte limit for preset "
        "JSON files; it is not a densenet_hub or KerasHub preset file. "
        "Re-download or re-save the preset."
    )


def _object_without_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name):
    raise ValueError(f"non-standard constant {name}")


def densenet_hub_class(class_name):
    """The class `class_name` from `densenet_hub.models` or `densenet_hub.layers`."""
    for package in ("densenet_hub.models", "densenet_hub.layers"):
        cls = getattr(importlib.import_module(package), class_name, None)
        if cls is not None:
            return cls
    raise ValueError(
        f"This densenet_hub version has no class {class_name!r}, which the "
        "preset names. Upgrade densenet_hub."
    )


def parse_object(value, file, kinds, where=""):
    """Checks one `{"module", "class_name", "config", "registered_name"}`
    reference and its config; returns a `ParsedObject`.

    Args:
        value: the JSON value.
        file: the file name, for messages.
        kinds: the kinds of class accepted here, e.g. `("backbone",)`.
        where: the key path of `value` inside the file, for messages.
    """
    if not isinstance(value, dict):
        raise _error(
            file, where or "(top level)", "an object reference (a JSON object "
            "with module, class_name, config, registered_name)", value
        )
    unknown = sorted(set(value) - set(REFERENCE_KEYS) - set(IGNORED_REFERENCE_KEYS))
    if unknown:
        raise ValueError(
            f"{file}: `{where or '(top level)'}` has unknown key(s) {unknown}; "
            f"allowed: {list(REFERENCE_KEYS)}. The file is not a preset file "
            "densenet_hub can read; re-save it."
        )
    class_name = value.get("class_name")
    entry = _CLASSES.get(class_name) if isinstance(class_name, str) else None
    if entry is None or entry.kind not in kinds:
        allowed = sorted(name for name, e in _CLASSES.items() if e.kind in kinds)
        raise _error(
            file,
            _join(where, "class_name"),
            f"one of {allowed}",
            class_name,
            "Only densenet_hub's and KerasHub's DenseNet classes can be "
            "loaded; anything else is refused.",
        )
    origin = _origin(file, where, class_name, entry, value)
    config = value.get("config")
    if not isinstance(config, dict):
        raise _error(file, _join(where, "config"), "a JSON object", config)
    missing = [key for key in entry.required if key not in config]
    unknown = sorted(set(config) - set(entry.keys))
    if missing or unknown:
        raise ValueError(
            f"{file}: `{_join(where, 'config')}` for {class_name} has missing "
            f"key(s) {missing} and unknown key(s) {unknown}; allowed keys: "
            f"{list(entry.keys)}, required: {list(entry.required)}. Re-save "
            "the preset or fix the file."
        )
    where_config = _join(where, "config")
    checked = {
        key: _VALIDATORS[key](file, _join(where_config, key), item)
        for key, item in config.items()
    }
    parsed = ParsedObject(class_name, entry.kind, origin, checked)
    if entry.kind == "backbone":
        _check_backbone(file, where_config, checked)
    if entry.kind == "task":
        _check_task_size(file, where_config, checked)
    return parsed


def _origin(file, where, class_name, entry, value):
    module = value.get("module")
    registered = value.get("registered_name")
    if entry.keras_hub_module and (module, registered) == (
        entry.keras_hub_module,
        f"keras_hub>{class_name}",
    ):
        return "keras_hub"
    if registered == f"densenet_hub>{class_name}":
        our_module = densenet_hub_class(class_name).__module__
        if module == our_module:
            return "densenet_hub"
    expected = [f"({entry.keras_hub_module!r}, 'keras_hub>{class_name}')"]
    expected.append(f"(densenet_hub's module, 'densenet_hub>{class_name}')")
    raise ValueError(
        f"{file}: `{where or '(top level)'}` names class {class_name!r} with "
        f"module {module!r} and registered_name {registered!r}, but only "
        f"(module, registered_name) = {' or '.join(expected)} are accepted. "
        "The reference points at code outside KerasHub's and densenet_hub's "
        "DenseNet, which is refused."
    )


def _join(where, key):
    return f"{where}.{key}" if where else key


def _short_repr(value):
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _error(file, where, expected, value, fix="Fix the value or re-save the preset."):
    return ValueError(
        f"{file}: `{where}` must be {expected}, got {_short_repr(value)}. {fix}"
    )


# === Value validators: (file, where, value) -> plain normalised value ===


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _int_in(low, high):
    def check(file, where, value):
        if not _is_int(value) or not low <= value <= high:
            raise _error(file, where, f"an integer in [{low}, {high}]", value)
        return value

    return check


def _check_bool(file, where, value):
    if not isinstance(value, bool):
        raise _error(file, where, "true or false", value)
    return value


def _choice(*choices, optional=False):
    def check(file, where, value):
        if optional and value is None:
            return None
        if not isinstance(value, str) or value not in choices:
            allowed = ", ".join(map(repr, choices)) + (", null" if optional else "")
            raise _error(file, where, f"one of {allowed}", value)
        return value

    return check


def _check_name(file, where, value):
    if not isinstance(value, str) or not _NAME_PATTERN.fullmatch(value):
        raise _error(
            file, where, "a name of 1 to 256 characters without '/'", value
        )
    return value


def _check_identifier(file, where, value):
    if not isinstance(value, str) or not _IDENTIFIER_PATTERN.fullmatch(value):
        raise _error(file, where, "a short lower-case identifier", value)
    return value


def _check_dtype(file, where, value):
    """A policy name, or Keras' serialised `DTypePolicy` of one."""
    if value is None or (isinstance(value, str) and value in DTYPE_POLICIES):
        return value
    if (
        isinstance(value, dict)
        and set(value) == set(REFERENCE_KEYS)
        and value["module"] == "keras"
        and value["class_name"] == "DTypePolicy"
        and value["registered_name"] is None
        and isinstance(value["config"], dict)
        and set(value["config"]) == {"name"}
        and value["config"]["name"] in DTYPE_POLICIES
    ):
        return value["config"]["name"]
    raise _error(
        file,
        where,
        f"null, one of {list(DTYPE_POLICIES)} or Keras' serialised "
        "DTypePolicy of one",
        value,
    )


def _check_repeats(file, where, value):
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_STACKS
        or not all(_is_int(n) and 1 <= n <= MAX_REPEATS for n in value)
    ):
        raise _error(
            file,
            where,
            f"a list of 1 to {MAX_STACKS} integers in [1, {MAX_REPEATS}], "
            "e.g. [6, 12, 24, 16]",
            value,
        )
    return list(value)


def _check_compression(file, where, value):
    if not _is_number(value) or not 0 < value <= 1:
        raise _error(file, where, "a number in (0, 1]", value)
    return float(value)


def _optional_side(value):
    return value is None or (_is_int(value) and 1 <= value <= MAX_IMAGE_SIDE)


def _check_image_shape(file, where, value):
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(_optional_side(v) for v in value)
    ):
        raise _error(
            file,
            where,
            f"3 entries, each null or an integer in [1, {MAX_IMAGE_SIDE}], "
            "e.g. [224, 224, 3]",
            value,
        )
    return tuple(value)


def _check_image_size(file, where, value):
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(v is not None and _optional_side(v) for v in value)
    ):
        raise _error(
            file,
            where,
            f"null or [height, width] with integers in [1, {MAX_IMAGE_SIDE}]",
            value,
        )
    return tuple(value)


def _check_side(file, where, value):
    if not _is_int(value) or not _optional_side(value):
        raise _error(file, where, f"an integer in [1, {MAX_IMAGE_SIDE}]", value)
    return value


def _per_channel(allow_none, positive=False):
    def check(file, where, value):
        if allow_none and value is None:
            return None
        values = value if isinstance(value, list) else [value]
        if not (
            1 <= len(values) <= MAX_CHANNELS
            and all(_is_number(v) and (v > 0 or not positive) for v in values)
        ):
            sign = "positive " if positive else ""
            raise _error(
                file,
                where,
                f"{'null, ' if allow_none else ''}a finite {sign}number or a "
                f"list of 1 to {MAX_CHANNELS} of them",
                value,
            )
        return list(value) if isinstance(value, list) else value

    return check


def _check_dropout(file, where, value):
    if not _is_number(value) or not 0 <= value < 1:
        raise _error(file, where, "a number in [0, 1)", value)
    return float(value)


def _check_config_file(file, where, value):
    if value != "preprocessor.json":
        raise _error(file, where, "'preprocessor.json'", value)
    return value


def _nested(*kinds, optional=False):
    def check(file, where, value):
        if optional and value is None:
            return None
        return parse_object(value, file, kinds, where)

    return check


_VALIDATORS = {
    "name": _check_name,
    "trainable": _check_bool,
    "dtype": _check_dtype,
    "head_dtype": _check_dtype,
    # DenseNetBackbone
    "stackwise_num_repeats": _check_repeats,
    "compression_ratio": _check_compression,
    "growth_rate": _int_in(1, MAX_WIDTH),
    "stem_filters": _int_in(1, MAX_WIDTH),
    "stem_padding": _choice("symmetric", "same"),
    "data_format": _choice("channels_last", "channels_first", optional=True),
    "memory_efficient": _check_bool,
    "image_shape": _check_image_shape,
    # ImageClassifier
    "backbone": _nested("backbone"),
    "preprocessor": _nested("preprocessor", optional=True),
    "num_classes": _int_in(1, MAX_CLASSES),
    "pooling": _choice("avg", "max"),
    "activation": _choice(*ACTIVATIONS, optional=True),
    "dropout": _check_dropout,
    # ImageClassifierPreprocessor
    "image_converter": _nested("image_converter", optional=True),
    "config_file": _check_config_file,
    # ImageConverter, with the keys of older KerasHub versions
    "image_size": _check_image_size,
    "scale": _per_channel(allow_none=True),
    "offset": _per_channel(allow_none=True),
    "crop_to_aspect_ratio": _check_bool,
    "pad_to_aspect_ratio": _check_bool,
    "interpolation": _choice(*INTERPOLATIONS),
    "antialias": _check_bool,
    "crop_pct": _check_compression,  # also a number in (0, 1]
    "bounding_box_format": _check_identifier,
    "height": _check_side,
    "width": _check_side,
    "mean": _per_channel(allow_none=False),
    "variance": _per_channel(allow_none=False, positive=True),
}


@dataclasses.dataclass(frozen=True)
class _ClassEntry:
    kind: str
    keras_hub_module: str
    keys: tuple
    required: tuple = ()


LAYER_KEYS = ("name", "trainable", "dtype")
BACKBONE_KEYS = LAYER_KEYS + (
    "stackwise_num_repeats",
    "compression_ratio",
    "growth_rate",
    "image_shape",
    "stem_filters",
    "stem_padding",
    "data_format",
    "memory_efficient",
)
TASK_KEYS = (
    "name",
    "trainable",
    "backbone",
    "preprocessor",
    "num_classes",
    "pooling",
    "activation",
    "dropout",
    "head_dtype",
)
PREPROCESSOR_KEYS = LAYER_KEYS + ("image_converter", "config_file")
CONVERTER_KEYS = LAYER_KEYS + (
    "image_size",
    "scale",
    "offset",
    "crop_to_aspect_ratio",
    "pad_to_aspect_ratio",
    "interpolation",
    "antialias",
    "crop_pct",
    "bounding_box_format",
    "data_format",
    "height",
    "width",
    "mean",
    "variance",
)
_KERAS_HUB_DENSENET = "keras_hub.src.models.densenet."
_CLASSES = {
    "DenseNetBackbone": _ClassEntry(
        "backbone",
        _KERAS_HUB_DENSENET + "densenet_backbone",
        BACKBONE_KEYS,
        ("stackwise_num_repeats",),
    ),
    "ImageClassifier": _ClassEntry(
        "task",
        "keras_hub.src.models.image_classifier",
        TASK_KEYS,
        ("backbone", "num_classes"),
    ),
    "DenseNetImageClassifier": _ClassEntry(
        "task",
        _KERAS_HUB_DENSENET + "densenet_image_classifier",
        TASK_KEYS,
        ("backbone", "num_classes"),
    ),
    "ImageClassifierPreprocessor": _ClassEntry(
        "preprocessor",
        "keras_hub.src.models.image_classifier_preprocessor",
        PREPROCESSOR_KEYS,
    ),
    "DenseNetImageClassifierPreprocessor": _ClassEntry(
        "preprocessor",
        _KERAS_HUB_DENSENET + "densenet_image_classifier_preprocessor",
        PREPROCESSOR_KEYS,
    ),
    "ImageConverter": _ClassEntry(
        "image_converter",
        "keras_hub.src.layers.preprocessing.image_converter",
        CONVERTER_KEYS,
    ),
    "DenseNetImageConverter": _ClassEntry(
        "image_converter",
        _KERAS_HUB_DENSENET + "densenet_image_converter",
        CONVERTER_KEYS,
    ),
}


# The base class of each kind of object a preset holds.
_KIND_BASES = (
    ("backbone", "Backbone"),
    ("task", "Task"),
    ("preprocessor", "ImageClassifierPreprocessor"),
    ("image_converter", "ImageConverter"),
)


def preset_kind(cls):
    """`"backbone"`, `"task"`, `"preprocessor"`, `"image_converter"`, or
    `None` for a class presets cannot hold."""
    for kind, base in _KIND_BASES:
        if issubclass(cls, densenet_hub_class(base)):
            return kind
    return None


def allow_listed(cls):
    """Whether a preset may name `cls`: it is one of the classes above."""
    return cls.__name__ in _CLASSES and densenet_hub_class(cls.__name__) is cls


def keras_hub_module(class_name):
    """KerasHub's module of an allow-listed class, e.g. for saving."""
    return _CLASSES[class_name].keras_hub_module


# === Whole-config checks, before any allocation ===


def image_channels(config):
    """Input channels of a backbone config, by its data format."""
    shape = config.get("image_shape", (None, None, 3))
    data_format = config.get("data_format") or "channels_last"
    channels = shape[0] if data_format == "channels_first" else shape[-1]
    # KerasHub's default shape read as channels_first: 3 channels.
    return 3 if channels is None else channels


def backbone_size(config):
    """`(parameter count, output channels)` of a DenseNet backbone config,
    computed from the numbers alone, without building anything."""
    growth = config.get("growth_rate", 32)
    ratio = config.get("compression_ratio", 0.5)
    channels = config.get("stem_filters", 64)
    count = 49 * image_channels(config) * channels + 4 * channels
    repeats = config["stackwise_num_repeats"]
    for index, num_blocks in enumerate(repeats):
        for _ in range(num_blocks):
            # BN(c), 1x1 conv to 4g, BN(4g), 3x3 conv to g.
            count += 4 * channels + channels * 4 * growth + 16 * growth
            count += 36 * growth * growth
            channels += growth
        if index < len(repeats) - 1:
            kept = max(int(channels * ratio), 1)
            count += 4 * channels + channels * kept
            channels = kept
    return count + 4 * channels, channels


def _check_parameter_count(file, where, count):
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"{file}: the model described by `{where}` would have {count:,} "
            f"parameters, over the {MAX_PARAMETERS:,} that any DenseNet "
            "needs; refusing to allocate it. Fix the hyperparameters."
        )


def _check_backbone(file, where, config):
    channels = image_channels(config)
    if not 1 <= channels <= MAX_CHANNELS:
        raise _error(
            file,
            _join(where, "image_shape"),
            f"a shape with 1 to {MAX_CHANNELS} channels in the "
            f"{config.get('data_format') or 'channels_last'} position",
            config.get("image_shape"),
        )
    _check_parameter_count(file, where, backbone_size(config)[0])


def _check_task_size(file, where, config):
    backbone = config["backbone"].config
    count, features = backbone_size(backbone)
    num_classes = config["num_classes"]
    _check_parameter_count(file, where, count + (features + 1) * num_classes)
