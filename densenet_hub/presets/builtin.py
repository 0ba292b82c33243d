"""The built-in presets: names a user can pass to `from_preset` without a
handle. A model package registers its own table (DenseNet's is
`models/densenet/densenet_presets.py`); this module looks names up in it and
knows no model.
"""

import copy
import dataclasses
import difflib

@dataclasses.dataclass(frozen=True)
class BuiltinPreset:
    """One built-in preset.

    Args:
        name: the canonical name, KerasHub's.
        aliases: other accepted spellings.
        handles: where the files live, tried in order (the next only when
            one cannot be reached): a pinned Kaggle handle and its Hugging
            Face mirror, or a single Hugging Face handle. The last one is
            on Hugging Face.
        config: the backbone architecture the preset's `config.json` must
            describe; a download that disagrees is refused.
        overrides: config values applied on top of `config.json` (and below
            the caller's keyword arguments).
        parameter_count: `count_params()` of the backbone.
        description: one line for listings.
        weights_origin: where the weights were trained and converted.
        path: KerasHub's model folder name, e.g. `"densenet"`.

    Example:
    ```python
    import densenet_hub
    from densenet_hub.presets.builtin import find_builtin

    preset = find_builtin("densenet121_imagenet")
    assert preset.name == "densenet_121_imagenet"
    assert preset.parameter_count == 7_037_504
    ```
    """

    name: str
    aliases: tuple
    handles: tuple
    config: dict
    overrides: dict
    parameter_count: int
    description: str
    weights_origin: str
    path: str

    def listing(self):
        """The entry `cls.presets` shows for this preset, in KerasHub's shape:
        `kaggle_handle` is KerasHub's key for the first handle, whatever its
        scheme; `hf_handle` is the Hugging Face one; `handles` lists all."""
        return {
            "metadata": {
                "description": self.description,
                "params": self.parameter_count,
                "path": self.path,
                "aliases": list(self.aliases),
                "weights_origin": self.weights_origin,
                "config": copy.deepcopy(self.config),
                "overrides": dict(self.overrides),
            },
            "kaggle_handle": self.handles[0],
            "hf_handle": self.handles[-1],
            "handles": list(self.handles),
        }


_BUILTIN_PRESETS = {}


def register_builtin_presets(*presets):
    """Adds `presets` (`BuiltinPreset`s) to the built-in table; a model
    package calls it with its own table. Names and aliases must be new."""
    for preset in presets:
        names = (preset.name, *preset.aliases)
        taken = [name for name in names if find_builtin(name) is not None]
        if taken:
            raise ValueError(f"Built-in preset names {taken} are already registered.")
        _BUILTIN_PRESETS[preset.name] = preset


def builtin_presets():
    """Every registered `BuiltinPreset`, in registration order."""
    return tuple(_BUILTIN_PRESETS.values())


def _all_names():
    names = {}
    for preset in _BUILTIN_PRESETS.values():
        for name in (preset.name, *preset.aliases):
            names[name] = preset
    return names


def find_builtin(name):
    """The `BuiltinPreset` called `name` (or one of its aliases), else `None`."""
    return _all_names().get(name)


def looks_like_preset_name(name):
    """True for a bare word such as `densenet_12_imagenet`: no path parts."""
    return "/" not in name and "\\" not in name and not name.startswith(".")


def unknown_preset_error(name):
    """A `ValueError` for a name that is neither built in nor a folder."""
    known = sorted(_BUILTIN_PRESETS)
    close = difflib.get_close_matches(name, list(_all_names()), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return ValueError(
        f"Unknown preset {name!r}: it is not a built-in preset name and no "
        f"folder of that name exists.{hint} Built-in presets: "
        f"{', '.join(known)}. Otherwise pass a local preset folder, a "
        f"'kaggle://owner/model/framework/variation/version' handle or an "
        f"'hf://owner/repo' handle."
    )


def listings():
    """What `cls.presets` returns: canonical name -> metadata and handles."""
    return {name: preset.listing() for name, preset in _BUILTIN_PRESETS.items()}
