"""Grad-CAM heat maps of where a classifier looks (Selvaraju et al.,
"Grad-CAM", ICCV 2017).

The map is computed on a feature map of the backbone: each channel is
weighted by the mean gradient of the class score (the head's logit, before
any softmax or sigmoid, which would flatten the gradient of a confident
prediction) with respect to it, the weighted sum is passed through a ReLU
and scaled to a peak of 1. The gradient is taken with the active Keras
backend's own autodiff (JAX, PyTorch or TensorFlow).

By default the map is the backbone's final one (after the last dense
block's closing BatchNorm and ReLU: 7x7 cells for DenseNet-121 at 224x224),
unless it has fewer than `MIN_CELLS` cells a side; then it is the last
pyramid level that has that many. A 3-block DenseNet at 32x32 (the digits
demo) ends on 2x2 cells, each seeing a quarter of the digit and all of them
some of its strokes, so its final map can only be near-uniform (each cell
at 0.6-1.0 of the peak on the demo's digits); its 4x4 level shows the
strokes that decide the class.
"""

import keras
import numpy as np

BACKENDS = ("jax", "torch", "tensorflow")
FINAL_LEVEL = "output"
# The fewest cells a side a map needs to show where in the image the model
# looks; DenseNet-121's final map at its usual 224x224 has 7.
MIN_CELLS = 4


def grad_cam(classifier, images, class_index=None, preprocessed=False, level=None):
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
        level: the feature map: `"output"` (the backbone's final one), a
            pyramid level of `classifier.backbone.pyramid_outputs` such as
            `"P3"`, or `None`: the final one unless it has fewer than
            `MIN_CELLS` cells a side, then the last level that has that
            many (the finest when none has).

    Returns:
        A float64 numpy array of shape `(images, height, width)` at the
        resolution of that feature map (for the final one, 1/32 of the
        input side for the 4-block DenseNets), each map scaled to a peak of
        1 (all zeros when nothing speaks for the class). Values are in
        [0, 1].

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
    # The final map has 4x4 cells (MIN_CELLS); an earlier level has more.
    assert densenet_hub.explain.grad_cam(classifier, images, level="P2").shape == (2, 8, 8)
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
    backbone = classifier.backbone
    channels_first = getattr(backbone, "data_format", None) == "channels_first"
    spatial_axes, channel_axis = ((2, 3), 1) if channels_first else ((1, 2), -1)
    features, rest = _feature_map(backbone, x, level, spatial_axes)
    chosen = _class_indices(classifier, rest(features), class_index)

    def class_scores(feature_map):
        # Each image's score depends on its own features only (inference
        # mode), so the gradient of the sum is each image's own gradient.
        scores = _logits(classifier, rest(feature_map))
        return keras.ops.sum(keras.ops.take_along_axis(scores, chosen[:, None], axis=1))

    gradients = _gradient(class_scores, features)
    weights = keras.ops.mean(gradients, axis=spatial_axes, keepdims=True)
    cams = keras.ops.relu(keras.ops.sum(weights * features, axis=channel_axis))
    cams = keras.ops.convert_to_numpy(cams).astype("float64")
    peaks = cams.max(axis=(1, 2), keepdims=True)
    return np.divide(cams, peaks, out=np.zeros_like(cams), where=peaks > 0)


def _feature_map(backbone, x, level, spatial_axes):
    """`(features, rest)`: the feature map Grad-CAM weighs (see `grad_cam`'s
    `level`) for the batch `x`, and the function from it to the backbone's
    output."""
    levels = {FINAL_LEVEL: backbone.output, **dict(reversed(backbone.pyramid_outputs.items()))}
    if level is not None and level not in levels:
        raise ValueError(
            f"grad_cam: unknown `level` {level!r}; this backbone has "
            f"{', '.join(map(repr, levels))}, or None to choose."
        )
    if level is None:
        maps = keras.Model(backbone.input, levels)(x, training=False)
        sides = {name: min(maps[name].shape[axis] for axis in spatial_axes) for name in levels}
        fine_enough = [name for name in levels if sides[name] >= MIN_CELLS]
        level = fine_enough[0] if fine_enough else list(levels)[-1]
        features = maps[level]
    else:
        features = keras.Model(backbone.input, levels[level])(x, training=False)
    if levels[level] is backbone.output:
        return features, lambda feature_map: feature_map
    # After a level, a DenseNet's graph runs through that level only.
    rest = keras.Model(levels[level], backbone.output)
    return features, lambda feature_map: rest(feature_map, training=False)


def _logits(classifier, final_features):
    """The head's class scores before its activation: the gradient of a
    softmax or sigmoid vanishes as a prediction grows confident."""
    head = classifier.output_dense
    pooled = keras.ops.cast(classifier.pooler(final_features), head.kernel.dtype)
    logits = keras.ops.matmul(pooled, head.kernel)
    return logits if head.bias is None else logits + head.bias


def _class_indices(classifier, final_features, class_index):
    """One class index per image, as an int32 tensor."""
    count = final_features.shape[0]
    if class_index is None:
        scores = _logits(classifier, final_features)
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
