"""Grad-CAM heat maps of where a classifier looks (Selvaraju et al.,
"Grad-CAM", ICCV 2017).

The map is computed on the final feature map of the last dense block (after
its closing BatchNorm and ReLU, the backbone's output): each channel is
weighted by the mean gradient of the class score with respect to it, the
weighted sum is passed through a ReLU and scaled to [0, 1]. The gradient is
taken with the active Keras backend's own autodiff (JAX, PyTorch or
TensorFlow).
"""

import keras
import numpy as np

BACKENDS = ("jax", "torch", "tensorflow")


def grad_cam(classifier, images, class_index=None, preprocessed=False):
    """Grad-CAM heat maps of `images` for a class, one per image.

    Args:
        classifier: an `ImageClassifier` with a pooled dense head, such as
            `densenet_hub.models.ImageClassifier.from_preset(...)`.
        images: what `classifier.predict` takes: a list of images (uint8,
            or float32 levels in [0, 255]) or a batch, which the
            classifier's preprocessor resizes and scales.
            With `preprocessed=True`, the preprocessor's output instead.
        class_index: the class to explain: `None` for each image's highest
            scoring class, an int for the same class in every image, or a
            sequence of one int per image.
        preprocessed: whether `images` already went through the
            preprocessor (or the classifier has none).

    Returns:
        A float64 numpy array of shape `(images, height, width)` at the
        resolution of the backbone's output feature map (1/32 of the input
        side for the 4-block DenseNets), each map scaled to a peak of 1 (all zeros when
        nothing speaks for the class). Values are in [0, 1].

    Example:
    ```python
    import numpy as np
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone,
        num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype="uint8")
    heat = densenet_hub.explain.grad_cam(classifier, images, class_index=1)
    assert heat.shape == (2, 4, 4) and heat.min() >= 0 and heat.max() <= 1
    ```
    """
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(
            f"grad_cam needs the gradients of the jax, torch or tensorflow "
            f"Keras backend, got {backend!r}; set KERAS_BACKEND to one of them."
        )
    x = images
    if not preprocessed and classifier.preprocessor is not None:
        x = classifier.preprocessor(images)
    features = classifier.backbone(x, training=False)
    channels_first = getattr(classifier.backbone, "data_format", None) == "channels_first"
    spatial_axes, channel_axis = ((2, 3), 1) if channels_first else ((1, 2), -1)
    chosen = _class_indices(classifier, features, class_index)

    def class_scores(feature_map):
        # Each image's score depends on its own features only (inference
        # mode), so the gradient of the sum is each image's own gradient.
        scores = classifier.output_dense(classifier.pooler(feature_map))
        return keras.ops.sum(keras.ops.take_along_axis(scores, chosen[:, None], axis=1))

    gradients = _gradient(class_scores, features)
    weights = keras.ops.mean(gradients, axis=spatial_axes, keepdims=True)
    cams = keras.ops.relu(keras.ops.sum(weights * features, axis=channel_axis))
    cams = keras.ops.convert_to_numpy(cams).astype("float64")
    peaks = cams.max(axis=(1, 2), keepdims=True)
    return np.divide(cams, peaks, out=np.zeros_like(cams), where=peaks > 0)


def _class_indices(classifier, features, class_index):
    """One class index per image, as an int32 tensor."""
    count = features.shape[0]
    if class_index is None:
        scores = classifier.output_dense(classifier.pooler(features))
        chosen = np.argmax(keras.ops.convert_to_numpy(scores), axis=-1)
    else:
        chosen = np.asarray(class_index)
        if chosen.ndim == 0:
            chosen = np.full(count, chosen)
        num_classes = classifier.num_classes
        if (
            chosen.shape != (count,)
            or not np.issubdtype(chosen.dtype, np.integer)
            or chosen.min() < 0
            or chosen.max() >= num_classes
        ):
            raise ValueError(
                f"grad_cam: `class_index` must be None, an int from 0 to "
                f"{num_classes - 1}, or one such int per image ({count}), got "
                f"{class_index!r}."
            )
    return keras.ops.convert_to_tensor(chosen.astype("int32"))


def _gradient(function, x):
    """d function(x) / dx with the active backend's autodiff."""
    backend = keras.backend.backend()
    # Each backend's autodiff module is imported only under that backend:
    # the others need not be installed.
    if backend == "jax":
        import jax

        return jax.grad(function)(x)
    if backend == "torch":
        x = x.detach().requires_grad_(True)
        function(x).backward()
        return x.grad
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        score = function(x)
    return tape.gradient(score, x)
