"""DenseNet image models for Keras 3, interchangeable with KerasHub's DenseNet."""

from densenet_hub import layers
from densenet_hub import models
from densenet_hub.version import __version__
