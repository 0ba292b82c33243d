"""torchvision / timm DenseNet state dicts -> DenseNetBackbone + Dense head.

torchvision's and timm's DenseNets share their tensor names:
`features.conv0`, `features.norm0`,
`features.denseblock{s}.denselayer{b}.{norm1,conv1,norm2,conv2}`,
`features.transition{s}.{norm,conv}`, `features.norm5` and `classifier`.
The architecture is read from the tensor shapes, never from a file name;
`mapping_table` then lists one row per tensor (see `mapping.MappingRow`).
"""

import re

from densenet_hub.convert.mapping import MappingRow
from densenet_hub.convert.mapping import as_is
from densenet_hub.convert.mapping import oihw_to_hwio
from densenet_hub.convert.mapping import out_in_to_in_out
from densenet_hub.models.densenet import densenet_layout as layout
from densenet_hub.models.image_classifier import PREDICTIONS_LAYER

TORCH_BN_EPSILON = 1e-5
STEM_KEY = "features.conv0.weight"
# Pre-0.4 torchvision checkpoints name dense-layer modules `norm.1`, `conv.2`, ...
LEGACY_LAYER_NAME = re.compile(r"(\.denselayer\d+\.)(norm|relu|conv)\.([12])\.")
# A head wrapped as nn.Sequential(nn.Linear, activation), as in CheXNet.
SEQUENTIAL_HEAD = re.compile(r"^classifier\.0\.(weight|bias)$")


def fold_bn_epsilon(running_var):
    """BatchNorm variance: torch eps 1e-5 -> Keras eps 1.001e-5.

    Both compute `(x - mean) / sqrt(var + eps)`. Keras' layers use
    1.001e-5, so `var + 1e-5 - 1.001e-5` keeps `var + eps` exactly what
    torch used. Without this the scale of a channel would shift by a relative
    `0.5e-8 / (var + 1e-5)`: 5e-9 at var 1, but 2.5e-4 at var 1e-5, which
    trained networks do have.
    """
    return running_var + (TORCH_BN_EPSILON - layout.BN_EPSILON)


# Each torch module kind: (tensor suffix, Keras variable, transform).
BATCH_NORM_ROWS = (
    ("weight", "gamma", as_is),
    ("bias", "beta", as_is),
    ("running_mean", "moving_mean", as_is),
    ("running_var", "moving_variance", fold_bn_epsilon),
    # A training-step counter that Keras' BatchNorm has no use for: expected,
    # ignored, and allowed to be absent (pre-0.4 checkpoints lack it).
    ("num_batches_tracked", None, None),
)
CONV_ROWS = (("weight", "kernel", oihw_to_hwio),)
LINEAR_ROWS = (("weight", "kernel", out_in_to_in_out), ("bias", "bias", as_is))


def normalize_torch_keys(tensors):
    """Strip a wrapper prefix and modernise legacy names.

    The prefix is whatever precedes `features.conv0.weight` (`module.` from
    DataParallel, `module.densenet121.` from CheXNet, ...); every key must
    carry it. Legacy `norm.1`/`conv.2` become `norm1`/`conv2`, and a head
    saved as `classifier.0.*` (Linear inside a Sequential) becomes
    `classifier.*`. Keys that fit none of this are kept as they are, so the
    strict key check reports them.

    Args:
        tensors: dict of checkpoint key -> array.

    Returns:
        a new dict with normalized keys.
    """
    stems = [key for key in tensors if key.endswith(STEM_KEY)]
    prefix = stems[0][: -len(STEM_KEY)] if len(stems) == 1 else ""
    normalized = {}
    for key, value in tensors.items():
        if prefix and key.startswith(prefix):
            key = key[len(prefix):]
        key = LEGACY_LAYER_NAME.sub(r"\1\2\3.", key)
        key = SEQUENTIAL_HEAD.sub(r"classifier.\1", key)
        normalized[key] = value
    return normalized


