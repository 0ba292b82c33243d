"""Image classifier: a backbone, global pooling and a dense classification head."""

import keras

from densenet_hub.models.task import Task
from densenet_hub.models.head_activation import head_activation
from densenet_hub.presets import schema
from densenet_hub.presets.registry import preset_class
from densenet_hub.base.validation import check_choice
from densenet_hub.base.validation import check_positive_int
from densenet_hub.base.validation import reject_unknown_kwargs
from densenet_hub.base.validation import TASK_KWARGS

POOLERS = {
    "avg": keras.layers.GlobalAveragePooling2D,
    "max": keras.layers.GlobalMaxPooling2D,
}
# KerasHub's name of the head's Dense layer, which weight files and
# converters address.
PREDICTIONS_LAYER = "predictions"
MAX_CLASSES = 1_000_000
# The activations a preset may name for the head.
PRESET_ACTIVATIONS = ("linear", "softmax", "sigmoid", "log_softmax")


def _check_preset_dropout(file, where, value):
    if not schema.is_number(value) or not 0 <= value < 1:
        raise schema.error(file, where, "a number in [0, 1)", value)
    return float(value)


def _check_preset_size(file, where, config):
    """The backbone's parameters plus the head's, under the cap."""
    backbone = config["backbone"]
    count, features = backbone.entry.size(backbone.config)
    schema.check_parameter_count(file, where, count + (features + 1) * config["num_classes"])


PRESET_VALIDATORS = {
    "name": schema.check_name,
    "trainable": schema.check_bool,
    "backbone": schema.nested("backbone"),
    "preprocessor": schema.nested("preprocessor", optional=True),
    "num_classes": schema.int_in(1, MAX_CLASSES),
    "pooling": schema.choice(*POOLERS),
    "activation": schema.choice(*PRESET_ACTIVATIONS, optional=True),
    "dropout": _check_preset_dropout,
    "head_dtype": schema.check_dtype,
}


def preset_class_options(keras_hub_module, former_modules=()):
    """`preset_class` arguments of `ImageClassifier` and its subclasses."""
    return {
        "kind": "task",
        "keras_hub_module": keras_hub_module,
        "validators": PRESET_VALIDATORS,
        "required": ("backbone", "num_classes"),
        "check": _check_preset_size,
        "former_modules": former_modules,
    }


