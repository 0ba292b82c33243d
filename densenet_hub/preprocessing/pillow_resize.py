"""Resizing with Pillow's own arithmetic, so that converters reproduce
torchvision's and timm's eval transforms on PIL images pixel for pixel.

Pillow resizes in two passes, one per axis, usually the width first (see
`vertical_first`). A pass
computes, for each output pixel, a weighted sum of the input pixels within
the filter's support; the support widens with the downscale factor
(antialiasing). For 8-bit images the weights are fixed point, with
`PRECISION_BITS` fractional bits, and each pass rounds half up and clips its
result to 0..255 before the next one reads it. This module builds the weights
of each axis on the host with NumPy, in the same double-precision steps as
Pillow (`Resample.c`), and applies them as matrix products.

The sums are exact integers: every term is a pixel of at most 8 bits times a
weight of at most about 2**22, and a pixel's terms sum to less than 2**31 (as
in Pillow's `int` accumulators). They are computed in int32 on JAX (which
runs without float64 by default) and in float64 elsewhere: Keras computes
integer products in float32 on TensorFlow and on CUDA torch, which would
not be exact.
"""

import collections
import math
import re

import keras
import numpy as np
import PIL

# Pillow's fixed-point format for 8-bit images: 8 bits of result and two
# bits of headroom for filters whose partial sums leave [0, 1].
PRECISION_BITS = 32 - 8 - 2
HALF = 1 << (PRECISION_BITS - 1)
UINT8_MAX = 255

# Keras' name for each filter Pillow has (lanczos5 has no counterpart);
# "nearest" is not a filter there but a pixel lookup.
PILLOW_INTERPOLATIONS = ("bilinear", "bicubic", "lanczos3", "nearest")
BICUBIC_A = -0.5


def _bilinear(x):
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _bicubic(x):
    # Keys' cubic with a = -0.5, evaluated in Pillow's operation order so the
    # doubles round alike.
    a = BICUBIC_A
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _sinc(x):
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = x * math.pi
        return np.where(x == 0.0, 1.0, np.sin(scaled) / scaled)


def _lanczos3(x):
    return np.where((-3.0 <= x) & (x < 3.0), _sinc(x) * _sinc(x / 3), 0.0)


# (filter, support in input pixels at scale 1)
FILTERS = {
    "bilinear": (_bilinear, 1.0),
    "bicubic": (_bicubic, 2.0),
    "lanczos3": (_lanczos3, 3.0),
}


def filter_weights(in_size, out_size, interpolation):
    """Pillow's normalised weights of one axis, as a dense `(out_size,
    in_size)` float64 matrix: row `i` holds the weight of each input pixel in
    output pixel `i`. "nearest" gives one 1 per row, at the pixel Pillow
    picks."""
    if interpolation == "nearest":
        return _nearest_weights(in_size, out_size)
    kernel, base_support = FILTERS[interpolation]
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = base_support * filter_scale
    centres = (np.arange(out_size) + 0.5) * scale
    # C casts to int truncate towards zero; the lower bound is clamped at 0
    # anyway, so truncating (not flooring) negative values changes nothing.
    lows = np.maximum(np.trunc(centres - support + 0.5), 0).astype("int64")
    highs = np.minimum(np.trunc(centres + support + 0.5), in_size).astype("int64")
    taps = int(math.ceil(support)) * 2 + 1
    positions = lows[:, None] + np.arange(taps)[None, :]
    inside = positions < highs[:, None]
    raw = kernel(((positions - centres[:, None]) + 0.5) * (1.0 / filter_scale))
    raw = np.where(inside, raw, 0.0)
    # Pillow adds the weights one tap after another; NumPy's `sum` adds
    # pairwise, which can round the last bit differently.
    totals = np.zeros(out_size)
    for tap in range(taps):
        totals = totals + raw[:, tap]
    normalised = np.divide(raw, totals[:, None], out=raw.copy(), where=totals[:, None] != 0)
    weights = np.zeros((out_size, in_size + taps))
    np.put_along_axis(weights, positions, normalised, axis=1)
    return weights[:, :in_size]


