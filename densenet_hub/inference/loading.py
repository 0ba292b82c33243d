"""Loading a preset for inference: a classifier with its class labels, or a
backbone with its image converter, each with the preprocessing it needs
(ImageNet normalisation when the preset has none)."""

import warnings

import numpy as np

from densenet_hub.base import file_names as names
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier
from densenet_hub.models.head_activation import head_activation
from densenet_hub.preprocessing import EvalTransform
from densenet_hub.preprocessing import ImageConverter
from densenet_hub.presets.inspection import PresetInfo
from densenet_hub.presets.inspection import inspect


def load_classifier(preset, image_size=None, multi_label=False):
    """`(classifier, labels)` for a classifier preset: labels is its
    `ClassLabels` (class names, and thresholds for a multi-label head).

    Args:
        preset: a built-in name, a handle or a folder holding `task.json`,
            or the `PresetInfo` `densenet_hub.presets.inspect` gave for one
            (then the preset is not looked up again).
        image_size: `(height, width)` to resize to instead of the preset's.
        multi_label: the caller needs one probability per class: a head
            giving logits (such as a converted CheXNet checkpoint's) gets a
            sigmoid; a softmax head is refused.
    """
    found = _inspected(preset)
    _refuse_accelerated(found)
    if found.kind == "backbone":
        raise ValueError(
            f"the preset {found.preset!r} has no classification head "
            f"({found.folder} holds no {names.TASK_FILE}); pass a classifier preset, such as one "
            "written by `densenet-hub train`, or use `densenet-hub embed` for "
            "features."
        )
    overrides = {}
    if multi_label and found.kind == "classifier" and head_activation(found) != "sigmoid":
        overrides = _sigmoid_instead(found)
    classifier = ImageClassifier.from_preset(found.to_load, **overrides)
    if multi_label and not classifier.multi_label:
        # A converted checkpoint, whose head only loading tells.
        overrides = _sigmoid_instead(found, classifier)
        classifier = ImageClassifier.from_preset(found.to_load, **overrides)
    ensure_preprocessor(classifier, image_size)
    labels = found.class_labels(classifier.num_classes, classifier.multi_label)
    if labels.temperatures is not None:
        _divide_logits(classifier, labels.temperatures)
    return classifier, labels


def _divide_logits(classifier, temperatures):
    """Temperature scaling folded into the head: `(W x + b) / T` is
    `(W / T) x + b / T`, so the head's weights are divided (in memory only;
    the preset's weight file stays KerasHub's)."""
    dense = classifier.output_dense
    scale = 1 / np.asarray(temperatures, "float32")
    kernel, *bias = dense.get_weights()
    dense.set_weights([kernel * scale, *(b * scale for b in bias)])


def _inspected(preset):
    return preset if isinstance(preset, PresetInfo) else inspect(preset)


def _refuse_accelerated(found):
    if found.kind == "accelerated":
        raise ValueError(
            f"{found.folder} holds an accelerated model ({names.ACCELERATED_FILE}), "
            "not a preset; load it with densenet_hub.runtime.load_accelerated "
            "(`densenet-hub predict` runs it), or pass the preset it was made from."
        )


def _sigmoid_instead(found, head=None):
    """`from_preset` arguments that read a logits head through a sigmoid;
    a softmax head (of the preset, or of `head` once loaded) is refused."""
    if head_activation(found if head is None else head) == "softmax":
        raise ValueError(
            f"the preset {found.preset!r} has a softmax head (one class per image), but a "
            "multi-label table needs one probability per finding; train a "
            "multi-label classifier on the table with `densenet-hub train`."
        )
    warnings.warn(
        "the preset's head gives logits; reading them through a sigmoid, one "
        "probability per finding (convert with --activation sigmoid to save it so)."
    )
    return {"activation": "sigmoid"}


def default_preprocessor(image_size):
    """DenseNet's ImageNet preprocessing at `(height, width)`."""
    transform = EvalTransform.keras_applications(image_size)
    return DenseNetImageClassifierPreprocessor(
        DenseNetImageConverter(**transform.image_converter_kwargs())
    )


def size_without_converter(backbone, image_size):
    """The input size when the preset has no image converter: `--image-size`,
    else the size the backbone was built for, else DenseNet's usual 224."""
    fixed = fixed_image_size(backbone)
    if image_size is not None and fixed is not None and tuple(image_size) != fixed:
        raise ValueError(
            f"--image-size {image_size[0]}x{image_size[1]} does not fit the "
            f"preset's backbone, built for {fixed[0]}x{fixed[1]} images "
            f"(image_shape {tuple(backbone.image_shape)}). Fix: drop "
            "--image-size, or use a backbone built without a fixed image_shape."
        )
    return tuple(image_size or fixed or EvalTransform.keras_applications().image_size)


def fixed_image_size(backbone):
    """The `(height, width)` `backbone` was built for, or None if it takes any size."""
    shape = getattr(backbone, "image_shape", None)
    if shape is None:
        return None
    channels_first = getattr(backbone, "data_format", None) == "channels_first"
    spatial = tuple(shape[1:3] if channels_first else shape[0:2])
    return None if None in spatial else spatial


def ensure_preprocessor(classifier, image_size):
    if classifier.preprocessor is None:
        size = size_without_converter(classifier.backbone, image_size)
        warnings.warn(
            f"the preset has no preprocessor; using ImageNet normalisation at "
            f"{size[0]}x{size[1]} (set another size with --image-size)."
        )
        classifier.preprocessor = default_preprocessor(size)
    elif image_size is not None:
        classifier.preprocessor.image_size = tuple(image_size)


def load_backbone(preset, image_size=None):
    """`(backbone, image_converter)` of a backbone or classifier preset (or
    the `PresetInfo` of one): the preset's converter, or ImageNet's
    normalisation (with a warning) when it has none."""
    found = _inspected(preset)
    _refuse_accelerated(found)
    backbone = Backbone.from_preset(found.to_load)
    if found.folder is not None and not (found.folder / names.IMAGE_CONVERTER_FILE).is_file():
        size = size_without_converter(backbone, image_size)
        warnings.warn(
            f"the preset has no {names.IMAGE_CONVERTER_FILE}; using ImageNet "
            f"normalisation at {size[0]}x{size[1]} (set another size with "
            "--image-size)."
        )
        return backbone, default_preprocessor(size).image_converter
    converter = ImageConverter.from_preset(found.to_load)
    if image_size is not None:
        converter.image_size = tuple(image_size)
    return backbone, converter


def load_model(preset, image_size=None):
    """`(model, labels)` that reads image files: a classifier preset's
    classifier and `ClassLabels`, or a backbone preset's backbone with a
    preprocessor of its image converter and `None` (e.g. to calibrate or
    run an int8 model of either on images).

    Args:
        preset: as for `load_classifier`.
        image_size: `(height, width)` to resize to instead of the preset's.
    """
    found = _inspected(preset)
    if found.kind == "backbone":
        backbone, converter = load_backbone(found, image_size)
        backbone.preprocessor = DenseNetImageClassifierPreprocessor(converter)
        return backbone, None
    return load_classifier(found, image_size)
