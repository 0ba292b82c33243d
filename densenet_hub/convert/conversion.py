"""One-call conversion of torchvision, timm and keras.applications DenseNet
checkpoints into densenet_hub models and presets, and of timm folders, in
memory, for `from_preset` (registered with `presets.sources`)."""

import hashlib
import os
import pathlib

from densenet_hub.base import file_names as names
from densenet_hub.convert.keras_applications import infer_keras_architecture
from densenet_hub.convert.keras_applications import keras_mapping_table
from densenet_hub.convert.keras_applications import read_keras_weights
from densenet_hub.convert.mapping import apply_mapping
from densenet_hub.convert.mapping import mapped_values
from densenet_hub.convert.torch_mapping import infer_torch_architecture
from densenet_hub.convert.torch_mapping import mapping_table
from densenet_hub.convert.torch_mapping import normalize_torch_keys
from densenet_hub.convert.torch_state_dict import CHECKPOINT_SUFFIXES
from densenet_hub.convert.torch_state_dict import PICKLE_SUFFIXES
from densenet_hub.convert.torch_state_dict import SAFETENSORS_SUFFIXES
from densenet_hub.convert.torch_state_dict import load_torch_state_dict
from densenet_hub.models.densenet import DenseNetBackbone
from densenet_hub.models.densenet import DenseNetImageClassifier
from densenet_hub.models.densenet import DenseNetImageClassifierPreprocessor
from densenet_hub.models.densenet import DenseNetImageConverter
from densenet_hub.models.densenet.densenet_config import backbone_size
from densenet_hub.models.densenet.densenet_layout import TORCH_STEM_PADDING
from densenet_hub.models.image_classifier import PREDICTIONS_LAYER
from densenet_hub.preprocessing.eval_transform import EvalTransform
from densenet_hub.presets import files
from densenet_hub.presets import schema
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.base.json_files import read_json
from densenet_hub.presets.contents import ConvertedPreset
from densenet_hub.presets.saver import object_reference
from densenet_hub.presets.saver import save_preset
from densenet_hub.presets.sources import register_source
from densenet_hub.base.choices import SOURCE_FORMATS

KERAS_SUFFIXES = (".h5",)
# timm architectures whose weights DenseNetBackbone expresses; deep-stem and
# blur-pool variants (densenetblur121d, densenet264d) are not among them.
TIMM_ARCHITECTURES = ("densenet121", "densenet161", "densenet169", "densenet201")
# keras.applications' default `classifier_activation`.
KERAS_APPLICATIONS_ACTIVATION = "softmax"
# torchvision, timm and keras.applications all halve the channels at each
# transition.
COMPRESSION_RATIO = 0.5
HASH_CHUNK_BYTES = 1 << 20
FLOAT32_BYTES = 4
# How many times the values a checkpoint holds its inferred model may have:
# above this it is refused unbuilt; up to it, the strict key and shape checks
# name each missing tensor.
MAX_SIZE_OVER_VALUES = 2


def load_checkpoint(source, source_format=None, activation=None):
    """Build a densenet_hub model from a torchvision, timm or Keras checkpoint.

    The architecture (block sizes, growth rate, stem width, input channels,
    class count) is read from the checkpoint's tensors, never from its name.
    Every tensor must be used and every variable set, or a `ValueError`
    lists the missing and unexpected keys. The backbone pads its stem
    symmetrically, as the source frameworks do. The preprocessor reproduces
    the source's eval transform, including the centre crop of torchvision
    and timm (resize the shorter side, then crop `crop_pct` of it).

    Args:
        source: a `.pth`/`.pt`/`.bin`/`.ckpt` or `.safetensors` state dict
            (torchvision or timm), a keras.applications `.h5`/`.weights.h5`
            file, or a folder downloaded from a Hugging Face timm repository
            (`config.json` + `model.safetensors`).
        source_format: `"torchvision"`, `"timm"` or `"keras_applications"`;
            `None` picks it from the file (torch files count as torchvision).
            It selects the preprocessor's eval transform.
        activation: the head's activation. `None` uses the source's own:
            logits for torch checkpoints, `"softmax"` for keras.applications.
            Pass e.g. `"sigmoid"` for a multi-label head such as CheXNet's,
            or `"linear"` for logits from a keras.applications file.

    Returns:
        a `DenseNetImageClassifier` with a preprocessor when the checkpoint
        has a head, else a `DenseNetBackbone`.

    Example:
    ```python
    import pathlib, tempfile
    from densenet_hub.convert import load_checkpoint
    from densenet_hub.models import DenseNetBackbone

    source = DenseNetBackbone([2, 2], growth_rate=4, image_shape=(32, 32, 3))
    path = pathlib.Path(tempfile.mkdtemp()) / "tiny.weights.h5"
    source.save_weights(path)
    converted = load_checkpoint(path)
    assert converted.stackwise_num_repeats == [2, 2]
    ```
    """
    model, _ = _load(pathlib.Path(os.fspath(source)), source_format, activation)
    return model


