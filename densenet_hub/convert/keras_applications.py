"""keras.applications DenseNet weight files -> DenseNetBackbone + Dense head.

Two layouts are read:

- Keras 3 `.weights.h5` (`model.save_weights`): groups
  `layers/<snake_case class>[_<n>]/vars/<i>`, numbered per class in graph
  order.
- Legacy `.h5` (Keras 2 / tf.keras `save_weights`, the published
  keras.applications weight files, and Keras 3 `model.save("x.h5")`): the
  root (or `model_weights`) attribute `layer_names` lists the layers in graph
  order, and each layer group's `weight_names` its variables in order. A
  full-model file's `optimizer_weights` are not read.

keras.applications builds its layers in the same order as DenseNetBackbone
(stem conv and BN, then per conv block BN, 1x1 conv, BN, 3x3 conv, then per
transition BN and conv, the final BN, and the `predictions` Dense), so the
n-th layer of a kind in the file maps onto the n-th layer of that kind in the
model: the positional rule Keras' own loader uses. Unlike Keras' loader,
every variable must be used and every variable set. Kernels are HWIO in both,
so nothing is transposed. The architecture is read from the kernel shapes.
"""

import re

from densenet_hub.convert.mapping import MappingRow
from densenet_hub.models.densenet import densenet_layout as layout
from densenet_hub.convert.mapping import as_is
from densenet_hub.presets.weights import hard_linked_datasets
from densenet_hub.presets.weights import open_weights_file

# Largest tensor read, in elements: a 21k-class head on DenseNet-201 has
# 42M; anything far beyond is a decompression or shape bomb.
MAX_TENSOR_ELEMENTS = 1 << 27
KERAS3_VARIABLE = re.compile(
    r"^layers/(?P<group>[a-z0-9_]+?)(?:_(?P<index>\d+))?/vars/(?P<var>\d+)$"
)
# Kinds of layer with weights, told apart by the ranks of their variables.
VARIABLE_RANKS = {(4,): "conv", (1, 1, 1, 1): "batch_norm", (2, 1): "dense"}
LAYER_KINDS = {"Conv2D": "conv", "BatchNormalization": "batch_norm", "Dense": "dense"}


def read_keras_weights(path):
    """The weights of a Keras DenseNet file, grouped by kind of layer.

    Args:
        path: a `.weights.h5` or legacy `.h5` file.

    Returns:
        `(layers, tensors)`: `layers` maps `"conv"`, `"batch_norm"` and
        `"dense"` to lists of layers in graph order, each layer a list of
        dataset paths in its variable order; `tensors` maps every dataset
        path in the file to a float32 array, so that datasets belonging to
        no layer are reported by the strict key check.
    """
    h5_file = open_weights_file(path)
    try:
        datasets = hard_linked_datasets(h5_file, path)
        if "model_weights" in h5_file:
            # A full-model file: the optimizer's state sits beside the weights.
            datasets = {
                key: value
                for key, value in datasets.items()
                if key.startswith("model_weights/")
            }
        if "layer_names" in h5_file.attrs or "model_weights" in h5_file:
            layers = _legacy_layers(h5_file, datasets, path)
        else:
            layers = _keras3_layers(datasets, path)
        tensors = {key: _read(path, key, dataset) for key, dataset in datasets.items()}
    finally:
        h5_file.close()
    by_kind = {kind: [] for kind in LAYER_KINDS.values()}
    for keys in layers:
        by_kind[_kind(path, keys, [tensors[key].shape for key in keys])].append(keys)
    return by_kind, tensors


def _kind(path, keys, shapes):
    """The kind of layer its variable shapes identify."""
    ranks = tuple(len(shape) for shape in shapes)
    kind = VARIABLE_RANKS.get(ranks)
    if kind is None:
        raise ValueError(
            f"{path}: the layer holding {keys} has variables of shapes "
            f"{shapes}, which is no DenseNet layer (a 4-D conv kernel, four "
            f"BatchNorm vectors, or a Dense kernel and bias)."
        )
    return kind


def _keras3_layers(datasets, path):
    groups = {}
    for key in datasets:
        match = KERAS3_VARIABLE.match(key)
        if match is None:
            continue
        order = (match["group"], int(match["index"] or 0))
        groups.setdefault(order, []).append((int(match["var"]), key))
    if not groups:
        raise ValueError(
            f"{path}: no `layers/<layer>/vars/<n>` datasets and no "
            f"`layer_names` attribute, so this is not a Keras weight file. "
            f"Save the model with model.save_weights('x.weights.h5')."
        )
    return [[key for _, key in sorted(groups[order])] for order in sorted(groups)]


