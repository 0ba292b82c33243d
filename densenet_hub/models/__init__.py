"""Models, named as in `keras_hub.models`."""

from densenet_hub.models.backbone import Backbone
from densenet_hub.models.densenet_backbone import DenseNetBackbone
from densenet_hub.models.image_classifier_preprocessor import (
    ImageClassifierPreprocessor,
)
from densenet_hub.models.densenet_image_classifier_preprocessor import (
    DenseNetImageClassifierPreprocessor,
)
from densenet_hub.models.task import Task
from densenet_hub.models.image_classifier import ImageClassifier
from densenet_hub.models.densenet_image_classifier import DenseNetImageClassifier
