"""The table of built-in presets: the one place where their names, handles,
configs and checked facts live.

Stem padding of the built-ins: KerasHub's published `config.json` files have
no `stem_padding` key, and a config without it means `"same"`, KerasHub's own
padding, so any KerasHub preset loads with KerasHub's outputs. The built-in
presets' weights are torchvision's, trained with symmetric padding, so their
entries below override `stem_padding` to `"symmetric"` and reproduce the
original torch model. A `stem_padding=` keyword argument to `from_preset`
overrides both, e.g. `stem_padding="same"` to match KerasHub bit for bit.

DenseNet-161 (stem 96, growth 48) is beyond KerasHub, so it has no KerasHub
preset: its only handle is timm's Hugging Face repository, whose checkpoint
the loader converts when it is loaded.
"""

import copy
import dataclasses
import difflib

KAGGLE_VERSION = 3


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

    Example:
    ```python
    from densenet_hub.presets.registry import find_builtin

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

    def listing(self):
        """The entry `cls.presets` shows for this preset, in KerasHub's shape:
        `kaggle_handle` is KerasHub's key for the first handle, whatever its
        scheme; `hf_handle` is the Hugging Face one; `handles` lists all."""
        return {
            "metadata": {
                "description": self.description,
                "params": self.parameter_count,
                "path": "densenet",
                "aliases": list(self.aliases),
                "weights_origin": self.weights_origin,
                "config": copy.deepcopy(self.config),
                "overrides": dict(self.overrides),
            },
            "kaggle_handle": self.handles[0],
            "hf_handle": self.handles[-1],
            "handles": list(self.handles),
        }


def _densenet(depth, stackwise_num_repeats, parameter_count):
    name = f"densenet_{depth}_imagenet"
    return BuiltinPreset(
        name=name,
        aliases=(f"densenet{depth}_imagenet",),
        handles=(
            f"kaggle://keras/densenet/keras/{name}/{KAGGLE_VERSION}",
            f"hf://keras/{name}",
        ),
        config={
            "stackwise_num_repeats": stackwise_num_repeats,
            "compression_ratio": 0.5,
            "growth_rate": 32,
        },
        overrides={"stem_padding": "symmetric"},
        parameter_count=parameter_count,
        description=(
            f"{depth}-layer DenseNet pre-trained on ImageNet-1k at 224x224, "
            "with a 1000-class head."
        ),
        weights_origin=(
            f"torchvision densenet{depth} ImageNet-1k weights (timm "
            f"densenet{depth}.tv_in1k) as converted and published by KerasHub."
        ),
    )


def _densenet_161():
    return BuiltinPreset(
        name="densenet_161_imagenet",
        aliases=("densenet161_imagenet",),
        handles=("hf://timm/densenet161.tv_in1k",),
        config={
            "stackwise_num_repeats": [6, 12, 36, 24],
            "compression_ratio": 0.5,
            "growth_rate": 48,
            "stem_filters": 96,
        },
        overrides={"stem_padding": "symmetric"},
        parameter_count=26_691_936,
        description=(
            "161-layer DenseNet (stem 96, growth rate 48) pre-trained on "
            "ImageNet-1k at 224x224, with a 1000-class head; not in KerasHub."
        ),
        weights_origin=(
            "torchvision densenet161 ImageNet-1k weights (timm "
            "densenet161.tv_in1k), converted from timm's checkpoint on load."
        ),
    )


BUILTIN_PRESETS = (
    _densenet(121, [6, 12, 24, 16], 7_037_504),
    _densenet_161(),
    _densenet(169, [6, 12, 32, 32], 12_642_880),
    _densenet(201, [6, 12, 48, 32], 18_321_984),
)


def _all_names():
    names = {}
    for preset in BUILTIN_PRESETS:
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
    known = sorted(preset.name for preset in BUILTIN_PRESETS)
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
    return {preset.name: preset.listing() for preset in BUILTIN_PRESETS}