def _nearest_weights(in_size, out_size):
    # Pillow steps through the source in double precision, adding the scale
    # once per output pixel, and truncates each position.
    scale = in_size / out_size
    steps = np.full(out_size, scale)
    steps[0] = scale * 0.5
    picks = np.add.accumulate(steps).astype("int64")
    weights = np.zeros((out_size, in_size))
    weights[np.arange(out_size), np.minimum(picks, in_size - 1)] = 1.0
    return weights


def fixed_point(weights):
    """Pillow's 8-bit weights: `weights * 2**PRECISION_BITS` rounded half
    away from zero, as int64."""
    scaled = weights * (1 << PRECISION_BITS)
    return np.trunc(scaled + np.where(scaled < 0, -0.5, 0.5)).astype("int64")


def crop_kernel(in_size, out_size, start, length, interpolation, integer):
    """The weights of output pixels `start .. start + length` of a resize of
    `in_size` pixels to `out_size`, restricted to the input pixels they use.

    Args:
        in_size: input pixels on this axis.
        out_size: pixels the whole axis is resized to.
        start: first output pixel kept (the crop offset).
        length: output pixels kept.
        interpolation: one of `PILLOW_INTERPOLATIONS`.
        integer: Pillow's fixed-point weights (for uint8 images) instead of
            its normalised float weights.

    Returns:
        `(first, kernel)`: the first input pixel used, and a `(span, length)`
        matrix (int64 or float64) whose product with input pixels `first ..
        first + span` gives the kept output pixels before rounding.

    Example:
    ```python
    from densenet_hub.preprocessing.pillow_resize import crop_kernel

    first, kernel = crop_kernel(8, 4, 1, 2, "bilinear", integer=True)
    # Halving widens bilinear's filter to 4 inputs (antialiasing): output
    # pixels 1 and 2 read inputs 1..4 and 3..6, weighted 1:3:3:1.
    assert first == 1 and kernel.shape == (6, 2)
    assert kernel[:, 0].tolist() == [2**19, 3 * 2**19, 3 * 2**19, 2**19, 0, 0]
    assert kernel.sum(axis=0).tolist() == [2**22, 2**22]
    ```
    """
    weights = filter_weights(int(in_size), int(out_size), interpolation)
    weights = weights[int(start) : int(start) + int(length)]
    used = np.flatnonzero(np.any(weights != 0, axis=0))
    first, last = int(used[0]), int(used[-1]) + 1
    weights = weights[:, first:last]
    if integer:
        weights = fixed_point(weights)
    return first, np.ascontiguousarray(weights.T)


def pillow_version(version=None):
    """`(major, minor)` of `version`, by default the installed Pillow's."""
    match = re.match(r"(\d+)\.(\d+)", version or PIL.__version__)
    return (int(match[1]), int(match[2]))


def vertical_first(in_height, in_width, out_height, out_width, version=None):
    """Whether Pillow resizes the height before the width.

    Pillow 13 does so when the height shrinks by more than twice as many
    pixels as the width does; 12.2 and 12.3 when the image is over 100 times
    taller than wide and its height shrinks; older versions never. Between
    the passes pixels are rounded to 8 bits, so the order changes the
    result; torchvision and timm use whichever Pillow is installed, and so
    does this. Works on Python ints and on TensorFlow scalars alike.
    """
    release = pillow_version(version)
    if release >= (13, 0):
        shrink = in_height - out_height
        return (shrink > 0) & (shrink > 2 * (in_width - out_width))
    if release >= (12, 2):
        return (in_height > in_width * 100) & (out_height < in_height)
    return False


# Where a resize reads and what it keeps on one axis: input pixels
# `window_start .. window_start + window_size` are resized to `resized_size`
# pixels, of which `crop_start .. crop_start + crop_length` are kept. Values
# are Python ints, or TensorFlow scalars inside a tf.data graph.
AxisPlan = collections.namedtuple(
    "AxisPlan", "window_start window_size resized_size crop_start crop_length"
)


class _Ops(collections.namedtuple(
    "_Ops", "transpose cast matmul right_shift clip floor constant concatenate"
)):
    """The tensor operations a resize needs, from Keras or from TensorFlow
    (inside tf.data, whatever the Keras backend)."""


