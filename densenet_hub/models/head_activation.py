"""How a classifier's outputs read (softmax, sigmoid or logits): the one rule,
for Keras classifiers and their accelerated forms alike."""

import keras

HEAD_ACTIVATIONS = ("softmax", "sigmoid", "logits")


def head_activation(model):
    """How `model`'s outputs read: one of `HEAD_ACTIVATIONS`.

    `"softmax"`: one probability distribution over the classes.
    `"sigmoid"`: one independent probability per class (multi-label).
    `"logits"`: anything else, to be read through a softmax: no activation,
    `"linear"`, `"log_softmax"`, a custom function, or a model without a
    head (a backbone).

    Args:
        model: an object with an `activation` attribute as `ImageClassifier`
            has it (`None`, a Keras activation name or function), such as an
            `ImageClassifier` or a `densenet_hub.runtime.AcceleratedModel`;
            without one it reads as logits.

    Raises:
        ValueError: `activation` names no Keras activation.

    Example:
    ```python
    import types
    from densenet_hub.models.head_activation import head_activation

    assert head_activation(types.SimpleNamespace(activation="sigmoid")) == "sigmoid"
    assert head_activation(types.SimpleNamespace(activation=None)) == "logits"
    ```
    """
    function = keras.activations.get(getattr(model, "activation", None))
    if function is keras.activations.softmax:
        return "softmax"
    if function is keras.activations.sigmoid:
        return "sigmoid"
    return "logits"
