"""Everything DenseNet-specific: the backbone, its classifier, preprocessor
and image converter, the built-in preset table, the layer-name layout that
converters, memory-efficient training and distribution read, and parameter
counting. The generic classes it builds on (`Backbone`, `Task`,
`ImageClassifier`, `ImageConverter`, preset loading) know no DenseNet class."""

from densenet_hub.models.densenet.densenet_backbone import DenseNetBackbone
from densenet_hub.models.densenet.densenet_image_converter import DenseNetImageConverter
from densenet_hub.models.densenet.densenet_image_classifier_preprocessor import (
    DenseNetImageClassifierPreprocessor,
)
from densenet_hub.models.densenet.densenet_image_classifier import DenseNetImageClassifier
from densenet_hub.models.densenet.densenet_presets import DENSENET_PRESETS
