"""Preprocessing layers, named as in `keras_hub.layers`. A namespace only:
the generic converter lives in `densenet_hub.preprocessing`, DenseNet's in
`densenet_hub.models.densenet`."""

from densenet_hub.preprocessing.image_converter import ImageConverter
from densenet_hub.models.densenet import DenseNetImageConverter
