"""Models, named as in `keras_hub.models`: the generic classes, then DenseNet's."""

from densenet_hub.models.backbone import Backbone
from densenet_hub.models.task import Task
from densenet_hub.models.image_classifier import ImageClassifier
from densenet_hub.models.image_classifier_preprocessor import (
    ImageClassifierPreprocessor,
)
from densenet_hub.models.densenet import DenseNetBackbone
from densenet_hub.models.densenet import DenseNetImageClassifier
from densenet_hub.models.densenet import DenseNetImageClassifierPreprocessor