def infer_torch_architecture(tensors, source):
    """Read the DenseNet architecture from normalized tensor shapes.

    Args:
        tensors: dict from `normalize_torch_keys`.
        source: the checkpoint's name, for messages.

    Returns:
        `(backbone_kwargs, num_classes)`: keyword arguments for
        `DenseNetBackbone` (`stackwise_num_repeats`, `growth_rate`,
        `stem_filters`, `image_shape`) and the head's class count, or `None`
        when the checkpoint has no `classifier`.
    """
    stem = tensors.get(STEM_KEY)
    if stem is None or stem.ndim != 4:
        raise ValueError(
            f"{source}: no 4-D {STEM_KEY!r} tensor, so this is not a "
            f"torchvision/timm DenseNet state dict. First keys: "
            f"{sorted(tensors)[:5]}."
        )
    if stem.shape[2:] != (layout.STEM_KERNEL_SIZE, layout.STEM_KERNEL_SIZE):
        raise ValueError(
            f"{source}: the stem convolution is {stem.shape[2]}x{stem.shape[3]}, "
            f"expected 7x7. Deep-stem DenseNets (timm densenetblur121d, "
            f"densenet264d) cannot be expressed by DenseNetBackbone."
        )
    repeats = _count_dense_layers(tensors)
    if not repeats:
        raise ValueError(
            f"{source}: no 'features.denseblock1.denselayer1.conv2.weight' "
            f"tensor, so the dense blocks cannot be read."
        )
    growth_rate = tensors["features.denseblock1.denselayer1.conv2.weight"].shape[0]
    # An absent tensor is left for the strict key check to report.
    bottleneck = tensors.get("features.denseblock1.denselayer1.conv1.weight")
    bottleneck = None if bottleneck is None else bottleneck.shape[0]
    if bottleneck is not None and bottleneck != layout.BOTTLENECK_FACTOR * growth_rate:
        raise ValueError(
            f"{source}: the bottleneck convolution has {bottleneck} filters for "
            f"growth rate {growth_rate}, i.e. bn_size {bottleneck / growth_rate:g}; "
            f"DenseNetBackbone supports bn_size {layout.BOTTLENECK_FACTOR} only."
        )
    classifier = tensors.get("classifier.weight")
    backbone_kwargs = {
        "stackwise_num_repeats": repeats,
        "growth_rate": int(growth_rate),
        "stem_filters": int(stem.shape[0]),
        "image_shape": (None, None, int(stem.shape[1])),
    }
    return backbone_kwargs, None if classifier is None else int(classifier.shape[0])


def _count_dense_layers(tensors):
    repeats = []
    while _has_dense_layer(tensors, len(repeats) + 1, 1):
        count = 1
        while _has_dense_layer(tensors, len(repeats) + 1, count + 1):
            count += 1
        repeats.append(count)
    return repeats


def _has_dense_layer(tensors, stack, block):
    return f"features.denseblock{stack}.denselayer{block}.conv2.weight" in tensors


def mapping_table(stackwise_num_repeats, with_head):
    """One `MappingRow` per torch tensor of a DenseNet.

    Args:
        stackwise_num_repeats: conv blocks per dense block.
        with_head: whether the checkpoint's `classifier` maps onto the
            classifier's `predictions` Dense layer.

    Returns:
        list of `MappingRow`.

    Example:
    ```python
    from densenet_hub.convert.torch_mapping import mapping_table

    rows = mapping_table([2, 2], with_head=True)
    assert ("classifier.weight", "predictions/kernel") in [r[:2] for r in rows]
    ```
    """
    return [
        MappingRow(f"{module}.{suffix}", variable and f"{layer}/{variable}", transform)
        for module, layer, kind in _module_pairs(stackwise_num_repeats, with_head)
        for suffix, variable, transform in kind
    ]


def _module_pairs(stackwise_num_repeats, with_head):
    """(torch module, Keras layer, row kind) in the backbone's layer order."""
    yield "features.conv0", layout.STEM_CONV, CONV_ROWS
    yield "features.norm0", layout.STEM_BN, BATCH_NORM_ROWS
    for stack, num_repeats in enumerate(stackwise_num_repeats, start=1):
        for block in range(1, num_repeats + 1):
            module = f"features.denseblock{stack}.denselayer{block}"
            bn1, _, conv1, bn2, _, conv2 = (
                layout.dense_layer(stack, block) + suffix
                for suffix in layout.DENSE_LAYER_SUFFIXES
            )
            yield f"{module}.norm1", bn1, BATCH_NORM_ROWS
            yield f"{module}.conv1", conv1, CONV_ROWS
            yield f"{module}.norm2", bn2, BATCH_NORM_ROWS
            yield f"{module}.conv2", conv2, CONV_ROWS
        if stack < len(stackwise_num_repeats):
            module = f"features.transition{stack}"
            bn, _, conv, _ = (
                layout.transition(stack) + suffix for suffix in layout.TRANSITION_SUFFIXES
            )
            yield f"{module}.norm", bn, BATCH_NORM_ROWS
            yield f"{module}.conv", conv, CONV_ROWS
    yield "features.norm5", layout.FINAL_BN, BATCH_NORM_ROWS
    if with_head:
        yield "classifier", PREDICTIONS_LAYER, LINEAR_ROWS
