"""`head_activation`: the one rule for how a classifier's outputs read, the
same for a Keras classifier, its accelerated form and a preset's task.json."""

import keras
import pytest

from densenet_hub.inference import head_activation
from densenet_hub.inference import to_probabilities
from densenet_hub.runtime import accelerate
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier


@pytest.mark.parametrize(
    "activation, expected",
    [
        ("softmax", "softmax"),
        ("sigmoid", "sigmoid"),
        (None, "logits"),
        ("linear", "logits"),
        ("log_softmax", "logits"),
        (keras.activations.sigmoid, "sigmoid"),
        (lambda x: 2 * x, "logits"),
    ],
)
def test_keras_and_accelerated_classifiers_read_alike(activation, expected):
    classifier = build_tiny_classifier(num_classes=3, activation=activation)
    assert head_activation(classifier) == expected
    assert classifier.multi_label == (expected == "sigmoid")
    if activation not in ("softmax", "sigmoid", None, "linear"):
        return  # a head the ONNX graph cannot express
    fast = accelerate(classifier)
    assert head_activation(fast) == expected
    assert fast.activation == (None if expected == "logits" else expected)
    assert fast.multi_label == classifier.multi_label


def test_a_backbone_reads_as_logits():
    assert head_activation(build_tiny_backbone()) == "logits"


def test_only_logits_get_a_softmax():
    scores = keras.ops.convert_to_tensor([[1.0, 3.0]])
    logits = build_tiny_classifier(num_classes=2)
    assert to_probabilities(logits, scores).sum() == pytest.approx(1.0)
    sigmoid = build_tiny_classifier(num_classes=2, activation="sigmoid")
    assert to_probabilities(sigmoid, scores).tolist() == [[1.0, 3.0]]
