"""The image classifier for `DenseNetBackbone`, named as in KerasHub."""

import keras

from densenet_hub.models.densenet.densenet_backbone import DenseNetBackbone
from densenet_hub.models.densenet.densenet_image_classifier_preprocessor import (
    DenseNetImageClassifierPreprocessor,
)
from densenet_hub.models.image_classifier import ImageClassifier
from densenet_hub.models.image_classifier import preset_class_options
from densenet_hub.presets.registry import preset_class


@keras.saving.register_keras_serializable(package="densenet_hub")
@preset_class(
    **preset_class_options(
        "keras_hub.src.models.densenet.densenet_image_classifier",
        former_modules=("densenet_hub.models.densenet_image_classifier",),
    )
)
class DenseNetImageClassifier(ImageClassifier):
    """`ImageClassifier` for DenseNet models, named as in KerasHub.

    It behaves exactly like `ImageClassifier`; `backbone_cls` and
    `preprocessor_cls` tie it to `DenseNetBackbone` and
    `DenseNetImageClassifierPreprocessor` so that presets can find it for a
    backbone. Its layer names and weight-file layout are those of
    `keras_hub.models.DenseNetImageClassifier`.

    Args:
        backbone: a `DenseNetBackbone` (any `keras.Model` with a 4D feature
            map output works).
        num_classes: int, the number of classes.
        **kwargs: the other arguments of `ImageClassifier`: `preprocessor`,
            `pooling`, `activation`, `dropout`, `head_dtype`, `compile`,
            `name`, `trainable`.

    Example:
    ```python
    import numpy as np
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    preprocessor = densenet_hub.models.DenseNetImageClassifierPreprocessor(
        densenet_hub.layers.DenseNetImageConverter(
            image_size=(32, 32), scale=1 / 255
        )
    )
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, activation="softmax"
    )
    # Raw uint8 images of any size: `predict` resizes and rescales them.
    images = np.random.randint(0, 256, size=(3, 48, 40, 3), dtype="uint8")
    probabilities = classifier.predict(images, verbose=0)
    assert probabilities.shape == (3, 2)
    assert np.allclose(probabilities.sum(axis=-1), 1, atol=1e-5)
    ```
    """

    backbone_cls = DenseNetBackbone
    preprocessor_cls = DenseNetImageClassifierPreprocessor
