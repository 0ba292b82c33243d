"""Helpers shared by the parity tests: random weights, forward passes, diffs."""

import keras
import numpy as np


def randomize_weights(model, seed):
    """Give every Conv2D and BatchNormalization layer random, distinct weights.

    Fresh models have BatchNorm statistics mean 0, variance 1, gamma 1 and
    beta 0; with those, two BatchNorm layers of the same width are
    interchangeable and a weight copy that swaps them goes unnoticed. Random
    values for all four tensors make every swap change the output. Kernels
    use He scaling and the statistics stay near the identity, so activations
    keep a moderate size through hundreds of layers.

    Raises:
        TypeError: for any other layer that owns weights, so that a new
            layer type cannot silently keep its initial values.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not layer.weights:
            continue
        if isinstance(layer, keras.layers.Conv2D):
            _randomize_kernel(layer.kernel, rng)
        elif isinstance(layer, keras.layers.BatchNormalization):
            _randomize_batch_norm(layer, rng)
        else:
            raise TypeError(
                f"randomize_weights: layer {layer.name!r} of type "
                f"{type(layer).__name__} has weights but no randomisation rule; "
                f"add one to tests/helpers/weights.py."
            )


def _randomize_kernel(kernel, rng):
    *window, _ = kernel.shape
    fan_in = int(np.prod(window))
    values = rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape)
    kernel.assign(values.astype(kernel.dtype))


def _randomize_batch_norm(layer, rng):
    shape = layer.gamma.shape
    layer.gamma.assign(rng.uniform(0.5, 1.5, shape).astype(layer.gamma.dtype))
    layer.beta.assign(rng.uniform(-0.5, 0.5, shape).astype(layer.beta.dtype))
    layer.moving_mean.assign(
        rng.uniform(-0.5, 0.5, shape).astype(layer.moving_mean.dtype)
    )
    layer.moving_variance.assign(
        rng.uniform(0.5, 2.0, shape).astype(layer.moving_variance.dtype)
    )


def forward(model, images):
    """Inference output of `model` on `images` as a float32 numpy array.

    JAX's eager mode compiles every operation separately (about 40 s for one
    DenseNet-201 image on CPU), while `predict` compiles the graph once.
    TensorFlow's `predict` traces a new function per model (about 3 s), more
    than an eager call costs for one image. Both paths run in inference mode.
    """
    if keras.backend.backend() == "tensorflow":
        outputs = model(images, training=False)
    else:
        outputs = model.predict(images, verbose=0)
    return keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32"))


def max_abs_diff(a, b):
    """Largest absolute elementwise difference of two same-shape arrays."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def random_images(batch, size, seed=0, channels=3, data_format="channels_last"):
    """Uniform [0, 1) float32 images of shape (batch, size, size, channels)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 1.0, (batch, size, size, channels))
    if data_format == "channels_first":
        images = np.transpose(images, (0, 3, 1, 2))
    return images.astype("float32")
