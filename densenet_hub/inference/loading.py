"""Loading a preset for inference: a classifier with its class labels, or a
backbone with its image converter, each with the preprocessing it needs
(ImageNet normalisation when the preset has none)."""

import warnings

import keras

from densenet_hub.base import file_names as names
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier
from densenet_hub.preprocessing import EvalTransform
from densenet_hub.preprocessing import ImageConverter
from densenet_hub.presets.class_labels import class_labels_of
from densenet_hub.presets.resolver import local_folder


def load_classifier(preset, image_size=None, multi_label=False):
    """`(classifier, labels)` for a classifier preset: labels is its
    `ClassLabels` (class names, and thresholds for a multi-label head).

    Args:
        preset: a built-in name, a handle or a folder holding `task.json`.
        image_size: `(height, width)` to resize to instead of the preset's.
        multi_label: the caller needs one probability per class: a head
            giving logits (such as a converted CheXNet checkpoint's) gets a
            sigmoid; a softmax head is refused.
    """
    folder = local_folder(preset)
    if folder is not None and not (folder / names.TASK_FILE).is_file():
        raise ValueError(
            f"the preset {preset!r} has no classification head ({folder} "
            f"holds no {names.TASK_FILE}); pass a classifier preset, such as one "
            "written by `densenet-hub train`, or use `densenet-hub embed` for "
            "features."
        )
    classifier = ImageClassifier.from_preset(preset)
    if multi_label and not classifier.multi_label:
        classifier = _with_sigmoid(preset, classifier)
    ensure_preprocessor(classifier, image_size)
    return classifier, class_labels_of(preset, classifier.num_classes, classifier.multi_label)


def _with_sigmoid(preset, classifier):
    if keras.activations.get(classifier.activation) is keras.activations.softmax:
        raise ValueError(
            f"the preset {preset!r} has a softmax head (one class per image), "
            "but a multi-label table needs one probability per finding; train "
            "a multi-label classifier on the table with `densenet-hub train`."
        )
    warnings.warn(
        "the preset's head gives logits; reading them through a sigmoid, one "
        "probability per finding (convert with --activation sigmoid to save it so)."
    )
    return ImageClassifier.from_preset(preset, activation="sigmoid")


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
    """`(backbone, image_converter)` of a backbone or classifier preset."""
    backbone = Backbone.from_preset(preset)
    folder = local_folder(preset)
    if folder is not None and not (folder / names.IMAGE_CONVERTER_FILE).is_file():
        size = size_without_converter(backbone, image_size)
        warnings.warn(
            f"the preset has no {names.IMAGE_CONVERTER_FILE}; using ImageNet "
            f"normalisation at {size[0]}x{size[1]} (set another size with "
            "--image-size)."
        )
        return backbone, default_preprocessor(size).image_converter
    converter = ImageConverter.from_preset(preset)
    if image_size is not None:
        converter.image_size = tuple(image_size)
    return backbone, converter
