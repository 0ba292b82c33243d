"""Loading and saving models for the commands, with their class labels
(`densenet_hub.presets.class_labels`: the files `densenet-hub train` writes
beside KerasHub's)."""

import pathlib

import keras

from densenet_hub.base import file_names as names
from densenet_hub.cli.shell import warn
from densenet_hub.cli.shell import CliError
from densenet_hub.base.json_files import read_json
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier
from densenet_hub.preprocessing import EvalTransform
from densenet_hub.preprocessing import ImageConverter
from densenet_hub.presets.builtin import find_builtin
from densenet_hub.presets.class_labels import class_labels_of
from densenet_hub.presets.class_labels import default_class_names
from densenet_hub.presets.resolver import local_folder
from densenet_hub.presets.saver import save_preset
from densenet_hub.training.finetune import use_from_scratch_batchnorm



# === Classifiers ===


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
        raise CliError(
            f"the preset {preset!r} has no classification head ({folder} "
            f"holds no {names.TASK_FILE}); pass a classifier preset, such as one "
            "written by `densenet-hub train`, or use `densenet-hub embed` for "
            "features."
        )
    classifier = ImageClassifier.from_preset(preset)
    if multi_label and not classifier.multi_label:
        classifier = _with_sigmoid(preset, classifier)
    _ensure_preprocessor(classifier, image_size)
    return classifier, class_labels_of(preset, classifier.num_classes, classifier.multi_label)


def _with_sigmoid(preset, classifier):
    if keras.activations.get(classifier.activation) is keras.activations.softmax:
        raise CliError(
            f"the preset {preset!r} has a softmax head (one class per image), "
            "but a multi-label table needs one probability per finding; train "
            "a multi-label classifier on the table with `densenet-hub train`."
        )
    warn(
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


def _size_without_converter(backbone, image_size):
    """The input size when the preset has no image converter: `--image-size`,
    else the size the backbone was built for, else DenseNet's usual 224."""
    fixed = fixed_image_size(backbone)
    if image_size is not None and fixed is not None and tuple(image_size) != fixed:
        raise CliError(
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


def _ensure_preprocessor(classifier, image_size):
    if classifier.preprocessor is None:
        size = _size_without_converter(classifier.backbone, image_size)
        warn(
            f"the preset has no preprocessor; using ImageNet normalisation at "
            f"{size[0]}x{size[1]} (set another size with --image-size)."
        )
        classifier.preprocessor = default_preprocessor(size)
    elif image_size is not None:
        classifier.preprocessor.image_size = tuple(image_size)


def classifier_for_training(
    preset, num_classes, pretrained=True, image_size=None, class_names=None, multi_label=False
):
    """A classifier with a new `num_classes` head on `preset`'s backbone, with
    a sigmoid per class when `multi_label`.

    A multi-label classifier preset whose head already has `class_names`
    (or as many unnamed classes, such as a converted CheXNet checkpoint) keeps
    its head, so that training continues it. With `pretrained=False` the
    weights are fresh; a built-in name is then built from the `presets`
    table, with no download.
    """
    activation = "sigmoid" if multi_label else None
    builtin = find_builtin(preset)
    classifier = _continued_head(preset, class_names) if multi_label and pretrained else None
    if classifier is None and builtin is not None and not pretrained:
        backbone = DenseNetBackbone(**builtin.config, **builtin.overrides)
        classifier = DenseNetImageClassifier(
            backbone, num_classes=num_classes, activation=activation
        )
    elif classifier is None:
        classifier = ImageClassifier.from_preset(
            preset, num_classes=num_classes, load_weights=pretrained, activation=activation
        )
    if not pretrained:
        use_from_scratch_batchnorm(classifier)
    _ensure_preprocessor(classifier, image_size)
    return classifier


def _continued_head(preset, class_names):
    """`preset`'s classifier with a sigmoid head when its classes are
    `class_names` (or as many unnamed ones), else `None`."""
    folder = local_folder(preset)
    if folder is None or not (folder / names.TASK_FILE).is_file():
        return None
    # Read from task.json, so that a head that does not fit costs no load.
    num_classes = read_json(folder / names.TASK_FILE).get("config", {}).get("num_classes")
    if num_classes != len(class_names):
        return None
    preset_names = class_labels_of(preset, num_classes).names
    unnamed = preset_names == default_class_names(num_classes)
    if not (unnamed or preset_names == list(class_names)):
        return None
    shown = "unnamed classes, taken in the table's order" if unnamed else "the same findings"
    print(f"continuing the preset's {num_classes}-class head ({shown})")
    return ImageClassifier.from_preset(preset, activation="sigmoid")


# === Feature extractors ===


def load_backbone(preset, image_size=None):
    """`(backbone, image_converter)` of a backbone or classifier preset."""
    backbone = Backbone.from_preset(preset)
    folder = local_folder(preset)
    if folder is not None and not (folder / names.IMAGE_CONVERTER_FILE).is_file():
        size = _size_without_converter(backbone, image_size)
        warn(
            f"the preset has no {names.IMAGE_CONVERTER_FILE}; using ImageNet "
            f"normalisation at {size[0]}x{size[1]} (set another size with "
            "--image-size)."
        )
        return backbone, default_preprocessor(size).image_converter
    converter = ImageConverter.from_preset(preset)
    if image_size is not None:
        converter.image_size = tuple(image_size)
    return backbone, converter


# === Saving ===


def check_output_folder(out, overwrite):
    """Refuses a non-empty `out` unless `overwrite`, before any work starts."""
    path = pathlib.Path(out)
    if path.exists() and not path.is_dir():
        raise CliError(f"the output {str(path)!r} is a file; pass a folder path.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise CliError(
            f"the output folder {str(path)!r} is not empty; pass --overwrite "
            "to replace it, or choose another folder."
        )


def save_classifier(classifier, labels, out, overwrite=False):
    """Saves `classifier` as a preset folder with its `ClassLabels` files, in
    one atomic save: `out` ends up complete or unchanged."""
    check_output_folder(out, overwrite)
    save_preset(classifier, out, overwrite=overwrite, extra_files=labels.files())
