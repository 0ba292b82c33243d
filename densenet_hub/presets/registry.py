"""The closed allow-list of classes a preset file may name.

A preset's JSON names a class and its arguments; the loader builds only
classes found here. Each class declares, where it is defined, what the loader
needs to read it (its kind, KerasHub's module for it, a validator per config
key, a whole-config check) with `@preset_class(...)`. Only modules of this
package can register, and only until the list is first read: the first
lookup runs the completer `densenet_hub/__init__.py` installs (it imports
every module that registers) and then seals the list, so no later import,
plugin or preset can widen it. Reading the list lazily keeps
`import densenet_hub` (and `densenet-hub --help`) free of Keras until a
model is needed.
"""

import dataclasses
import types

KINDS = ("backbone", "task", "preprocessor", "image_converter")
_PACKAGE = "densenet_hub"


@dataclasses.dataclass(frozen=True)
class PresetClass:
    """What the loader knows of one allow-listed class.

    Args:
        cls: the class.
        kind: one of `KINDS`.
        keras_hub_module: KerasHub's module of the class of the same name,
            written when the object is saved KerasHub-compatibly.
        validators: config key -> `(file, where, value) -> checked value`;
            a key not listed is refused.
        required: config keys a file must give.
        check: `(file, where, config) -> None`, run on the checked config
            before anything is built (e.g. a parameter-count cap).
        size: backbones only: `config -> (parameter count, output channels)`,
            computed without building anything.
        keras_hub_defaults: backbones only: the value each key KerasHub's
            class does not have takes there, i.e. what a file without the
            key means.
        run_settings: config keys that choose how the model runs, not what
            it computes (a training-memory mode): presets never save them,
            and a file that has one still loads it.
        former_modules: modules the class lived in before, which presets
            saved by older densenet_hub versions name.
    """

    cls: type
    kind: str
    keras_hub_module: str
    validators: types.MappingProxyType
    required: tuple = ()
    check: object = None
    size: object = None
    keras_hub_defaults: types.MappingProxyType = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )
    run_settings: tuple = ()
    former_modules: tuple = ()

    @property
    def name(self):
        return self.cls.__name__


_CLASSES = {}
_sealed = False
_completer = None
_COMPLETING = object()


def preset_class(
    kind,
    keras_hub_module,
    validators,
    required=(),
    check=None,
    size=None,
    keras_hub_defaults=None,
    run_settings=(),
    former_modules=(),
):
    """Class decorator: puts the class on the allow-list (see `PresetClass`)."""
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}, got {kind!r}.")
    unknown = sorted(set(required) - set(validators))
    if unknown:
        raise ValueError(f"required keys {unknown} have no validator.")

    def register(cls):
        if _sealed:
            raise RuntimeError(
                f"Cannot register {cls.__name__}: the preset class list is "
                "closed once it is first read; presets can only name "
                "densenet_hub's own classes."
            )
        if cls.__module__.split(".")[0] != _PACKAGE:
            raise TypeError(
                f"Cannot register {cls.__module__}.{cls.__name__}: only "
                f"densenet_hub's own modules fill the preset class list."
            )
        if cls.__name__ in _CLASSES:
            raise ValueError(f"A preset class named {cls.__name__!r} is already registered.")
        _CLASSES[cls.__name__] = PresetClass(
            cls=cls,
            kind=kind,
            keras_hub_module=keras_hub_module,
            validators=types.MappingProxyType(dict(validators)),
            required=tuple(required),
            check=check,
            size=size,
            keras_hub_defaults=types.MappingProxyType(dict(keras_hub_defaults or {})),
            run_settings=tuple(run_settings),
            former_modules=tuple(former_modules),
        )
        return cls

    return register


def complete_with(completer):
    """Installs `completer`, a function that imports every module of the
    package that registers classes; the first lookup calls it, then seals.
    Installed once, by `densenet_hub/__init__.py`."""
    global _completer
    _completer = completer


def seal():
    """Completes the list with the installed completer, then closes it.
    Lookups made while the completer imports (a module reading the list as
    it is imported) see the list as it stands and do not close it early."""
    global _sealed, _completer
    if _sealed or _completer is _COMPLETING:
        return
    completer, _completer = _completer, _COMPLETING
    try:
        if completer is not None:
            completer()
    except BaseException:
        _completer = completer
        raise
    _completer = None
    _sealed = True


def _classes():
    seal()
    return _CLASSES


def find(class_name):
    """The `PresetClass` named `class_name`, else `None`."""
    return _classes().get(class_name) if isinstance(class_name, str) else None


def get(class_name):
    """The `PresetClass` named `class_name`; a `ValueError` naming the fix
    when this version has none."""
    entry = find(class_name)
    if entry is None:
        raise ValueError(
            f"This densenet_hub version has no preset class {class_name!r}, "
            "which the preset names. Upgrade densenet_hub."
        )
    return entry


def names_of_kinds(kinds):
    """The sorted class names of the given kinds."""
    return sorted(name for name, entry in _classes().items() if entry.kind in kinds)


def classes_of_kind(kind):
    """The allow-listed classes of `kind`, in registration order (bases first)."""
    return [entry.cls for entry in _classes().values() if entry.kind == kind]


def entry_of(cls):
    """The `PresetClass` of exactly `cls`, else `None` (a subclass the user
    defined is not on the list)."""
    entry = _classes().get(cls.__name__)
    return entry if entry is not None and entry.cls is cls else None


def preset_kind(cls):
    """`"backbone"`, `"task"`, `"preprocessor"`, `"image_converter"`, or
    `None` for a class presets cannot hold: the kind its preset base class
    declares in its `preset_kind` attribute."""
    return getattr(cls, "preset_kind", None)