def convert(
    source, out_preset_dir, source_format=None, activation=None, overwrite=False,
    class_names=None, thresholds=None,
):  # fmt: skip
    """Convert a checkpoint (see `load_checkpoint`) into a preset folder.

    The preset is a classifier preset (backbone, head, preprocessor) when the
    checkpoint has a head, else a backbone preset (without a preprocessor).
    Its `metadata.json` names the source file, its sha256, its format and its
    eval transform under `converted_from`.

    Args:
        source: as for `load_checkpoint`.
        out_preset_dir: the folder to write; it must be new or empty unless
            `overwrite`.
        source_format, activation: as for `load_checkpoint`.
        overwrite: replace an existing preset folder.
        class_names: `None`, or one name per output of the checkpoint's
            head, saved beside the preset (`class_names.json`) so that
            `predict` and `evaluate` name the outputs.
        thresholds: `None`, or one decision threshold per class (a
            multi-label head's, e.g. a CheXNet checkpoint's), saved in
            `multi_label.json`; needs `class_names`.

    Returns:
        the preset folder as a `pathlib.Path`; load it with
        `densenet_hub.models.DenseNetImageClassifier.from_preset`.

    Example:
    ```python
    import json, pathlib, tempfile
    from densenet_hub.convert import convert
    from densenet_hub.models import DenseNetBackbone

    work = pathlib.Path(tempfile.mkdtemp())
    source = DenseNetBackbone([2, 2], growth_rate=4, image_shape=(32, 32, 3))
    source.save_weights(work / "tiny.weights.h5")
    preset = convert(work / "tiny.weights.h5", work / "preset")
    metadata = json.loads((preset / "metadata.json").read_text())
    assert metadata["converted_from"]["format"] == "keras_applications"
    ```
    """
    path = pathlib.Path(os.fspath(source))
    source_format = source_format or _detect_format(path)
    model, transform = _load(path, source_format, activation)
    labels = _class_labels(model, class_names, thresholds)
    weights_file = path / names.TIMM_WEIGHTS_FILE if path.is_dir() else path
    out = pathlib.Path(os.fspath(out_preset_dir))
    converted_from = {
        "file": weights_file.name,
        "sha256": _sha256(weights_file),
        "format": source_format,
        "eval_transform": transform.describe(),
    }
    save_preset(model, out, overwrite=overwrite, metadata={"converted_from": converted_from},
                extra_files=None if labels is None else labels.files())  # fmt: skip
    return out


def _class_labels(model, class_names, thresholds):
    """The `ClassLabels` to save with the converted `model`, or `None`."""
    if class_names is None:
        if thresholds is not None:
            raise ValueError(
                "convert: `thresholds` were given without `class_names`; name the "
                "classes too (e.g. class_names='chestxray14' on the command line)."
            )
        return None
    outputs = getattr(model, "num_classes", None)
    if outputs is None:
        raise ValueError(
            f"convert: {len(class_names)} class names were given, but the checkpoint "
            "has no classification head; leave the class names out."
        )
    if len(class_names) != outputs:
        raise ValueError(
            f"convert: {len(class_names)} class names for a head with {outputs} "
            f"outputs; give {outputs} names, one per output in order."
        )
    rule = None if thresholds is None else "given at conversion"
    return ClassLabels(class_names, thresholds, rule)


def _load(path, source_format, activation):
    """`(model, the source's EvalTransform)` for `load_checkpoint`."""
    source_format = source_format or _detect_format(path)
    if source_format not in SOURCE_FORMATS:
        raise ValueError(
            f"`source_format` must be one of {', '.join(SOURCE_FORMATS)} or "
            f"None, got {source_format!r}."
        )
    if source_format == "keras_applications":
        return _from_keras(path, activation)
    if path.is_dir():
        return _from_timm_folder(path, activation)
    if source_format == "timm":
        return _from_torch(path, EvalTransform.timm(), activation)
    return _from_torch(path, EvalTransform.torchvision(), activation)


