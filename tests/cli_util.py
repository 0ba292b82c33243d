"""Helpers shared by the CLI test modules."""

import keras
import numpy as np
import PIL.Image

from densenet_hub.models.densenet.densenet_image_converter import DenseNetImageConverter
from densenet_hub.models.densenet.densenet_backbone import DenseNetBackbone
from densenet_hub.models.densenet.densenet_image_classifier import DenseNetImageClassifier
from densenet_hub.models.densenet.densenet_image_classifier_preprocessor import (
    DenseNetImageClassifierPreprocessor,
)


def error_line(capsys):
    """The one `densenet-hub: error:` line a failed command printed, with no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("densenet-hub: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def save_tiny_classifier_preset(folder):
    """A tiny 5-class classifier preset at `folder`, to fine-tune (its head gets replaced)."""
    keras.utils.set_random_seed(11)
    backbone = DenseNetBackbone(stackwise_num_repeats=[2, 2], growth_rate=4)
    converter = DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = DenseNetImageClassifier(
        backbone, num_classes=5, preprocessor=DenseNetImageClassifierPreprocessor(converter)
    )
    classifier.save_to_preset(str(folder))
    return folder


def write_graded_noise_images(root, classes, images_per_class):
    """`root/<class>/<i>.png`: 32x32 noise, darkest for the first class, brightest for the last."""
    rng = np.random.default_rng(5)
    for level, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(images_per_class):
            pixels = rng.integers(0, 80, size=(32, 32, 3)) + 80 * level
            PIL.Image.fromarray(pixels.astype("uint8")).save(root / name / f"{i}.png")
    return root
