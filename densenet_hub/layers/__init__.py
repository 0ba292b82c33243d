"""Layers, named as in `keras_hub.layers`."""

from densenet_hub.layers.image_converter import ImageConverter
from densenet_hub.layers.densenet_image_converter import DenseNetImageConverter