def _detect_format(path):
    if path.is_dir():
        return "timm"
    if path.name.endswith(KERAS_SUFFIXES):
        return "keras_applications"
    if path.name.endswith(PICKLE_SUFFIXES + SAFETENSORS_SUFFIXES):
        return "torchvision"
    raise ValueError(
        f"Cannot tell the format of {str(path)!r}: expected a torch state dict "
        f"({CHECKPOINT_SUFFIXES}), a Keras "
        f"weight file (.h5, .weights.h5) or a timm folder with "
        f"{names.CONFIG_FILE} and {names.TIMM_WEIGHTS_FILE}. Fix: name the format: "
        f"`source_format=` one of {', '.join(SOURCE_FORMATS)} in Python, "
        "`--format` in `densenet-hub convert`."
    )


def _from_torch(path, transform, activation):
    tensors, backbone_kwargs, num_classes = _read_torch(path)
    model, layers = _build(backbone_kwargs, num_classes, transform, activation)
    repeats = backbone_kwargs["stackwise_num_repeats"]
    rows = mapping_table(repeats, with_head=num_classes is not None)
    apply_mapping(rows, tensors, layers, path.name)
    return model, transform


def _read_torch(path):
    """`(tensors, backbone_kwargs, num_classes)` of a torch checkpoint, its
    size checked before anything is built."""
    tensors = normalize_torch_keys(load_torch_state_dict(path))
    backbone_kwargs, num_classes = infer_torch_architecture(tensors, path.name)
    _check_size(path, backbone_kwargs, num_classes, tensors)
    return tensors, backbone_kwargs, num_classes


def _from_timm_folder(folder, activation):
    return _from_torch(*_timm_checkpoint(folder), activation)


def _timm_checkpoint(folder):
    """`(weights file, EvalTransform)` of a timm folder whose architecture
    DenseNetBackbone expresses."""
    config = read_json(folder / names.CONFIG_FILE)
    architecture = config.get("architecture")
    if architecture not in TIMM_ARCHITECTURES:
        raise ValueError(
            f"{folder}: timm architecture {architecture!r} cannot be expressed "
            f"by DenseNetBackbone; supported: {', '.join(TIMM_ARCHITECTURES)} "
            f"(deep-stem and blur-pool DenseNets are not)."
        )
    transform = EvalTransform.timm(config.get("pretrained_cfg"))
    return folder / names.TIMM_WEIGHTS_FILE, transform


def _from_keras(path, activation):
    layers, tensors = read_keras_weights(path)
    backbone_kwargs, num_classes = infer_keras_architecture(layers, tensors, path.name)
    _check_size(path, backbone_kwargs, num_classes, tensors)
    transform = EvalTransform.keras_applications()
    activation = activation or KERAS_APPLICATIONS_ACTIVATION
    model, model_layers = _build(backbone_kwargs, num_classes, transform, activation)
    rows = keras_mapping_table(layers, model_layers)
    apply_mapping(rows, tensors, model_layers, path.name)
    return model, transform


def _check_size(path, backbone_kwargs, num_classes, tensors):
    """Refuses an architecture read from tensor shapes that the file's own
    tensors are far from filling, or that is over the preset loader's cap,
    before anything is built.

    A real checkpoint stores every parameter and BatchNorm statistic, so its
    floating-point tensors hold as many values as the model has. Empty or
    missing tensors whose shapes imply a huge model (a growth rate of 20000
    from a few kilobytes) fail here instead of allocating it. A model of up
    to `MAX_SIZE_OVER_VALUES` times the values present goes on to the strict
    key and shape checks, which name each missing or wrong tensor.
    """
    count, features = backbone_size(backbone_kwargs)
    if num_classes is not None:
        count += (features + 1) * num_classes
    described = ", ".join(
        [f"{key}={value}" for key, value in backbone_kwargs.items()]
        + [f"num_classes={num_classes}"]
    )
    floats = [array for array in tensors.values() if array.dtype.kind == "f"]
    present = sum(array.size for array in floats)
    if count > MAX_SIZE_OVER_VALUES * present:
        raise ValueError(
            f"{path}: its tensor shapes describe a DenseNet ({described}) of "
            f"{count:,} parameters, i.e. {count * FLOAT32_BYTES:,} bytes as "
            f"float32, but its floating-point tensors hold only {present:,} "
            f"values ({sum(array.nbytes for array in floats):,} bytes as "
            "read). Tensors are empty or missing, so the file is truncated, "
            "corrupt or not a DenseNet checkpoint; nothing was built. "
            "Re-download or re-export the checkpoint."
        )
    schema.check_parameter_count(
        path,
        described,
        count,
        fix="The file is not a DenseNet checkpoint; convert a real one.",
    )