def _keras_ops():
    ops = keras.ops
    return _Ops(
        ops.transpose, ops.cast, _keras_matmul, ops.right_shift, ops.clip,
        ops.floor, ops.convert_to_tensor, ops.concatenate,
    )


def _keras_matmul(pixels, kernel):
    if keras.config.backend() == "jax":
        # JAX's default precision on GPUs multiplies float32 as TF32, which
        # moved float pixels by up to 0.11 grey levels on an H200.
        import jax.numpy as jnp

        return jnp.einsum("...ij,jk->...ik", pixels, kernel, precision="highest")
    # Not `keras.ops.matmul`: it computes float64 in float32 on torch.
    return keras.ops.einsum("...ij,jk->...ik", pixels, kernel)


def _tf_ops(tf):
    return _Ops(
        tf.transpose, tf.cast, tf.linalg.matmul, tf.bitwise.right_shift,
        tf.clip_by_value, tf.math.floor, tf.convert_to_tensor, tf.concat,
    )


def resize(images, rows, columns, interpolation, tf=None):
    """Resizes and crops channels-first images `(N, C, H, W)` as Pillow
    resizes, then crops.

    uint8 images get Pillow's exact 8-bit arithmetic. Float images get its
    float arithmetic (float weights, nothing rounded or clipped), summed in
    float64 (float32 at full precision on JAX). Other integer images get float weights, and are
    rounded half up and clipped to their dtype's range after each pass.

    Args:
        images: a `(N, C, H, W)` tensor of the current Keras backend, or a
            TensorFlow tensor when `tf` is given.
        rows: the `AxisPlan` of the height.
        columns: the `AxisPlan` of the width.
        interpolation: one of `PILLOW_INTERPOLATIONS`.
        tf: the TensorFlow module when tracing a TensorFlow graph (tf.data),
            else `None`.

    Returns:
        `(N, C, rows.crop_length, columns.crop_length)`, in the images'
        dtype.

    Example:
    ```python
    import numpy as np
    import PIL.Image
    import keras
    from densenet_hub.preprocessing.pillow_resize import AxisPlan, resize

    image = np.random.default_rng(0).integers(0, 256, (30, 40), dtype="uint8")
    rows, columns = AxisPlan(0, 30, 12, 0, 12), AxisPlan(0, 40, 16, 0, 16)
    ours = resize(keras.ops.convert_to_tensor(image[None, None]), rows, columns, "bicubic")
    theirs = PIL.Image.fromarray(image).resize((16, 12), PIL.Image.BICUBIC)
    assert (keras.ops.convert_to_numpy(ours)[0, 0] == np.asarray(theirs)).all()
    ```
    """
    ops = _keras_ops() if tf is None else _tf_ops(tf)
    dtype = keras.backend.standardize_dtype(images.dtype)
    # Inside tf.data TensorFlow's own ops run on the host, where float64 is
    # exact and fast enough whatever the Keras backend.
    arithmetic = _Arithmetic(dtype, "float64" if tf is not None else None)
    row_kernel = _AxisKernel(rows, interpolation, arithmetic, ops, tf)
    column_kernel = _AxisKernel(columns, interpolation, arithmetic, ops, tf)
    top = rows.window_start + row_kernel.first
    left = columns.window_start + column_kernel.first
    pixels = images[
        :,
        :,
        top : top + row_kernel.span,
        left : left + column_kernel.span,
    ]
    pixels = ops.cast(pixels, arithmetic.dtype)

    def horizontal_first():
        resized = arithmetic.settle(column_kernel.apply(pixels), ops)
        resized = ops.transpose(resized, (0, 1, 3, 2))
        resized = arithmetic.settle(row_kernel.apply(resized), ops)
        return ops.transpose(resized, (0, 1, 3, 2))

    def height_first():
        resized = ops.transpose(pixels, (0, 1, 3, 2))
        resized = arithmetic.settle(row_kernel.apply(resized), ops)
        resized = ops.transpose(resized, (0, 1, 3, 2))
        return arithmetic.settle(column_kernel.apply(resized), ops)

    order = vertical_first(
        rows.window_size, columns.window_size, rows.resized_size, columns.resized_size
    )
    if tf is not None and tf.is_tensor(order):
        resized = tf.cond(order, height_first, horizontal_first)
    else:
        resized = height_first() if order else horizontal_first()
    return ops.cast(resized, dtype)


