"""The image converter paired with `DenseNetBackbone`."""

import keras

from densenet_hub.models.densenet.densenet_backbone import DenseNetBackbone
from densenet_hub.preprocessing.image_converter import ImageConverter
from densenet_hub.preprocessing.image_converter_arguments import PRESET_VALIDATORS
from densenet_hub.presets.registry import preset_class


@keras.saving.register_keras_serializable(package="densenet_hub")
@preset_class(
    kind="image_converter",
    keras_hub_module="keras_hub.src.models.densenet.densenet_image_converter",
    validators=PRESET_VALIDATORS,
    former_modules=("densenet_hub.layers.densenet_image_converter",),
)
class DenseNetImageConverter(ImageConverter):
    """`ImageConverter` for DenseNet models, named as in KerasHub.

    It behaves exactly like `ImageConverter`; `backbone_cls` ties it to
    `DenseNetBackbone` so that presets can find the converter for a backbone.
    The ImageNet presets store its settings (224x224, ImageNet mean and std).

    Args:
        **kwargs: the arguments of `ImageConverter`.

    Example:
    ```python
    import numpy as np
    import densenet_hub

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    converter = densenet_hub.layers.DenseNetImageConverter(
        image_size=(64, 64),
        scale=[1 / (255 * s) for s in std],
        offset=[-m / s for m, s in zip(mean, std)],
    )
    image = np.random.randint(0, 256, size=(80, 100, 3), dtype="uint8")
    assert tuple(converter(image).shape) == (64, 64, 3)
    ```
    """

    backbone_cls = DenseNetBackbone
