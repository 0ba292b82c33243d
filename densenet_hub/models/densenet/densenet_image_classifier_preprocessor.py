"""The image classifier preprocessor paired with `DenseNetBackbone`."""

import keras

from densenet_hub.models.densenet.densenet_image_converter import DenseNetImageConverter
from densenet_hub.models.densenet.densenet_backbone import DenseNetBackbone
from densenet_hub.models.image_classifier_preprocessor import PRESET_VALIDATORS
from densenet_hub.models.image_classifier_preprocessor import (
    ImageClassifierPreprocessor,
)
from densenet_hub.presets.registry import preset_class


@keras.saving.register_keras_serializable(package="densenet_hub")
@preset_class(
    kind="preprocessor",
    keras_hub_module=(
        "keras_hub.src.models.densenet.densenet_image_classifier_preprocessor"
    ),
    validators=PRESET_VALIDATORS,
    former_modules=("densenet_hub.models.densenet_image_classifier_preprocessor",),
)
class DenseNetImageClassifierPreprocessor(ImageClassifierPreprocessor):
    """`ImageClassifierPreprocessor` for DenseNet models, named as in KerasHub.

    It behaves exactly like `ImageClassifierPreprocessor`; `backbone_cls` and
    `image_converter_cls` tie it to `DenseNetBackbone` and
    `DenseNetImageConverter` so that presets can find it for a backbone.

    Args:
        image_converter: a `DenseNetImageConverter` (any `ImageConverter`
            works), or `None`.
        **kwargs: the other arguments of `ImageClassifierPreprocessor`.

    Example:
    ```python
    import numpy as np
    import densenet_hub

    preprocessor = densenet_hub.models.DenseNetImageClassifierPreprocessor(
        densenet_hub.layers.DenseNetImageConverter(
            image_size=(32, 32), scale=1 / 255
        )
    )
    x = preprocessor(np.zeros((4, 48, 48, 3), dtype="uint8"))
    assert tuple(x.shape) == (4, 32, 32, 3)
    ```
    """

    backbone_cls = DenseNetBackbone
    image_converter_cls = DenseNetImageConverter
