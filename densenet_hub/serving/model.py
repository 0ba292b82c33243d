"""The model a server runs: a classifier (Keras, or accelerated on ONNX
Runtime or OpenVINO) with its class labels, loaded from a preset, a folder
`densenet-hub quantize` wrote, or a model in memory."""

import os
import pathlib
import re

import keras
import numpy as np

from densenet_hub.explain import explain_image
from densenet_hub.inference import to_probabilities
from densenet_hub.models import ImageClassifier
from densenet_hub.presets.class_labels import default_class_names
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.runtime import AcceleratedModel
from densenet_hub.runtime import accelerate
from densenet_hub.runtime.model_folders import load_scoring_model

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")
# A tiny image run once at load: it gives the class count of an
# `AcceleratedModel` in memory and makes the first request pay no compilation.
WARM_UP_IMAGE = np.zeros((32, 32, 3), dtype="uint8")


class ServedModel:
    """A classifier as the server runs it.

    Attributes:
        name: the model's name in the URLs (`/v2/models/{name}`).
        predictor: what runs a batch of images: the Keras classifier or its
            `AcceleratedModel`.
        classifier: the Keras classifier, for Grad-CAM; `None` when only an
            accelerated folder was loaded.
        labels: the `ClassLabels` (names; thresholds when multi-label).
        platform: `densenet_hub_keras`, `densenet_hub_onnxruntime` or
            `densenet_hub_openvino`, as the model metadata states it.
        num_classes: the number of classes (findings).
    """

    def __init__(self, name, predictor, labels, classifier=None):
        self.name = name
        self.predictor = predictor
        self.classifier = classifier
        self.labels = labels
        runtime = predictor.runtime if isinstance(predictor, AcceleratedModel) else "keras"
        self.platform = f"densenet_hub_{runtime}"
        self.num_classes = len(labels.names)
        self._warm = set()

    @property
    def multi_label(self):
        """Whether each class has its own probability (a sigmoid head)."""
        return bool(self.predictor.multi_label or self.labels.multi_label)

    def predict(self, images):
        """`(predictions, probabilities)` of a list of raw images (uint8, or
        float32 levels 0-255, any sizes): what `model.predict` gives, and
        one probability per class."""
        outputs = keras.ops.convert_to_numpy(self.predictor.predict_on_batch(images))
        return outputs, to_probabilities(self.predictor, outputs)

    def warm_up(self, batch_sizes):
        """Runs a batch of each size once at the preprocessor's image size,
        so that no request pays for compiling it (JAX compiles each new
        input shape; warming twice costs nothing)."""
        converter = getattr(self.predictor.preprocessor, "image_converter", None)
        size = getattr(converter, "image_size", None) or WARM_UP_IMAGE.shape[:2]
        image = np.zeros((*size, 3), dtype="uint8")
        for count in sorted(set(batch_sizes) - self._warm):
            self.predict([image] * count)
            self._warm.add(count)

    def explain(self, image, class_index):
        """The Grad-CAM `densenet_hub.explain.Explanation` of `image` (raw,
        `(height, width, 3)`) for `class_index`."""
        if self.classifier is None:
            raise ValueError(
                f"Grad-CAM needs the Keras model, but {self.name!r} was loaded "
                "from an accelerated folder; serve the preset itself (with "
                "--runtime for speed) to explain images."
            )
        (explanation,) = explain_image(self.classifier, image, class_index)
        return explanation