class _Arithmetic:
    """How one pass computes and rounds, by image dtype (see `resize`)."""

    def __init__(self, dtype, accumulator=None):
        self.fixed_point = dtype == "uint8"
        self.limits = None
        if self.fixed_point:
            # JAX has no float64 by default; Keras computes integer products
            # in float32 on TensorFlow and CUDA torch. Both are exact here.
            default = "int32" if keras.config.backend() == "jax" else "float64"
            self.dtype = accumulator or default
        else:
            # Pillow sums float pixels in double. Float64 also keeps
            # TensorFlow's TF32 (on by default on GPUs) away; JAX has no
            # float64 by default and multiplies at full precision instead.
            self.dtype = accumulator or (
                "float32" if keras.config.backend() == "jax" else "float64"
            )
            if dtype.startswith(("int", "uint")):
                self.limits = np.iinfo(dtype)

    def settle(self, sums, ops):
        """A pass's sums as the pixels the next pass (or the caller) reads."""
        if self.fixed_point:
            pixels = ops.right_shift(ops.cast(sums, "int32") + HALF, PRECISION_BITS)
            return ops.cast(ops.clip(pixels, 0, UINT8_MAX), self.dtype)
        if self.limits is not None:
            pixels = ops.clip(ops.floor(sums + 0.5), self.limits.min, self.limits.max)
            # Keras' clip gives float32 for float64 on torch.
            return ops.cast(pixels, self.dtype)
        return sums


class _AxisKernel:
    """One axis's weights as tensors, applied to the last axis of pixels.

    The weights are a band: each output pixel reads a few neighbouring
    inputs. A dense product over the whole span would mostly multiply zeros,
    so when the sizes are known the outputs are split into runs of
    `OUTPUTS_PER_PRODUCT`, each multiplied with only the inputs it reads.
    Inside a TensorFlow graph with sizes known only when it runs, the
    weights are computed then, on the host, and applied whole.
    """

    OUTPUTS_PER_PRODUCT = 64

    def __init__(self, plan, interpolation, arithmetic, ops, tf):
        self.ops = ops
        arguments = (plan.window_size, plan.resized_size, plan.crop_start, plan.crop_length)
        integer = arithmetic.fixed_point
        if tf is None or not any(tf.is_tensor(value) for value in arguments):
            self.first, kernel = crop_kernel(*arguments, interpolation, integer)
            self.span = kernel.shape[0]
            self.parts = [
                (start, stop, ops.cast(ops.constant(part), arithmetic.dtype))
                for start, stop, part in _band_parts(kernel, self.OUTPUTS_PER_PRODUCT)
            ]
            return

        def compute(*sizes):
            first, kernel = crop_kernel(*map(int, sizes), interpolation, integer)
            return np.int64(first), kernel

        first, kernel = tf.numpy_function(
            compute,
            [tf.cast(value, "int64") for value in arguments],
            ["int64", "int64" if integer else "float64"],
            stateful=False,
        )
        length = plan.crop_length if isinstance(plan.crop_length, int) else None
        kernel.set_shape([None, length])
        self.first = tf.cast(first, "int32")
        self.span = tf.shape(kernel)[0]
        self.parts = [(0, None, tf.cast(kernel, arithmetic.dtype))]

    def apply(self, pixels):
        """Weighted sums over the last axis of `pixels` (before rounding)."""
        sums = [
            self.ops.matmul(pixels[..., start:stop], part)
            for start, stop, part in self.parts
        ]
        return sums[0] if len(sums) == 1 else self.ops.concatenate(sums, axis=-1)


def _band_parts(kernel, outputs_per_part):
    """`(start, stop, kernel[start:stop, outputs])` for runs of outputs:
    together they give the same sums as `kernel`."""
    parts = []
    for begin in range(0, kernel.shape[1], outputs_per_part):
        part = kernel[:, begin : begin + outputs_per_part]
        used = np.flatnonzero(np.any(part != 0, axis=1))
        start, stop = int(used[0]), int(used[-1]) + 1
        parts.append((start, stop, np.ascontiguousarray(part[start:stop])))
    return parts