def _legacy_layers(h5_file, datasets, path):
    root = h5_file["model_weights"] if "model_weights" in h5_file else h5_file
    prefix = "model_weights/" if root is not h5_file else ""
    layers = []
    for layer_name in _text_list(root.attrs.get("layer_names", ()), path):
        group = root.get(layer_name)
        names = group.attrs.get("weight_names", ()) if group is not None else ()
        weight_names = _text_list(names, path)
        keys = [f"{prefix}{layer_name}/{name}" for name in weight_names]
        absent = [key for key in keys if key not in datasets]
        if absent:
            raise ValueError(
                f"{path}: layer {layer_name!r} lists weights {absent} that the "
                f"file does not contain. The file is truncated or corrupt."
            )
        if keys:
            layers.append(keys)
    return layers


def _text_list(values, path):
    try:
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]
    except (TypeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: unreadable layer or weight names ({error}).") from None


def _read(path, key, dataset):
    if dataset.size > MAX_TENSOR_ELEMENTS:
        raise ValueError(
            f"{path}: dataset {key!r} has shape {dataset.shape} "
            f"({dataset.size} elements), more than any DenseNet weight "
            f"({MAX_TENSOR_ELEMENTS}). The file is not a DenseNet weight file."
        )
    if dataset.dtype.kind != "f":
        raise ValueError(
            f"{path}: dataset {key!r} has dtype {dataset.dtype}, expected "
            f"float weights. The file is not a weight file."
        )
    return dataset[()].astype("float32", copy=False)


def infer_keras_architecture(layers, tensors, source):
    """Read the DenseNet architecture from the conv kernels of a Keras file.

    A conv block is a 1x1 conv followed by a 3x3 conv; a transition is a 1x1
    conv followed by another 1x1 conv (the next block's).

    Args:
        layers, tensors: from `read_keras_weights`.
        source: the file's name, for messages.

    Returns:
        `(backbone_kwargs, num_classes)` as `infer_torch_architecture` does.
    """
    kernels = [tensors[keys[0]].shape for keys in layers["conv"]]
    if not kernels or kernels[0][:2] != (layout.STEM_KERNEL_SIZE,) * 2:
        raise ValueError(
            f"{source}: the first convolution kernel is {kernels[:1]}, expected "
            f"a 7x7 stem (7, 7, channels, filters). The file is not a "
            f"keras.applications DenseNet."
        )
    repeats = _dense_block_sizes(kernels[1:], source)
    heads = layers["dense"]
    backbone_kwargs = {
        "stackwise_num_repeats": repeats,
        "growth_rate": int(kernels[2][3]),
        "stem_filters": int(kernels[0][3]),
        "image_shape": (None, None, int(kernels[0][2])),
    }
    return backbone_kwargs, int(tensors[heads[0][0]].shape[1]) if heads else None


def _dense_block_sizes(kernels, source):
    sizes = [0]
    index = 0
    while index < len(kernels):
        window = kernels[index][:2]
        follows = kernels[index + 1][:2] if index + 1 < len(kernels) else None
        if window == (1, 1) and follows == (3, 3):
            sizes[-1] += 1
            index += 2
        elif window == (1, 1) and follows == (1, 1) and sizes[-1]:
            sizes.append(0)
            index += 1
        else:
            raise ValueError(
                f"{source}: convolution {index + 2} has a {window} kernel "
                f"followed by {follows}, which fits neither a DenseNet conv "
                f"block (1x1 then 3x3) nor a transition (1x1 then the next "
                f"block's 1x1). The file is not a DenseNet."
            )
    if not sizes[-1]:
        raise ValueError(f"{source}: the last dense block has no conv block.")
    return sizes


def keras_mapping_table(layers, model_layers):
    """One `MappingRow` per variable: the n-th source layer of each kind onto
    the n-th model layer of that kind, variables in order, values as they are.

    Args:
        layers: from `read_keras_weights`.
        model_layers: the model's layers that own weights, in graph order.
    """
    targets = {kind: [] for kind in LAYER_KINDS.values()}
    for layer in model_layers:
        targets[LAYER_KINDS[type(layer).__name__]].append(layer)
    return [
        MappingRow(key, f"{layer.name}/{variable.name}", as_is)
        for kind, sources in layers.items()
        for keys, layer in zip(sources, targets[kind])
        for key, variable in zip(keys, layer.weights)
    ]
