"""Loading and saving models for the commands, with their class names.

A preset written by `densenet-hub train` holds, beside KerasHub's files, a
`class_names.json` with the class folder names in class-index order. KerasHub
ignores the extra file. Presets without it show ImageNet names for a
1000-class head and `class_<index>` otherwise.
"""

import json
import os
import pathlib
import shutil
import tempfile

import keras

from densenet_hub.hub.cache import cached_folder
from densenet_hub.cli.console import warn
from densenet_hub.cli.errors import CliError
from densenet_hub.hub.handles import is_remote_handle
from densenet_hub.imagenet import IMAGENET_CLASSES
from densenet_hub.models.densenet.densenet_image_converter import DenseNetImageConverter
from densenet_hub.preprocessing.image_converter import ImageConverter
from densenet_hub.models.backbone import Backbone
from densenet_hub.models.densenet.densenet_backbone import DenseNetBackbone
from densenet_hub.models.densenet.densenet_image_classifier import DenseNetImageClassifier
from densenet_hub.models.densenet.densenet_image_classifier_preprocessor import (
    DenseNetImageClassifierPreprocessor,
)
from densenet_hub.models.image_classifier import ImageClassifier

CLASS_NAMES_FILE = "class_names.json"
TASK_FILE = "task.json"
IMAGE_CONVERTER_FILE = "image_converter.json"
MAX_CLASS_NAMES_BYTES = 16 << 20
DEFAULT_IMAGE_SIZE = 224
# ImageNet statistics, which the DenseNet presets normalise with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# === Finding presets ===


def builtin_presets():
    """`{name or alias: canonical name}` of the built-in presets."""
    names = {}
    for name, listing in ImageClassifier.presets.items():
        names[name] = name
        for alias in listing["metadata"].get("aliases", ()):
            names[alias] = name
    return names


def builtin_listing(preset):
    """The `presets` table entry of a built-in name or alias, else `None`."""
    name = builtin_presets().get(preset)
    return None if name is None else ImageClassifier.presets[name]


def preset_folder(preset):
    """The local folder of `preset` if it has one now (a folder given by the
    user, or a download in the hub caches), else `None`. No network."""
    listing = builtin_listing(preset)
    if listing is not None:
        for handle in listing["handles"]:
            folder = cached_folder(handle)
            if folder is not None:
                return folder
        return None
    if is_remote_handle(preset):
        return cached_folder(preset)
    path = pathlib.Path(preset)
    return path if path.is_dir() else None


# === Classifiers ===


def load_classifier(preset, image_size=None):
    """`(classifier, class_names)` for a classifier preset.

    Args:
        preset: a built-in name, a handle or a folder holding `task.json`.
        image_size: `(height, width)` to resize to instead of the preset's.
    """
    folder = preset_folder(preset)
    if folder is not None and not (folder / TASK_FILE).is_file():
        raise CliError(
            f"the preset {preset!r} has no classification head ({folder} "
            f"holds no {TASK_FILE}); pass a classifier preset, such as one "
            "written by `densenet-hub train`, or use `densenet-hub embed` for "
            "features."
        )
    classifier = ImageClassifier.from_preset(preset)
    _ensure_preprocessor(classifier, image_size)
    return classifier, class_names_of(preset, classifier.num_classes)


def class_names_of(preset, num_classes):
    """The class names of a classifier preset with `num_classes` classes."""
    folder = preset_folder(preset)
    path = None if folder is None else folder / CLASS_NAMES_FILE
    if path is not None and path.is_file():
        names = _read_class_names(path, num_classes)
        if names is not None:
            return names
    if num_classes == len(IMAGENET_CLASSES):
        return list(IMAGENET_CLASSES)
    return [f"class_{index}" for index in range(num_classes)]


def _read_class_names(path, num_classes):
    """The names in `path`, or `None` (with a warning) when they do not fit."""
    problem = None
    if path.stat().st_size > MAX_CLASS_NAMES_BYTES:
        problem = f"it is over {MAX_CLASS_NAMES_BYTES} bytes"
    else:
        try:
            names = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            problem = f"it is not valid JSON ({error})"
        else:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                problem = "it is not a list of strings"
            elif len(names) != num_classes:
                problem = f"it has {len(names)} names for {num_classes} classes"
    if problem is None:
        return names
    warn(f"ignoring {path}: {problem}; showing class indices instead.")
    return None


def default_preprocessor(image_size):
    """DenseNet's ImageNet preprocessing at `(height, width)`."""
    converter = DenseNetImageConverter(
        image_size=tuple(image_size),
        scale=[1 / (255 * std) for std in IMAGENET_STD],
        offset=[-mean / std for mean, std in zip(IMAGENET_MEAN, IMAGENET_STD)],
        crop_to_aspect_ratio=True,
    )
    return DenseNetImageClassifierPreprocessor(converter)


def _ensure_preprocessor(classifier, image_size):
    if classifier.preprocessor is None:
        size = image_size or (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)
        warn(
            f"the preset has no preprocessor; using ImageNet normalisation at "
            f"{size[0]}x{size[1]} (set another size with --image-size)."
        )
        classifier.preprocessor = default_preprocessor(size)
    elif image_size is not None:
        classifier.preprocessor.image_size = tuple(image_size)


def classifier_for_training(preset, num_classes, pretrained=True, image_size=None):
    """A classifier with a new `num_classes` head on `preset`'s backbone.

    With `pretrained=False` the weights are fresh; a built-in name is then
    built from the `presets` table, with no download.
    """
    listing = builtin_listing(preset)
    if listing is not None and not pretrained:
        metadata = listing["metadata"]
        backbone = DenseNetBackbone(**metadata["config"], **metadata["overrides"])
        classifier = DenseNetImageClassifier(backbone, num_classes=num_classes)
    else:
        classifier = ImageClassifier.from_preset(
            preset, num_classes=num_classes, load_weights=pretrained
        )
    _ensure_preprocessor(classifier, image_size)
    return classifier


# === Feature extractors ===


def load_backbone(preset, image_size=None):
    """`(backbone, image_converter)` of a backbone or classifier preset."""
    backbone = Backbone.from_preset(preset)
    folder = preset_folder(preset)
    if folder is not None and not (folder / IMAGE_CONVERTER_FILE).is_file():
        size = image_size or (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)
        warn(
            f"the preset has no {IMAGE_CONVERTER_FILE}; using ImageNet "
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


def save_classifier(classifier, class_names, out, overwrite=False):
    """Saves `classifier` as a preset folder with its `class_names.json`.

    The folder is assembled beside `out` and renamed into place, so `out`
    ends up complete or unchanged.
    """
    target = pathlib.Path(out)
    check_output_folder(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    replaced = staging / "replaced"
    try:
        preset = staging / "preset"
        classifier.save_to_preset(str(preset))
        (preset / CLASS_NAMES_FILE).write_text(
            json.dumps(list(class_names), indent=4), encoding="utf-8"
        )
        if target.exists():
            os.rename(target, replaced)
        os.rename(preset, target)
    except BaseException:
        if replaced.exists() and not target.exists():
            os.rename(replaced, target)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def to_probabilities(classifier, scores):
    """Class probabilities from a classifier's output, whatever its head's
    activation: logits get a softmax, probabilities pass through."""
    if keras.activations.get(classifier.activation) in (
        keras.activations.softmax,
        keras.activations.sigmoid,
    ):
        return keras.ops.convert_to_numpy(scores)
    return keras.ops.convert_to_numpy(keras.ops.softmax(scores, axis=-1))
