"""Full-size hub files with random weights, for the tests that load the
built-in presets or a full-size timm repository through the hub stubs.

Nothing here is committed or downloaded: each builder makes the bytes when
first asked and keeps them for the rest of the process (`functools.cache`),
so a test session builds each file set once. The fixtures that put them on
the stubs are in `tests/keras_hub_compat/conftest.py`.

- `keras_hub_preset_files(depth)`: a KerasHub classifier preset for
  DenseNet-121/169/201 as published under
  `kaggle://keras/densenet/keras/densenet_{depth}_imagenet/3`: the real
  architecture with Keras' random initial weights, a 1000-class head and a
  224x224 ImageNet-normalising image converter, built and saved by keras-hub
  itself (`keras_hub.models.DenseNetImageClassifier.save_to_preset`), so the
  tests read the files KerasHub writes, not this project's imitation of them.
- `timm_repo_files(architecture)`: a timm Hugging Face repository
  (`config.json` + `model.safetensors`) for `densenet121` or `densenet161`,
  with torchvision/timm tensor names and full-size shapes filled with random
  numbers (a valid state dict: BatchNorm running variances are positive).
"""

import functools
import json
import pathlib
import tempfile

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NUM_CLASSES = 1000
KAGGLE_VERSION = 3
COMPRESSION_RATIO = 0.5

# The architectures are written out here, not read from densenet_hub's table
# (densenet_layout.DEPTHS): a reference taken from the code under test would
# agree with it even when both are wrong.
# KerasHub's DenseNet presets: depth -> stackwise_num_repeats (growth 32, stem 64).
KERAS_HUB_REPEATS = {
    121: [6, 12, 24, 16],
    169: [6, 12, 32, 32],
    201: [6, 12, 48, 32],
}
# timm architectures: (stackwise_num_repeats, growth_rate, stem_filters).
TIMM_ARCHITECTURES = {
    "densenet121": ([6, 12, 24, 16], 32, 64),
    "densenet161": ([6, 12, 36, 24], 48, 96),
}
BOTTLENECK_FACTOR = 4


def kaggle_variation(depth):
    """The Kaggle variation path of KerasHub's DenseNet-`depth` preset."""
    return f"keras/densenet/keras/densenet_{depth}_imagenet"


def timm_repo_id(architecture):
    """timm's Hugging Face repository of torchvision's `architecture` weights."""
    return f"timm/{architecture}.tv_in1k"


