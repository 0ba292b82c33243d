"""DenseNet image models for Keras 3, interchangeable with KerasHub's DenseNet."""

from densenet_hub import preprocessing
from densenet_hub import models
from densenet_hub import layers
from densenet_hub import convert
from densenet_hub import export
from densenet_hub import distribution
from densenet_hub import imagenet
from densenet_hub import runtime
from densenet_hub import training
from densenet_hub import explain
from densenet_hub.hub.upload import upload_preset
from densenet_hub.version import __version__

from densenet_hub.presets import classes as _preset_classes

# Every class a preset may name is registered by now.
_preset_classes.seal()
