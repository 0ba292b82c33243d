"""DenseNet's built-in presets: name, aliases, handles, config, parameter
count and weights origin of each, in one table.

Stem padding: KerasHub's published `config.json` files have no
`stem_padding` key, which means KerasHub's own padding, so any KerasHub
preset loads with KerasHub's outputs. The built-in presets' weights are
torchvision's, trained with torch's padding, so each entry overrides
`stem_padding` to `TORCH_STEM_PADDING` and reproduces the original torch
model. A `stem_padding=` keyword argument to `from_preset` overrides both,
e.g. `stem_padding="same"` to match KerasHub bit for bit.

DenseNet-161 (stem 96, growth 48) is beyond KerasHub, so it has no KerasHub
preset: its only handle is timm's Hugging Face repository, whose checkpoint
the loader converts when it is loaded.
"""

from densenet_hub.models.densenet.densenet_layout import DEPTHS
from densenet_hub.models.densenet.densenet_layout import TORCH_STEM_PADDING
from densenet_hub.presets.builtin import BuiltinPreset
from densenet_hub.presets.builtin import register_builtin_presets

KAGGLE_VERSION = 3
PATH = "densenet"


def _keras_hub_preset(depth, parameter_count):
    name = f"densenet_{depth}_imagenet"
    return BuiltinPreset(
        name=name,
        aliases=(f"densenet{depth}_imagenet",),
        handles=(
            f"kaggle://keras/densenet/keras/{name}/{KAGGLE_VERSION}",
            f"hf://keras/{name}",
        ),
        config={
            "stackwise_num_repeats": list(DEPTHS[depth].stackwise_num_repeats),
            "compression_ratio": 0.5,
            "growth_rate": DEPTHS[depth].growth_rate,
        },
        overrides={"stem_padding": TORCH_STEM_PADDING},
        parameter_count=parameter_count,
        description=(
            f"{depth}-layer DenseNet pre-trained on ImageNet-1k at 224x224, "
            "with a 1000-class head."
        ),
        weights_origin=(
            f"torchvision densenet{depth} ImageNet-1k weights (timm "
            f"densenet{depth}.tv_in1k) as converted and published by KerasHub."
        ),
        path=PATH,
    )


DENSENET_PRESETS = (
    _keras_hub_preset(121, 7_037_504),
    BuiltinPreset(
        name="densenet_161_imagenet",
        aliases=("densenet161_imagenet",),
        handles=("hf://timm/densenet161.tv_in1k",),
        config={
            "stackwise_num_repeats": list(DEPTHS[161].stackwise_num_repeats),
            "compression_ratio": 0.5,
            "growth_rate": DEPTHS[161].growth_rate,
            "stem_filters": DEPTHS[161].stem_filters,
        },
        overrides={"stem_padding": TORCH_STEM_PADDING},
        parameter_count=26_691_936,
        description=(
            "161-layer DenseNet (stem 96, growth rate 48) pre-trained on "
            "ImageNet-1k at 224x224, with a 1000-class head; not in KerasHub."
        ),
        weights_origin=(
            "torchvision densenet161 ImageNet-1k weights (timm "
            "densenet161.tv_in1k), converted from timm's checkpoint on load."
        ),
        path=PATH,
    ),
    _keras_hub_preset(169, 12_642_880),
    _keras_hub_preset(201, 18_321_984),
)

register_builtin_presets(*DENSENET_PRESETS)
