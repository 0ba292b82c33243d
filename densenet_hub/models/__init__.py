"""Models, named as in `keras_hub.models`."""

from densenet_hub.models.backbone import Backbone
from densenet_hub.models.densenet_backbone import DenseNetBackbone