@keras.saving.register_keras_serializable(package="densenet_hub")
@preset_class(**preset_class_options("keras_hub.src.models.image_classifier"))
class ImageClassifier(Task):
    """Classifies images: backbone -> global pooling -> dropout -> dense.

    The head layers are named `pooler`, `output_dropout` and `predictions` and
    are created in KerasHub's order, so weight files of this model and of
    `keras_hub.models.ImageClassifier` load into each other.

    The model is compiled at construction with Adam(5e-5), sparse categorical
    cross-entropy and sparse categorical accuracy, or, for a multi-label
    head (`activation="sigmoid"`: one independent probability per class),
    binary cross-entropy and AUROC; `compile()` with no arguments restores
    these defaults. `fit`, `evaluate` and `predict` run
    the `preprocessor` on every batch, so they take raw images; calling the
    model directly (`classifier(x)`) expects preprocessed images.

    Args:
        backbone: a `keras.Model` with one image input and a 4D feature-map
            output, e.g. `densenet_hub.models.DenseNetBackbone`.
        num_classes: int, the number of classes.
        preprocessor: `None` or a `keras.layers.Layer` run on each batch by
            `fit`, `evaluate` and `predict`, e.g.
            `densenet_hub.models.ImageClassifierPreprocessor`.
        pooling: `"avg"` or `"max"`, the global pooling of the feature map.
        activation: `None` (logits), an activation name such as `"softmax"`,
            or an activation function, applied by the `predictions` layer.
        dropout: float in [0, 1), the dropout rate before the dense layer.
        head_dtype: `None` for the backbone's dtype policy, or a dtype or
            `keras.DTypePolicy` for the head, e.g. `"float32"` to keep the
            head in full precision under a `"mixed_bfloat16"` backbone.
        compile: bool, whether to compile with the defaults above.
        **kwargs: `name` and `trainable`.

    Example:
    ```python
    import numpy as np
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    classifier = densenet_hub.models.ImageClassifier(backbone, num_classes=4)
    images = np.random.uniform(size=(8, 32, 32, 3)).astype("float32")
    labels = np.random.randint(0, 4, size=(8,))
    classifier.fit(images, labels, batch_size=4, epochs=1, verbose=0)
    assert classifier.predict(images, verbose=0).shape == (8, 4)
    ```
    """

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        pooling="avg",
        activation=None,
        dropout=0.0,
        head_dtype=None,
        compile=True,
        **kwargs,
    ):
        owner = type(self).__name__
        reject_unknown_kwargs(self, kwargs, TASK_KWARGS)
        _check_backbone(owner, backbone)
        check_positive_int(owner, "num_classes", num_classes)
        check_choice(owner, "pooling", pooling, tuple(POOLERS))
        _check_activation(owner, activation)
        _check_dropout(owner, dropout)
        head_policy = _check_head_dtype(owner, head_dtype) or backbone.dtype_policy

        # === Head, created in KerasHub's order ===
        pooler = POOLERS[pooling](
            data_format=getattr(backbone, "data_format", None),
            dtype=head_policy,
            name="pooler",
        )
        output_dropout = keras.layers.Dropout(
            dropout, dtype=head_policy, name="output_dropout"
        )
        output_dense = keras.layers.Dense(
            num_classes, activation=activation, dtype=head_policy, name=PREDICTIONS_LAYER
        )

        inputs = backbone.input
        outputs = output_dense(output_dropout(pooler(backbone(inputs))))
        super().__init__(
            inputs, outputs, backbone=backbone, preprocessor=preprocessor, **kwargs
        )

        self.pooler = pooler
        self.output_dropout = output_dropout
        self.output_dense = output_dense

        # === Config ===
        self.num_classes = num_classes
        self.pooling = pooling
        self.activation = activation
        self.dropout = dropout
        self.head_dtype = head_dtype

        if compile:
            self.compile()

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Configures training; `"auto"` arguments take the classifier's defaults.

        Args:
            optimizer: `"auto"` for `keras.optimizers.Adam(5e-5)`, or any
                optimizer `keras.Model.compile` accepts.
            loss: `"auto"` for `keras.losses.SparseCategoricalCrossentropy`,
                reading logits unless the head's activation is softmax (a
                sigmoid head: `keras.losses.BinaryCrossentropy` on its
                probabilities, for multi-hot labels); or any loss
                `keras.Model.compile` accepts.
            metrics: `"auto"` for `[keras.metrics.SparseCategoricalAccuracy()]`
                (a sigmoid head: `[keras.metrics.AUC(multi_label=True,
                name="auroc")]`, the mean of the per-class AUROCs), or a list
                of metrics.
            **kwargs: other `keras.Model.compile` arguments.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(5e-5)
        # KerasHub compiles a sigmoid head with a sparse categorical loss,
        # which cannot learn multi-hot labels; binary cross-entropy can.
        multi_label = self.multi_label
        if loss == "auto" and multi_label:
            loss = keras.losses.BinaryCrossentropy()
        elif loss == "auto":
            # As in KerasHub: every activation but softmax counts as logits.
            from_logits = head_activation(self) != "softmax"
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        if metrics == "auto" and multi_label:
            metrics = [keras.metrics.AUC(multi_label=True, name="auroc")]
        elif metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    @property
    def multi_label(self):
        """Whether the head gives each class its own sigmoid probability
        (multi-label) rather than one distribution over the classes."""
        return head_activation(self) == "sigmoid"

    def get_config(self):
        config = super().get_config()
        activation = self.activation
        if activation is not None and not isinstance(activation, str):
            activation = keras.activations.serialize(activation)
        head_dtype = self.head_dtype
        if head_dtype is not None:
            head_dtype = keras.dtype_policies.serialize(
                keras.dtype_policies.get(head_dtype)
            )
        config.update(
            {
                "num_classes": self.num_classes,
                "pooling": self.pooling,
                "activation": activation,
                "dropout": self.dropout,
                "head_dtype": head_dtype,
            }
        )
        return config


def _check_backbone(owner, backbone):
    if not isinstance(backbone, keras.Model):
        raise TypeError(
            f"{owner}: `backbone` must be a keras.Model such as "
            f"densenet_hub.models.DenseNetBackbone, got "
            f"{type(backbone).__name__}."
        )
    if len(backbone.inputs) != 1 or len(backbone.outputs) != 1:
        raise ValueError(
            f"{owner}: `backbone` must have one image input and one feature-map "
            f"output, got {len(backbone.inputs)} input(s) and "
            f"{len(backbone.outputs)} output(s)."
        )
    if len(backbone.output.shape) != 4:
        raise ValueError(
            f"{owner}: `backbone` must output a 4D feature map (batch, height, "
            f"width, channels), got shape {backbone.output.shape}. Use a "
            f"backbone without its own pooling."
        )


def _check_activation(owner, activation):
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{owner}: `activation` must be None, an activation name such as "
            f"'softmax' or a callable, got {activation!r} ({error})."
        ) from None


def _check_head_dtype(owner, head_dtype):
    if head_dtype is None:
        return None
    try:
        return keras.dtype_policies.get(head_dtype)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{owner}: `head_dtype` must be None, a dtype such as 'float32' or "
            f"a keras.DTypePolicy such as 'mixed_bfloat16', got "
            f"{head_dtype!r} ({error})."
        ) from None


def _check_dropout(owner, dropout):
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, (int, float))
        or not 0 <= dropout < 1
    ):
        raise ValueError(
            f"{owner}: `dropout` must be a number in [0, 1), got {dropout!r}. "
            f"Use 0.0 for no dropout."
        )
