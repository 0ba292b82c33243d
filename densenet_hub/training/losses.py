"""The loss of multi-label training: binary cross-entropy per (image,
finding) entry, so that each entry can carry its own weight."""

import keras
import numpy as np

POSITIVE_WEIGHTING = ("balanced",)


@keras.saving.register_keras_serializable(package="densenet_hub")
class MultiLabelBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy of every (image, finding) entry.

    Unlike `keras.losses.BinaryCrossentropy`, which averages over the
    findings of an image before the sample weight applies, this returns one
    loss per entry, so `sample_weight` may be a `(batch, findings)` array:
    weight 0 leaves an entry out (an uncertain label under the "ignore"
    policy, padding rows). With Keras' default reduction the batch loss is
    the sum of weighted entry losses over the number of entries, as
    PyTorch's `BCEWithLogitsLoss(weight=...)` computes it.

    Args:
        from_logits: whether predictions are logits (a head without
            activation) or sigmoid probabilities.
        positive_weights: `None`, or one factor per finding multiplying the
            loss of its positive entries, e.g. negatives / positives to
            balance a rare finding (`balanced_positive_weights`).
        name: the loss name.
        **kwargs: `keras.losses.Loss` arguments (`reduction`, `dtype`).

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import MultiLabelBinaryCrossentropy

    y_true = np.array([[1.0, 0.0]])
    y_pred = np.array([[0.9, 0.2]])
    weights = np.array([[1.0, 0.0]])  # the second finding left out
    loss = MultiLabelBinaryCrossentropy()(y_true, y_pred, sample_weight=weights)
    assert abs(float(loss) - (-np.log(0.9) / 2)) < 1e-5
    ```
    """

    def __init__(
        self,
        from_logits=False,
        positive_weights=None,
        name="multi_label_binary_crossentropy",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.from_logits = bool(from_logits)
        if positive_weights is not None:
            positive_weights = [float(value) for value in np.ravel(positive_weights)]
            if not all(np.isfinite(value) and value > 0 for value in positive_weights):
                raise ValueError(
                    f"MultiLabelBinaryCrossentropy: `positive_weights` must be "
                    f"positive finite numbers, one per finding, got {positive_weights}."
                )
        self.positive_weights = positive_weights

    def call(self, y_true, y_pred):
        y_pred = keras.ops.convert_to_tensor(y_pred)
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        if self.from_logits:
            # log(1 + exp(-|x|)) + max(-x, 0) is -log(sigmoid(x)), overflow-free.
            minus_log_p = keras.ops.log1p(keras.ops.exp(-keras.ops.abs(y_pred)))
            minus_log_p = minus_log_p + keras.ops.relu(-y_pred)
            minus_log_not_p = minus_log_p + y_pred
        else:
            epsilon = keras.config.epsilon()
            p = keras.ops.clip(y_pred, epsilon, 1 - epsilon)
            minus_log_p, minus_log_not_p = -keras.ops.log(p), -keras.ops.log(1 - p)
        positive = y_true * minus_log_p
        if self.positive_weights is not None:
            positive = positive * keras.ops.convert_to_tensor(
                self.positive_weights, dtype=y_pred.dtype
            )
        return positive + (1 - y_true) * minus_log_not_p

    def get_config(self):
        config = super().get_config()
        config.update(
            {"from_logits": self.from_logits, "positive_weights": self.positive_weights}
        )
        return config


def balanced_positive_weights(targets, weights=None, findings=None):
    """Negatives / positives per finding, counting only entries of weight > 0:
    the factor that gives a finding's positive and negative entries equal
    total weight in the loss.

    Args:
        targets: `(images, findings)` array of 0/1 labels.
        weights: `None` or the entries' weights, same shape.
        findings: `None` or the finding names, for messages.

    Returns:
        A float array with one weight per finding.

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import balanced_positive_weights

    targets = np.array([[1, 0], [0, 1], [0, 1], [0, 1]])
    assert balanced_positive_weights(targets).tolist() == [3.0, 1 / 3]
    ```
    """
    targets = np.asarray(targets, dtype="float64")
    counted = np.ones_like(targets) if weights is None else np.asarray(weights) > 0
    positives = (targets * counted).sum(axis=0)
    negatives = ((1 - targets) * counted).sum(axis=0)
    lacking = np.flatnonzero((positives == 0) | (negatives == 0))
    if lacking.size:
        index = lacking[0]
        name = findings[index] if findings is not None else f"column {index}"
        raise ValueError(
            f"balanced positive weights need positive and negative labels of "
            f"every finding, but {name!r} has {int(positives[index])} positive "
            f"and {int(negatives[index])} negative label(s) in training; add "
            "images of it or leave the finding out."
        )
    return negatives / positives
