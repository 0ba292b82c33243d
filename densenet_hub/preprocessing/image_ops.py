"""Tensor helpers of `ImageConverter`: torchvision's resize-and-crop
arithmetic, channel permutations, dtype checks, and what differs inside a
TensorFlow graph (tf.data) from eager execution."""

import sys

import keras
import numpy as np

NUMERIC_DTYPE_PREFIXES = ("int", "uint", "float", "bfloat")


def shorter_side_size(height, width, shorter_side, minimum=min):
    """`(height, width)` scaled so the shorter side is `shorter_side`, as
    torchvision's `Resize(int)`: the longer side is truncated. Integer
    arithmetic keeps it exact, and works on TensorFlow scalars too."""
    current_shorter_side = minimum(height, width)
    return (
        shorter_side * height // current_shorter_side,
        shorter_side * width // current_shorter_side,
    )


def centre_crop_offset(size, crop, round_half_even=round):
    """torchvision's `CenterCrop` offset `int(round((size - crop) / 2))`;
    Python's `round` and `tf.round` both round halves to even."""
    return round_half_even((size - crop) / 2)


def crop(images, height_axis, top, left, height, width):
    index = [slice(None)] * len(images.shape)
    index[height_axis] = slice(top, top + height)
    index[height_axis + 1] = slice(left, left + width)
    return images[tuple(index)]


def channels_permutation(images, to_last):
    """Axes that move channels last (or back first) in a rank 3 or 4 tensor."""
    batch = [0] if len(images.shape) == 4 else []
    spatial = [axis + len(batch) for axis in ((1, 2, 0) if to_last else (2, 0, 1))]
    return batch + spatial


def channel_count(scale, offset):
    """Number of channels the per-channel values imply, `None` if any count."""
    for value in (scale, offset):
        if isinstance(value, list):
            return len(value)
    return None


def check_image_dtype(owner, dtype):
    try:
        name = keras.backend.standardize_dtype(dtype)
    except (ValueError, TypeError):
        name = str(dtype)
    if not name.startswith(NUMERIC_DTYPE_PREFIXES):
        raise ValueError(
            f"{owner}: images must have an integer or float dtype, got "
            f"{name!r}. Decode the images to numbers first, e.g. uint8 pixels "
            "in [0, 255] (cast boolean masks with `.astype('uint8')`)."
        )


def tensorflow_graph():
    """TensorFlow while it traces a graph (tf.data, tf.function), else None."""
    tf = sys.modules.get("tensorflow")
    if tf is None or tf.executing_eagerly():
        return None
    return tf


def float_pixels(images, dtype):
    # In a TF graph Keras' data layers cast their input to float themselves.
    if tensorflow_graph() is not None:
        return images
    return keras.ops.cast(images, dtype)


def integer_pixels(images, dtype):
    limits = np.iinfo(dtype)
    tf = tensorflow_graph()
    if tf is not None:
        rounded = tf.clip_by_value(tf.round(images), limits.min, limits.max)
        return tf.cast(rounded, dtype)
    rounded = keras.ops.clip(keras.ops.round(images), limits.min, limits.max)
    return keras.ops.cast(rounded, dtype)


def static_shape(tensor):
    """The shape as a tuple with `None` for unknown sizes; `None` if the rank
    itself is unknown (possible for tensors traced by tf.data)."""
    shape = tensor.shape
    if getattr(shape, "rank", 0) is None:
        return None
    return tuple(None if d is None else int(d) for d in shape)


def aspect_ratio_window(height, width, target_height, target_width, minimum=min, maximum=max):
    """`(top, left, height, width)` of the largest centred window with the
    target's aspect ratio, with Keras' integer rounding (`crop_to_aspect_ratio`);
    works on TensorFlow scalars with `tf.minimum` and `tf.maximum`."""
    window_height = maximum(minimum(height, width * target_height // target_width), 1)
    window_width = maximum(minimum(width, height * target_width // target_height), 1)
    return (
        (height - window_height) // 2,
        (width - window_width) // 2,
        window_height,
        window_width,
    )
