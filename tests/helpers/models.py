"""Builders of tiny DenseNet models and presets: `stackwise_num_repeats=[2, 2]`,
growth rate 4 and 32x32 images unless a test asks otherwise.

Plain functions (not fixtures) so that parametrised tests and module-scoped
fixtures can build variants; `tests/conftest.py` wraps the defaults as the
`tiny_backbone`, `tiny_classifier` and `tiny_preset` fixtures.
"""

import keras

from densenet_hub.models.densenet.densenet_backbone import DenseNetBackbone
from densenet_hub.models.densenet.densenet_image_classifier import DenseNetImageClassifier
from densenet_hub.models.densenet.densenet_image_classifier_preprocessor import (
    DenseNetImageClassifierPreprocessor,
)
from densenet_hub.models.densenet.densenet_image_converter import DenseNetImageConverter

IMAGE_SIZE = 32
TINY_CONFIG = {
    "stackwise_num_repeats": [2, 2],
    "growth_rate": 4,
    "image_shape": (IMAGE_SIZE, IMAGE_SIZE, 3),
}
_DEFAULT = object()


def build_tiny_backbone(**kwargs):
    """A two-block DenseNetBackbone on 32x32x3 images; `kwargs` override `TINY_CONFIG`."""
    return DenseNetBackbone(**{**TINY_CONFIG, **kwargs})


def build_tiny_preprocessor(image_size=(IMAGE_SIZE, IMAGE_SIZE), scale=1 / 255, **converter_kwargs):
    """A DenseNet preprocessor whose converter resizes to 32x32 and rescales."""
    converter = DenseNetImageConverter(image_size=image_size, scale=scale, **converter_kwargs)
    return DenseNetImageClassifierPreprocessor(converter)


def build_tiny_classifier(backbone=None, num_classes=5, preprocessor=_DEFAULT, **kwargs):
    """A DenseNetImageClassifier on `backbone` (default: `build_tiny_backbone()`)
    with `build_tiny_preprocessor()` unless `preprocessor` is given (None for none)."""
    if backbone is None:
        backbone = build_tiny_backbone()
    if preprocessor is _DEFAULT:
        preprocessor = build_tiny_preprocessor()
    return DenseNetImageClassifier(
        backbone, num_classes=num_classes, preprocessor=preprocessor, **kwargs
    )


def save_tiny_classifier_preset(folder):
    """A tiny 5-class classifier preset at `folder`, to fine-tune (its head gets replaced)."""
    keras.utils.set_random_seed(11)
    classifier = build_tiny_classifier(
        DenseNetBackbone(stackwise_num_repeats=[2, 2], growth_rate=4), num_classes=5
    )
    classifier.save_to_preset(str(folder))
    return folder
