"""Checks the object references in a preset's JSON before anything is built.

A preset file names classes and gives their arguments; Keras' deserialiser
would import and call whatever it names. Here nothing reaches Keras: every
object reference must name a class on the allow-list (`presets.classes`)
with the exact module and registered name KerasHub or densenet_hub writes,
every config key must have that class's validator and every value must be
plain data of the expected type and range. The result, a tree of
`ParsedObject`, holds only Python scalars, lists and tuples, and the loader
builds the models from it by calling densenet_hub's own constructors.

The validators below are the shared building blocks; each class declares
which apply to its keys where it is defined.
"""

import dataclasses
import math
import re

from densenet_hub.presets import registry

# DenseNet-264 with growth 48 has about 73M parameters; far more is a bomb.
MAX_PARAMETERS = 200_000_000
MAX_IMAGE_SIDE = 16384
MAX_CHANNELS = 4
REFERENCE_KEYS = ("module", "class_name", "config", "registered_name")
# Keras' serialiser adds these; KerasHub strips them. They are never read.
IGNORED_REFERENCE_KEYS = ("build_config", "compile_config")
DTYPE_POLICIES = (
    "float32",
    "float16",
    "bfloat16",
    "float64",
    "mixed_float16",
    "mixed_bfloat16",
)
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
    import densenet_hub
    from densenet_hub.presets.schema import parse_object

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

    @property
    def entry(self):
        """The allow-list entry (`presets.registry.PresetClass`) of the class."""
        return registry.get(self.class_name)

    def resolve_class(self):
        """The densenet_hub class named by this object."""
        return self.entry.cls


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
        raise error(
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
    entry = registry.find(class_name)
    if entry is None or entry.kind not in kinds:
        raise error(
            file,
            join(where, "class_name"),
            f"one of {registry.names_of_kinds(kinds)}",
            class_name,
            "Only densenet_hub's and KerasHub's DenseNet classes can be "
            "loaded; anything else is refused.",
        )
    origin = _origin(file, where, entry, value)
    config = value.get("config")
    if not isinstance(config, dict):
        raise error(file, join(where, "config"), "a JSON object", config)
    missing = [key for key in entry.required if key not in config]
    unknown = sorted(set(config) - set(entry.validators))
    if missing or unknown:
        raise ValueError(
            f"{file}: `{join(where, 'config')}` for {class_name} has missing "
            f"key(s) {missing} and unknown key(s) {unknown}; allowed keys: "
            f"{list(entry.validators)}, required: {list(entry.required)}. "
            "Re-save the preset or fix the file."
        )
    where_config = join(where, "config")
    checked = {
        key: entry.validators[key](file, join(where_config, key), item)
        for key, item in config.items()
    }
    if entry.check is not None:
        entry.check(file, where_config, checked)
    return ParsedObject(class_name, entry.kind, origin, checked)


def _origin(file, where, entry, value):
    class_name = entry.name
    module = value.get("module")
    registered = value.get("registered_name")
    if (module, registered) == (entry.keras_hub_module, f"keras_hub>{class_name}"):
        return "keras_hub"
    ours = (entry.cls.__module__, *entry.former_modules)
    if registered == f"densenet_hub>{class_name}" and module in ours:
        return "densenet_hub"
    raise ValueError(
        f"{file}: `{where or '(top level)'}` names class {class_name!r} with "
        f"module {module!r} and registered_name {registered!r}, but only "
        f"(module, registered_name) = ({entry.keras_hub_module!r}, "
        f"'keras_hub>{class_name}') or (densenet_hub's module "
        f"{entry.cls.__module__!r}, 'densenet_hub>{class_name}') are "
        "accepted. The reference points at code outside KerasHub's and "
        "densenet_hub's DenseNet, which is refused."
    )


def join(where, key):
    """`where.key`, the path of a key for messages."""
    return f"{where}.{key}" if where else key


def _short_repr(value):
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def error(file, where, expected, value, fix="Fix the value or re-save the preset."):
    """The `ValueError` for a value that is not what `where` needs."""
    return ValueError(
        f"{file}: `{where}` must be {expected}, got {_short_repr(value)}. {fix}"
    )


def check_parameter_count(file, where, count, fix="Fix the hyperparameters."):
    """Refuses a model of more than `MAX_PARAMETERS` parameters before it is
    built: a small file must not make the loader (or a converter) allocate
    gigabytes."""
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"{file}: the model described by `{where}` would have {count:,} "
            f"parameters, over the {MAX_PARAMETERS:,} that any DenseNet "
            f"needs; refusing to allocate it. {fix}"
        )


# === Value validators: (file, where, value) -> plain normalised value ===


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def int_in(low, high):
    def check(file, where, value):
        if not is_int(value) or not low <= value <= high:
            raise error(file, where, f"an integer in [{low}, {high}]", value)
        return value

    return check


def check_bool(file, where, value):
    if not isinstance(value, bool):
        raise error(file, where, "true or false", value)
    return value


def choice(*choices, optional=False):
    def check(file, where, value):
        if optional and value is None:
            return None
        if not isinstance(value, str) or value not in choices:
            allowed = ", ".join(map(repr, choices)) + (", null" if optional else "")
            raise error(file, where, f"one of {allowed}", value)
        return value

    return check


def fraction(file, where, value):
    """A number in (0, 1]."""
    if not is_number(value) or not 0 < value <= 1:
        raise error(file, where, "a number in (0, 1]", value)
    return float(value)


def check_name(file, where, value):
    if not isinstance(value, str) or not _NAME_PATTERN.fullmatch(value):
        raise error(file, where, "a name of 1 to 256 characters without '/'", value)
    return value


def check_identifier(file, where, value):
    if not isinstance(value, str) or not _IDENTIFIER_PATTERN.fullmatch(value):
        raise error(file, where, "a short lower-case identifier", value)
    return value


def check_dtype(file, where, value):
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
    raise error(
        file,
        where,
        f"null, one of {list(DTYPE_POLICIES)} or Keras' serialised "
        "DTypePolicy of one",
        value,
    )


def optional_side(value):
    """`None` or an image side in [1, `MAX_IMAGE_SIDE`]."""
    return value is None or (is_int(value) and 1 <= value <= MAX_IMAGE_SIDE)


def nested(*kinds, optional=False):
    """A nested object reference of one of `kinds`, parsed in turn."""

    def check(file, where, value):
        if optional and value is None:
            return None
        return parse_object(value, file, kinds, where)

    return check


# The keys every Keras layer or model config has.
LAYER_VALIDATORS = {
    "name": check_name,
    "trainable": check_bool,
    "dtype": check_dtype,
}