@functools.cache
def keras_hub_preset_files(depth):
    """`{file name: bytes}` of a KerasHub DenseNet-`depth` classifier preset,
    written by keras-hub."""
    # keras_hub imports TensorFlow; tests/conftest.py has imported torch
    # first, the order this machine needs.
    import keras_hub

    backbone = keras_hub.models.DenseNetBackbone(
        stackwise_num_repeats=KERAS_HUB_REPEATS[depth],
        compression_ratio=COMPRESSION_RATIO,
        growth_rate=32,
    )
    converter = keras_hub.layers.DenseNetImageConverter(
        image_size=(224, 224),
        scale=[1 / (255 * s) for s in IMAGENET_STD],
        offset=[-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
    )
    classifier = keras_hub.models.DenseNetImageClassifier(
        backbone,
        num_classes=NUM_CLASSES,
        preprocessor=keras_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp) / f"densenet_{depth}_imagenet"
        classifier.save_to_preset(str(folder))
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    return files


def torch_tensor_shapes(stackwise_num_repeats, growth_rate, stem_filters, num_classes):
    """`{torch tensor name: shape}` of a torchvision/timm DenseNet state dict
    (BatchNorm `num_batches_tracked` included, as `()`)."""
    shapes = {}

    def conv(name, out_channels, in_channels, size):
        shapes[f"{name}.weight"] = (out_channels, in_channels, size, size)

    def norm(name, channels):
        for suffix in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{suffix}"] = (channels,)
        shapes[f"{name}.num_batches_tracked"] = ()

    conv("features.conv0", stem_filters, 3, 7)
    norm("features.norm0", stem_filters)
    channels = stem_filters
    bottleneck = BOTTLENECK_FACTOR * growth_rate
    for stack, num_repeats in enumerate(stackwise_num_repeats, start=1):
        for block in range(1, num_repeats + 1):
            module = f"features.denseblock{stack}.denselayer{block}"
            norm(f"{module}.norm1", channels)
            conv(f"{module}.conv1", bottleneck, channels, 1)
            norm(f"{module}.norm2", bottleneck)
            conv(f"{module}.conv2", growth_rate, bottleneck, 3)
            channels += growth_rate
        if stack < len(stackwise_num_repeats):
            reduced = int(channels * COMPRESSION_RATIO)
            norm(f"features.transition{stack}.norm", channels)
            conv(f"features.transition{stack}.conv", reduced, channels, 1)
            channels = reduced
    norm("features.norm5", channels)
    shapes["classifier.weight"] = (num_classes, channels)
    shapes["classifier.bias"] = (num_classes,)
    return shapes, channels


def random_torch_state_dict(stackwise_num_repeats, growth_rate, stem_filters, seed=0):
    """Random float32 tensors for every row of densenet_hub's conversion table
    (`mapping_table(..., with_head=True)`), shaped as torch stores them.

    The names come from the table, the shapes from the architecture's
    arithmetic; the two must name the same tensors. Convolutions are
    He-normal, so activations keep a sane scale through 100+ layers.
    """
    from densenet_hub.convert.torch_mapping import mapping_table

    shapes, num_features = torch_tensor_shapes(
        stackwise_num_repeats, growth_rate, stem_filters, NUM_CLASSES
    )
    sources = [row.source for row in mapping_table(stackwise_num_repeats, with_head=True)]
    assert sorted(sources) == sorted(shapes), set(sources) ^ set(shapes)
    rng = np.random.default_rng(seed)
    tensors = {}
    for name in sources:
        shape = shapes[name]
        if name.endswith("num_batches_tracked"):
            value = np.array(0, dtype="int64")
        elif name.endswith("running_var"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("running_mean") or name.endswith(".bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # BatchNorm weight
            value = rng.uniform(0.5, 1.5, shape)
        else:  # conv (out, in, h, w) or linear (out, in)
            fan_in = int(np.prod(shape[1:]))
            value = rng.standard_normal(shape, dtype="float32") * np.sqrt(2.0 / fan_in)
        dtype = "int64" if name.endswith("num_batches_tracked") else "float32"
        tensors[name] = np.ascontiguousarray(value, dtype=dtype)
    return tensors, num_features


def timm_config(architecture, num_features):
    """timm's `config.json` for `{architecture}.tv_in1k`, full size."""
    return {
        "architecture": architecture,
        "num_classes": NUM_CLASSES,
        "num_features": num_features,
        "global_pool": "avg",
        "pretrained_cfg": {
            "tag": "tv_in1k",
            "custom_load": False,
            "input_size": [3, 224, 224],
            "fixed_input_size": False,
            "interpolation": "bicubic",
            "crop_pct": 0.875,
            "crop_mode": "center",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "num_classes": NUM_CLASSES,
            "pool_size": [7, 7],
            "first_conv": "features.conv0",
            "classifier": "classifier",
            "license": "bsd-3-clause",
            "origin_url": "https://github.com/pytorch/vision",
        },
    }


@functools.cache
def timm_repo_files(architecture):
    """`{file name: bytes}` of timm's `{architecture}.tv_in1k` repository,
    random weights."""
    from safetensors.numpy import save_file

    repeats, growth_rate, stem_filters = TIMM_ARCHITECTURES[architecture]
    tensors, num_features = random_torch_state_dict(repeats, growth_rate, stem_filters)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "model.safetensors"
        save_file(tensors, str(path), metadata={"format": "pt"})
        weights = path.read_bytes()
    config = json.dumps(timm_config(architecture, num_features), indent=2).encode()
    return {"config.json": config, "model.safetensors": weights}
