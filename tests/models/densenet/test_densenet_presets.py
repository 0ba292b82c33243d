"""The built-in DenseNet preset table: what every class's `presets` lists, and
the parameter count each entry states, checked against the model it names."""

import keras
import numpy as np
import pytest

from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import Backbone
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import ImageClassifier
from densenet_hub.models import ImageClassifierPreprocessor
from densenet_hub.models.densenet.densenet_config import backbone_size
from densenet_hub.models.densenet.densenet_presets import DENSENET_PRESETS


def test_presets_property_lists_the_registry_on_every_class():
    for cls in (
        Backbone,
        DenseNetBackbone,
        ImageClassifier,
        DenseNetImageClassifier,
        ImageClassifierPreprocessor,
        DenseNetImageConverter,
    ):
        presets = cls.presets
        assert sorted(presets) == [
            "densenet_121_imagenet",
            "densenet_161_imagenet",
            "densenet_169_imagenet",
            "densenet_201_imagenet",
        ]
    entry = Backbone.presets["densenet_121_imagenet"]
    assert entry["metadata"]["params"] == 7_037_504
    assert entry["metadata"]["aliases"] == ["densenet121_imagenet"]
    assert entry["metadata"]["overrides"] == {"stem_padding": "symmetric"}
    assert entry["kaggle_handle"] == "kaggle://keras/densenet/keras/densenet_121_imagenet/3"
    assert entry["hf_handle"] == "hf://keras/densenet_121_imagenet"
    assert Backbone.presets["densenet_201_imagenet"]["metadata"]["params"] == 18_321_984
    # DenseNet-161 has one handle, timm's repository, converted on load.
    entry = Backbone.presets["densenet_161_imagenet"]
    assert entry["metadata"]["aliases"] == ["densenet161_imagenet"]
    assert entry["handles"] == ["hf://timm/densenet161.tv_in1k"]
    assert entry["kaggle_handle"] == entry["hf_handle"] == "hf://timm/densenet161.tv_in1k"


@pytest.mark.slow
@pytest.mark.parametrize("preset", DENSENET_PRESETS, ids=lambda preset: preset.name)
def test_each_builtin_states_the_parameter_count_of_its_model(preset):
    config = {**preset.config, **preset.overrides, "image_shape": (224, 224, 3)}
    # Shapes only: allocating DenseNet-201's values would take seconds.
    with keras.StatelessScope(initialize_variables=False):
        backbone = DenseNetBackbone(**config)
        count = sum(int(np.prod(variable.shape)) for variable in backbone.weights)
    assert count == preset.parameter_count
    assert backbone_size(config)[0] == preset.parameter_count