def _backbone_config(backbone_kwargs):
    """The converted backbone's arguments: the checkpoint's architecture,
    with the source frameworks' transitions and stem padding."""
    return {
        **backbone_kwargs,
        "compression_ratio": COMPRESSION_RATIO,
        "stem_padding": TORCH_STEM_PADDING,
    }


def _build(backbone_kwargs, num_classes, transform, activation):
    """The model to convert into, and its layers that own weights in graph order."""
    backbone = DenseNetBackbone(**_backbone_config(backbone_kwargs))
    layers = [layer for layer in backbone.layers if layer.weights]
    if num_classes is None:
        return backbone, layers
    preprocessor = DenseNetImageClassifierPreprocessor(
        DenseNetImageConverter(**transform.image_converter_kwargs())
    )
    classifier = DenseNetImageClassifier(
        backbone, num_classes, preprocessor=preprocessor, activation=activation
    )
    return classifier, layers + [classifier.get_layer(PREDICTIONS_LAYER)]


def _documents(backbone_kwargs, num_classes, transform, activation):
    """The JSON documents of the preset `_build`'s model saves as, made
    without building it: `{file name: object reference}`."""
    backbone = object_reference(DenseNetBackbone, _backbone_config(backbone_kwargs))
    if num_classes is None:
        return {names.CONFIG_FILE: backbone}
    # A preset file leaves an argument that is None out (`crop_pct` without
    # a crop), as the image converter's own config does.
    converter_config = {
        key: value
        for key, value in transform.image_converter_kwargs().items()
        if value is not None
    }
    converter = object_reference(DenseNetImageConverter, converter_config)
    preprocessor = object_reference(
        DenseNetImageClassifierPreprocessor, {"image_converter": converter}
    )
    task_config = {
        "backbone": backbone,
        "preprocessor": preprocessor,
        "num_classes": num_classes,
        "activation": activation,
    }
    return {
        names.CONFIG_FILE: backbone,
        names.TASK_FILE: object_reference(DenseNetImageClassifier, task_config),
        names.PREPROCESSOR_FILE: preprocessor,
        names.IMAGE_CONVERTER_FILE: converter,
    }


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_timm_checkpoint(directory):
    """A timm repository folder: its `config.json` has an `architecture`."""
    config = files.existing_file(directory, names.CONFIG_FILE)
    return config is not None and "architecture" in read_json(config)


def _convert_timm(directory):
    """A timm folder as a `ConvertedPreset`: the configs and arrays of the
    preset `convert` would write for it (logits head, timm's eval
    transform), made in memory and never built here."""
    # Checked first: the converter itself would follow a link out of the folder.
    files.required_file(directory, names.TIMM_WEIGHTS_FILE, "the timm weights")
    path, transform = _timm_checkpoint(directory)
    tensors, backbone_kwargs, num_classes = _read_torch(path)
    repeats = backbone_kwargs["stackwise_num_repeats"]
    rows = mapping_table(repeats, with_head=num_classes is not None)
    values = mapped_values(rows, tensors, path.name)
    backbone_targets = {row.target for row in mapping_table(repeats, with_head=False)}
    arrays = {
        names.MODEL_WEIGHTS_FILE: {t: v for t, v in values.items() if t in backbone_targets}
    }
    if num_classes is not None:
        arrays[names.TASK_WEIGHTS_FILE] = {
            t: v for t, v in values.items() if t not in backbone_targets
        }
    documents = _documents(backbone_kwargs, num_classes, transform, activation=None)
    return ConvertedPreset(directory, documents, arrays)


register_source("timm", _is_timm_checkpoint, _convert_timm)