def load_served_model(model_or_preset, *, name=None, runtime=None, precision="float32",
                      labels=None):  # fmt: skip
    """The `ServedModel` of a classifier.

    Args:
        model_or_preset: a classifier preset (built-in name, handle or
            folder), a folder `densenet-hub quantize` or
            `AcceleratedModel.save` wrote, an `ImageClassifier` with its
            preprocessor, or an `AcceleratedModel` of one.
        name: the model's name in the URLs; default the preset's or folder's
            last path component, or the model's name.
        runtime: `None` (Keras, or the folder's own engine), `"onnxruntime"`
            or `"openvino"`: run a Keras classifier on that engine.
        precision: with `runtime`, `"float32"` or `"bfloat16"` (OpenVINO).
        labels: `ClassLabels` to use instead of the preset's (or, for a model
            in memory, instead of ImageNet names or `class_<index>`).

    Raises:
        ValueError: a model without a classification head or without
            preprocessing, an invalid name, or options the model cannot take.

    Example:
    ```python
    import numpy as np
    import densenet_hub
    from densenet_hub.serving.model import load_served_model

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    served = load_served_model(classifier, name="tiny")
    predictions, probabilities = served.predict([np.zeros((40, 48, 3), "uint8")])
    assert predictions.shape == (1, 3) and abs(probabilities.sum() - 1) < 1e-5
    assert served.labels.names == ["class_0", "class_1", "class_2"]
    ```
    """
    if isinstance(model_or_preset, (str, os.PathLike)):
        # As `densenet-hub predict` and `evaluate` read either kind of folder.
        classifier, preset_labels = load_scoring_model(model_or_preset)
        labels = labels or preset_labels
        predictor = classifier
    else:
        predictor = classifier = model_or_preset
    _check_classifier(classifier, model_or_preset)
    if runtime is not None:
        if isinstance(classifier, AcceleratedModel):
            raise ValueError(
                f"{_described(model_or_preset)} already runs on {classifier.runtime} "
                f"({classifier.precision}); drop runtime={runtime!r}."
            )
        predictor = accelerate(classifier, runtime=runtime, precision=precision)
    elif precision != "float32":
        raise ValueError(
            f"precision={precision!r} needs runtime='openvino' (Keras runs the "
            "model in its own precision); pass runtime, or drop precision."
        )
    num_classes = predictor.predict_on_batch([WARM_UP_IMAGE]).shape[-1]
    if labels is None:
        labels = ClassLabels(default_class_names(num_classes))
    return ServedModel(
        served_name(model_or_preset, name, classifier),
        predictor,
        labels,
        classifier if isinstance(classifier, ImageClassifier) else None,
    )


def _check_classifier(model, source):
    if isinstance(model, AcceleratedModel):
        if model.output != "predictions" or model.preprocessor is None:
            held = ("a backbone's feature model" if model.output != "predictions"
                    else "a model without preprocessing, which cannot read raw images")  # fmt: skip
            raise ValueError(
                f"{_described(source)} holds {held}; serving needs a classifier "
                "with its preprocessing: quantize or accelerate a classifier preset."
            )
        return
    if not isinstance(model, ImageClassifier):
        raise ValueError(
            f"serving needs a classifier preset, an accelerated folder, an "
            f"ImageClassifier or an AcceleratedModel; got {type(model).__name__}."
        )
    if model.preprocessor is None:
        raise ValueError(
            f"{_described(source)} has no preprocessor, so the server cannot "
            "turn raw images into its input; give it one (e.g. "
            "`densenet_hub.inference.default_preprocessor((224, 224))`) first."
        )


def served_name(source, name=None, model=None):
    """The model's name in the URLs (`/v2/models/{name}`): `name` checked,
    or else the last path component of `source` (a preset or folder), or
    `model`'s name, with characters a URL cannot hold replaced by `_`.

    Args:
        source: the preset or folder, or the model, being served.
        name: the name asked for, or `None`.
        model: the Keras model or `AcceleratedModel`, for a `source` that is
            not a path.

    Raises:
        ValueError: `name` has characters other than letters, digits,
            `_`, `.` and `-`, or is longer than 128.

    Example:
    ```python
    from densenet_hub.serving.model import served_name

    assert served_name("runs/chest x-ray/") == "chest_x-ray"
    assert served_name("runs/chest", name="cxr-v2") == "cxr-v2"
    ```
    """
    if name is None:
        if isinstance(source, (str, os.PathLike)):
            name = pathlib.PurePath(str(source).rstrip("/")).name
        else:
            name = getattr(model, "name", None) or "model"
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:128] or "model"
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"the model name {name!r} cannot stand in a URL; use 1 to 128 "
            "letters, digits, '_', '.' or '-'."
        )
    return name


def _described(source):
    return repr(str(source)) if isinstance(source, (str, os.PathLike)) else type(source).__name__

