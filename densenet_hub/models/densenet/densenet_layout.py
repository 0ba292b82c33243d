"""DenseNet's layer names and fixed numbers: the one place that spells them.

The names are KerasHub's (`keras_hub.models.DenseNetBackbone`), so weight
files interchange. The backbone builds its layers with these names; the
converters map checkpoints onto them, the memory-efficient pass runs layers
by them and the model-parallel layout splits variables by them.

Stem padding: the torch models the public weights come from (torchvision,
timm) pad the 7x7/2 stem convolution by 3 and the 3x3/2 max pool by 1 on
every side (`TORCH_STEM_PADDING`, "symmetric"); KerasHub's backbone uses
Keras' "same" padding (`KERAS_HUB_STEM_PADDING`), asymmetric on even input
sizes. The rule: a backbone built from arguments, and a config without the
key (every KerasHub file), is KerasHub's; whatever loads torch-trained
weights (the built-in presets, `hf://timm/...`, every converter) sets
`TORCH_STEM_PADDING` explicitly.
"""

import typing

BN_EPSILON = 1.001e-5
BOTTLENECK_FACTOR = 4
STEM_KERNEL_SIZE = 7
# The backbone's defaults and KerasHub's only stem width.
DEFAULT_GROWTH_RATE = 32
DEFAULT_STEM_FILTERS = 64


class Depth(typing.NamedTuple):
    """A DenseNet of the literature: dense layers per dense block, growth
    rate and stem filters.

    Example:
    ```python
    from densenet_hub.models.densenet.densenet_layout import DEPTHS

    assert DEPTHS[161].config() == {
        "stackwise_num_repeats": [6, 12, 36, 24], "growth_rate": 48, "stem_filters": 96
    }
    ```
    """

    stackwise_num_repeats: tuple
    growth_rate: int = DEFAULT_GROWTH_RATE
    stem_filters: int = DEFAULT_STEM_FILTERS

    def config(self):
        """Its `DenseNetBackbone` arguments, the repeats as a new list."""
        return {
            "stackwise_num_repeats": list(self.stackwise_num_repeats),
            "growth_rate": self.growth_rate,
            "stem_filters": self.stem_filters,
        }

    @property
    def default_widths(self):
        """Whether it has the backbone's default growth rate and stem, as
        every DenseNet KerasHub and keras.applications build does."""
        return (self.growth_rate, self.stem_filters) == (DEFAULT_GROWTH_RATE, DEFAULT_STEM_FILTERS)


# DenseNet-`depth` -> its `Depth`, the one table of them. DenseNet-264 is the
# paper's largest, with no public weights.
DEPTHS = {
    121: Depth((6, 12, 24, 16)),
    161: Depth((6, 12, 36, 24), growth_rate=48, stem_filters=96),
    169: Depth((6, 12, 32, 32)),
    201: Depth((6, 12, 48, 32)),
    264: Depth((6, 12, 64, 48)),
}

TORCH_STEM_PADDING = "symmetric"
KERAS_HUB_STEM_PADDING = "same"
STEM_PADDINGS = (TORCH_STEM_PADDING, KERAS_HUB_STEM_PADDING)
# `DenseNetBackbone(...)`'s default: built from arguments, it is KerasHub's.
DEFAULT_STEM_PADDING = KERAS_HUB_STEM_PADDING

STEM_CONV = "conv1_conv"
STEM_BN = "conv1_bn"
STEM_RELU = "conv1_relu"
STEM_CONV_PAD = "conv1_pad"
STEM_POOL_PAD = "pool1_pad"
STEM_POOL = "pool1"
FINAL_BN = "bn"
FINAL_RELU = "relu"

# A dense layer `stack{s}_block{b}`: BN-ReLU-Conv(1x1)-BN-ReLU-Conv(3x3), concat.
DENSE_LAYER_SUFFIXES = ("_1_bn", "_1_relu", "_1_conv", "_2_bn", "_2_relu", "_2_conv")
CONCAT_SUFFIX = "_concat"
# A transition `transition{s}`: BN-ReLU-Conv(1x1)-AveragePool.
TRANSITION_SUFFIXES = ("_bn", "_relu", "_conv", "_pool")
# Any dense layer's name prefix, inside a nested model's path too.
DENSE_LAYER_PATTERN = r"(.*/)?stack[0-9]+_block[0-9]+"


def dense_layer(stack, block):
    """The name prefix of block `block` of dense block `stack` (both from 1)."""
    return f"stack{stack}_block{block}"


def transition(stack):
    """The name prefix of the transition after dense block `stack`."""
    return f"transition{stack}"


def stem_layers(stem_padding):
    """The stem's layer names in order, for `stem_padding`."""
    if stem_padding == TORCH_STEM_PADDING:
        return (STEM_CONV_PAD, STEM_CONV, STEM_BN, STEM_RELU, STEM_POOL_PAD, STEM_POOL)
    return (STEM_CONV, STEM_BN, STEM_RELU, STEM_POOL)
