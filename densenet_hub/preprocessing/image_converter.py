"""Turns raw images into model inputs: resize (optionally resize the shorter
side, then centre-crop), then `x * scale + offset`."""

import math
import numbers

import keras
import numpy as np

from densenet_hub.data.images import MAX_IMAGE_PIXELS
from densenet_hub.preprocessing import image_converter_arguments as arguments
from densenet_hub.preprocessing import image_ops
from densenet_hub.preprocessing import pillow_resize
from densenet_hub.preprocessing.image_converter_arguments import BOUNDING_BOX_FORMATS
from densenet_hub.preprocessing.image_converter_arguments import INTERPOLATIONS
from densenet_hub.preprocessing.image_converter_arguments import RESAMPLINGS
from densenet_hub.presets.registry import preset_class
from densenet_hub.presets.mixin import PresetMixin
from densenet_hub.base.validation import check_choice
from densenet_hub.base.validation import reject_unknown_kwargs
from densenet_hub.base.validation import DATA_FORMATS
from densenet_hub.base.validation import LAYER_KWARGS


@keras.saving.register_keras_serializable(package="densenet_hub")
@preset_class(
    kind="image_converter",
    keras_hub_module="keras_hub.src.layers.preprocessing.image_converter",
    validators=arguments.PRESET_VALIDATORS,
    former_modules=("densenet_hub.layers.image_converter",),
)
class ImageConverter(PresetMixin, keras.layers.Layer):
    """Converts raw images into model-ready inputs, as KerasHub's does.

    Three steps, each skipped when its argument is `None`:

    1. Resize to `image_size` with `keras.layers.Resizing`; or, with
       `crop_pct` below 1, as torchvision's and timm's eval transforms do:
       resize the shorter side to `floor(min(image_size) / crop_pct)`
       keeping the aspect ratio, then centre-crop `image_size`.
    2. Multiply by `scale`.
    3. Add `offset`.

    The input is one image `(H, W, C)` or a batch `(N, H, W, C)` (channels
    first with `data_format="channels_first"`), as a NumPy array, a backend
    tensor or a Python list of images; a list of images of different sizes is
    resized image by image and stacked, so `image_size` must then be set. Any
    integer or float dtype is accepted. Eagerly the output is a backend tensor;
    inside a `tf.data` pipeline (any Keras backend) it is a `tf.Tensor`, and
    TensorFlow is needed only there.

    Integer images keep integer pixels: resized pixels are rounded and
    clipped to the dtype's range before scaling, as PIL does and as KerasHub
    does eagerly. This converter does the same inside `tf.data`, where
    KerasHub scales the unrounded float pixels instead (so there the two
    differ by up to half a grey level, more for bicubic overshoot, times
    `scale`).

    `resampling="pillow"` resizes with Pillow's own arithmetic instead of
    Keras' (which resizes both axes at once and rounds once): the width,
    then the height, in the installed Pillow's order (Pillow 13 takes the
    height first when it shrinks by more than twice as many pixels as the
    width), with Pillow's fixed-point weights,
    rounding and clipping to 0..255 after each pass. On uint8 images the
    result equals `PIL.Image.resize` pixel for pixel on every backend and in
    `tf.data`, so with `crop_pct` the converter reproduces torchvision's and
    timm's eval transforms on PIL images exactly; the converters that
    `EvalTransform` makes use it. Only uint8 images can be exact: float
    images (16-bit files as `read_image` gives them, for one) are resized
    with Pillow's float weights in float32, nothing rounded or clipped, as
    Pillow resizes its 32-bit float images; other integer dtypes with float
    weights, rounded half up and clipped to their range after each pass.
    Channels are resized independently (an alpha channel is not
    premultiplied as Pillow does for RGBA images; torchvision and timm
    convert to RGB first). It needs `antialias=True` (Pillow always
    antialiases), refuses `pad_to_aspect_ratio` and bounding boxes, and
    `crop_to_aspect_ratio=True` crops Keras' centred window before resizing.

    A dict `{"images": ..., "bounding_boxes": {"boxes": ..., "labels": ...}}`
    is also accepted: the boxes, in `bounding_box_format`, are resized with
    the images and only the images are rescaled.

    Args:
        image_size: `(height, width)` of the output, or `None` to keep the
            input size.
        scale: a float, or one float per channel, multiplied into the image;
            `None` for no scaling.
        offset: a float, or one float per channel, added after scaling; `None`
            for no offset. When `scale` or `offset` is set the output has the
            layer's compute dtype (float32 by default).
        crop_to_aspect_ratio: resize the largest centred window with the
            target aspect ratio instead of distorting the image.
        pad_to_aspect_ratio: pad to the target aspect ratio instead of
            distorting; at most one of the two aspect-ratio options may be on.
        interpolation: one of `"bilinear"`, `"nearest"`, `"bicubic"`,
            `"lanczos3"`, `"lanczos5"` (the torch backend has no lanczos
            with `resampling="keras"`; Pillow has no lanczos5).
        antialias: filter before downsampling.
        crop_pct: `None` or a number in (0, 1]: the share of the resized
            shorter side that the centre crop keeps (torchvision's 224 of
            256 is 0.875). `None` and 1 resize as described by the
            aspect-ratio options; below 1 it needs `crop_to_aspect_ratio=True`
            and `pad_to_aspect_ratio=False`, acts only while `image_size` is
            set, and images with bounding boxes are refused. Rounding follows
            torchvision's `Resize(int)` and `CenterCrop`.
        bounding_box_format: format of boxes passed in a dict input.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`. A NumPy batch laid out the
            other way (3 channels on the wrong axis) is refused with the
            transpose that fixes it.
        allow_non_finite: NumPy images (and lists of them) with a NaN or
            infinite pixel are refused with the index of the first such
            image in the batch the converter gets (a task's `predict` passes
            it batches of `batch_size`), since they would give NaN scores;
            `True` lets them through.
            Saved in the config only when `True`.
        max_pixels: the most pixels (height x width) an input image may
            have, checked from its shape before resizing (image files are
            capped the same way when read); `None` for no cap. The default,
            100 megapixels, is about Pillow's own decompression-bomb guard.
            Saved in the config only when not the default.
        resampling: `"keras"` (Keras' resize ops, KerasHub's behaviour) or
            `"pillow"` (Pillow's arithmetic, described above). Saved in the
            config only when `"pillow"`, so that KerasHub reads the others.
        **kwargs: `name`, `trainable` and `dtype`, passed to `keras.Layer`.

    Example:
    ```python
    import numpy as np
    import densenet_hub

    converter = densenet_hub.layers.ImageConverter(
        image_size=(32, 32), scale=1.0 / 255
    )
    images = np.random.randint(0, 256, size=(2, 64, 48, 3), dtype="uint8")
    assert tuple(converter(images).shape) == (2, 32, 32, 3)
    ```
    """

    preset_kind = "image_converter"
    backbone_cls = None

    def __init__(
        self,
        image_size=None,
        scale=None,
        offset=None,
        crop_to_aspect_ratio=True,
        pad_to_aspect_ratio=False,
        interpolation="bilinear",
        antialias=False,
        crop_pct=None,
        bounding_box_format="yxyx",
        data_format=None,
        allow_non_finite=False,
        max_pixels=MAX_IMAGE_PIXELS,
        resampling="keras",
        **kwargs,
    ):
        owner = type(self).__name__
        reject_unknown_kwargs(self, kwargs, LAYER_KWARGS)
        super().__init__(**kwargs)
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                f"{owner}: `crop_to_aspect_ratio` and `pad_to_aspect_ratio` "
                "are both True, but at most one may be. Set the other to False."
            )
        self.scale = arguments.per_channel_value(owner, "scale", scale)
        self.offset = arguments.per_channel_value(owner, "offset", offset)
        arguments.check_channel_counts_agree(owner, self.scale, self.offset)
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.interpolation = check_choice(
            owner, "interpolation", interpolation, INTERPOLATIONS
        )
        self.antialias = bool(antialias)
        self.crop_pct = arguments.crop_pct_value(
            owner, crop_pct, self.crop_to_aspect_ratio, self.pad_to_aspect_ratio
        )
        self.bounding_box_format = check_choice(
            owner, "bounding_box_format", bounding_box_format, BOUNDING_BOX_FORMATS
        )
        self.data_format = check_choice(
            owner,
            "data_format",
            data_format or keras.config.image_data_format(),
            DATA_FORMATS,
        )
        self.allow_non_finite = bool(allow_non_finite)
        self.max_pixels = arguments.max_pixels_value(owner, max_pixels)
        self.resampling = check_choice(owner, "resampling", resampling, RESAMPLINGS)
        if self.resampling == "pillow":
            arguments.check_pillow_options(
                owner, self.interpolation, self.antialias, self.pad_to_aspect_ratio
            )
        # The resizing layer always exists so that `image_size` stays settable
        # (tasks set it on their preprocessor).
        self.resizing = keras.layers.Resizing(
            height=None,
            width=None,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            interpolation=self.interpolation,
            antialias=self.antialias,
            bounding_box_format=self.bounding_box_format,
            data_format=self.data_format,
            dtype=self.dtype_policy,
            name="resizing",
        )
        self.image_size = image_size
        self.rescaling = self._make_rescaling()
        # Keras' stock data layers (Resizing, Rescaling) switch to TensorFlow
        # ops inside tf.data; converting the inputs to backend tensors here
        # would break that, and raw NumPy arrays and lists are valid inputs.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @property
    def image_size(self):
        """`(height, width)` of the output, or `None` for no resizing."""
        if self.resizing.height is None:
            return None
        return (self.resizing.height, self.resizing.width)

    @image_size.setter
    def image_size(self, value):
        height, width = arguments.image_size_pair(type(self).__name__, value)
        self.resizing.height = height
        self.resizing.width = width

    def _make_rescaling(self):
        if self.scale is None and self.offset is None:
            return None
        # Keras' Rescaling reshapes a rank-1 scale by the *global* data format,
        # so per-channel values get an explicit rank-3 shape for this layer's.
        return keras.layers.Rescaling(
            scale=self._broadcastable(self.scale, default=1.0),
            offset=self._broadcastable(self.offset, default=0.0),
            dtype=self.dtype_policy,
            name="rescaling",
        )

    def _broadcastable(self, value, default):
        if value is None:
            return default
        if isinstance(value, float):
            return value
        shape = (-1, 1, 1) if self.data_format == "channels_first" else (1, 1, -1)
        return np.reshape(np.asarray(value, dtype="float64"), shape)

    def call(self, inputs):
        if isinstance(inputs, dict):
            return self._convert_with_boxes(inputs)
        if isinstance(inputs, (list, tuple)):
            return self._convert_list(inputs)
        return self._convert(self._as_tensor(inputs))

    def _convert(self, images):
        self._check_images(images)
        if self.image_size is not None:
            images = self._resize(images)
        if self.rescaling is not None:
            images = self.rescaling(images)
        return images

    def _resize(self, inputs):
        """Resizes images, or a dict of images and boxes.

        Integer images are resized as floats, then rounded and clipped back
        to their dtype, as PIL does and as Resizing does eagerly. Resizing
        does not do so inside tf.data, and fails to pad integer images under
        TensorFlow; converting here gives the same pixels on every path.
        """
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        dtype = keras.backend.standardize_dtype(images.dtype)
        if self.resampling == "pillow":
            return self._resize_like_pillow(images)
        if self._crops_shorter_side():
            return self._resize_shorter_side_and_crop(images, dtype)
        if not dtype.startswith(("int", "uint")):
            return self.resizing(inputs)
        images = image_ops.float_pixels(images, self.compute_dtype)
        if not isinstance(inputs, dict):
            return image_ops.integer_pixels(self.resizing(images), dtype)
        data = self.resizing({**inputs, "images": images})
        data["images"] = image_ops.integer_pixels(data["images"], dtype)
        return data

    def _crops_shorter_side(self):
        return self.crop_pct not in (None, 1.0)

    def _resize_shorter_side_and_crop(self, images, dtype):
        """torchvision's `Resize(shorter side)` then `CenterCrop(image_size)`.

        The intermediate size depends on each input's shape, which inside
        tf.data is known only when the graph runs, so there TensorFlow ops
        compute it; Keras' Resizing takes a fixed size only.
        """
        height, width = self.image_size
        shorter_side = math.floor(min(height, width) / self.crop_pct)
        axis = -3 if self.data_format == "channels_last" else -2
        tf = image_ops.tensorflow_graph()
        if tf is not None:
            return self._tf_resize_and_crop(tf, images, dtype, shorter_side, axis)
        shape = image_ops.static_shape(images)
        resized_size = self._checked_resized_size(shape, axis, shorter_side)
        resized = keras.ops.image.resize(
            image_ops.float_pixels(images, self.compute_dtype),
            resized_size,
            interpolation=self.interpolation,
            antialias=self.antialias,
            data_format=self.data_format,
        )
        if dtype.startswith(("int", "uint")):
            resized = image_ops.integer_pixels(resized, dtype)
        else:
            resized = keras.ops.cast(resized, dtype)
        top = image_ops.centre_crop_offset(resized_size[0], height)
        left = image_ops.centre_crop_offset(resized_size[1], width)
        return image_ops.crop(resized, axis, top, left, height, width)

    def _tf_resize_and_crop(self, tf, images, dtype, shorter_side, axis):
        static_shape = image_ops.static_shape(images)
        if None in (static_shape[axis], static_shape[axis + 1]):
            shape = tf.shape(images)
            resized_size = image_ops.shorter_side_size(
                shape[axis], shape[axis + 1], shorter_side, minimum=tf.minimum
            )
        else:
            # Known sizes: fail while tracing, with this layer's message.
            resized_size = self._checked_resized_size(static_shape, axis, shorter_side)
        # tf.image.resize only knows channels_last.
        channels_first = self.data_format == "channels_first"
        if channels_first:
            images = tf.transpose(images, image_ops.channels_permutation(images, to_last=True))
        resized = tf.image.resize(
            tf.cast(images, self.compute_dtype),
            tf.stack(resized_size),
            method=self.interpolation,
            antialias=self.antialias,
        )
        if channels_first:
            resized = tf.transpose(resized, image_ops.channels_permutation(resized, False))
        if dtype.startswith(("int", "uint")):
            resized = image_ops.integer_pixels(resized, dtype)
        else:
            resized = tf.cast(resized, dtype)
        height, width = self.image_size
        if not tf.is_tensor(resized_size[0]):
            top = image_ops.centre_crop_offset(resized_size[0], height)
            left = image_ops.centre_crop_offset(resized_size[1], width)
            return image_ops.crop(resized, axis, top, left, height, width)
        self._assert_crop_fits(tf, resized_size[0], resized_size[1], static_shape)

        def round_half_even(value):
            return tf.cast(tf.round(value), "int32")

        top = image_ops.centre_crop_offset(resized_size[0], height, round_half_even)
        left = image_ops.centre_crop_offset(resized_size[1], width, round_half_even)
        cropped = image_ops.crop(resized, axis, top, left, height, width)
        # Slicing at offsets known only at run time loses the static size.
        cropped_shape = cropped.shape.as_list()
        cropped_shape[axis], cropped_shape[axis + 1] = height, width
        cropped.set_shape(cropped_shape)
        return cropped

    def _checked_resized_size(self, shape, axis, shorter_side):
        height, width = self.image_size
        resized_size = image_ops.shorter_side_size(shape[axis], shape[axis + 1], shorter_side)
        if resized_size[0] < height or resized_size[1] < width:
            raise ValueError(self._crop_too_large_message(shape, resized_size))
        return resized_size

    def _crop_too_large_message(self, shape, resized_size):
        return (
            f"{type(self).__name__}: images of shape {shape} resized to a "
            f"shorter side of floor(min(image_size) / crop_pct) are "
            f"{resized_size}, smaller than `image_size`={self.image_size} on "
            "one side, so the centre crop does not fit. Use a less elongated "
            "`image_size` or crop_pct=None."
        )

    def _resize_like_pillow(self, images):
        """Resizes (and, with `crop_pct`, crops) with Pillow's arithmetic.

        Pillow works on channels-first planes, so the batch is laid out
        `(N, C, H, W)` for it and back. Sizes unknown until a tf.data graph
        runs are computed there with TensorFlow ops.
        """
        tf = image_ops.tensorflow_graph()
        shape = image_ops.static_shape(images)
        if shape is None:
            raise ValueError(
                f"{type(self).__name__}: resampling='pillow' needs images of a "
                "known rank inside tf.data. Give the dataset's images a shape "
                "first, e.g. `tf.ensure_shape(image, (None, None, 3))`."
            )
        axis = -3 if self.data_format == "channels_last" else -2
        height, width = shape[axis], shape[axis + 1]
        if None in (height, width):
            height, width = tf.shape(images)[axis], tf.shape(images)[axis + 1]
        rows, columns = self._pillow_plans(height, width, shape, tf)
        transpose = keras.ops.transpose if tf is None else tf.transpose
        batch = images if len(shape) == 4 else images[None]
        channels_last = self.data_format == "channels_last"
        if channels_last:
            batch = transpose(batch, (0, 3, 1, 2))
        resized = pillow_resize.resize(batch, rows, columns, self.interpolation, tf)
        if channels_last:
            resized = transpose(resized, (0, 2, 3, 1))
        return resized if len(shape) == 4 else resized[0]

    def _pillow_plans(self, height, width, shape, tf):
        """The `AxisPlan`s of rows and columns for an input of `height` x
        `width` (ints, or TensorFlow scalars in a graph)."""
        out_height, out_width = self.image_size
        dynamic = tf is not None and tf.is_tensor(height)
        minimum = tf.minimum if dynamic else min
        maximum = tf.maximum if dynamic else max
        if self._crops_shorter_side():
            shorter_side = math.floor(min(out_height, out_width) / self.crop_pct)
            if dynamic:
                resized_height, resized_width = image_ops.shorter_side_size(
                    height, width, shorter_side, minimum=tf.minimum
                )
                self._assert_crop_fits(tf, resized_height, resized_width, shape)

                def round_half_even(value):
                    return tf.cast(tf.round(value), "int32")
            else:
                axis = -3 if self.data_format == "channels_last" else -2
                resized_height, resized_width = self._checked_resized_size(
                    shape, axis, shorter_side
                )
                round_half_even = round
            top = image_ops.centre_crop_offset(resized_height, out_height, round_half_even)
            left = image_ops.centre_crop_offset(resized_width, out_width, round_half_even)
            return (
                pillow_resize.AxisPlan(0, height, resized_height, top, out_height),
                pillow_resize.AxisPlan(0, width, resized_width, left, out_width),
            )
        if self.crop_to_aspect_ratio:
            window = image_ops.aspect_ratio_window(
                height, width, out_height, out_width, minimum, maximum
            )
        else:
            window = (0, 0, height, width)
        top, left, window_height, window_width = window
        return (
            pillow_resize.AxisPlan(top, window_height, out_height, 0, out_height),
            pillow_resize.AxisPlan(left, window_width, out_width, 0, out_width),
        )

    def _assert_crop_fits(self, tf, resized_height, resized_width, shape):
        height, width = self.image_size
        fits = tf.logical_and(resized_height >= height, resized_width >= width)
        message = self._crop_too_large_message(shape, "smaller")
        tf.debugging.Assert(fits, [message])

    def _convert_with_boxes(self, inputs):
        owner = type(self).__name__
        if "images" not in inputs:
            raise ValueError(
                f"{owner}: a dict input needs an `images` key; "
                f"got keys {sorted(inputs)}. Pass {{'images': ..., "
                "'bounding_boxes': ...}."
            )
        if self._crops_shorter_side() and self.image_size is not None:
            raise ValueError(
                f"{owner}: bounding boxes cannot be converted with "
                f"`crop_pct`={self.crop_pct} (the crop would cut boxes). Pass "
                "the images alone, or use a converter with crop_pct=None."
            )
        if self.resampling == "pillow" and self.image_size is not None:
            raise ValueError(
                f"{owner}: bounding boxes cannot be converted with "
                "resampling='pillow' (only Keras' Resizing moves boxes). Pass "
                "the images alone, or use a converter with resampling='keras'."
            )
        # Resizing writes into the dict it gets; the caller's stays untouched.
        data = dict(inputs)
        data["images"] = self._as_tensor(data["images"])
        self._check_images(data["images"])
        if self.image_size is not None:
            data = self._resize(data)
        if self.rescaling is not None:
            data["images"] = self.rescaling(data["images"])
        return data

    def _convert_list(self, images):
        owner = type(self).__name__
        if len(images) == 0:
            raise ValueError(
                f"{owner}: got an empty list of images. Pass at least one image."
            )
        arrays = [np.asarray(keras.ops.convert_to_numpy(x)) for x in images]
        for array in arrays:
            image_ops.check_image_dtype(owner, array.dtype)
        if len({array.shape for array in arrays}) == 1:
            return self._convert(self._as_tensor(np.stack(arrays)))
        for index, array in enumerate(arrays):
            if array.ndim != 3:
                raise ValueError(
                    f"{owner}: a list of differently sized images must hold "
                    f"single images of rank 3, but item {index} has shape "
                    f"{array.shape}. Pass a list of (H, W, C) arrays."
                )
            self._check_numpy_images(array[None], first_index=index)
        if self.image_size is None:
            raise ValueError(
                f"{owner}: got images of different sizes "
                f"{sorted({a.shape for a in arrays})} but `image_size` is None, "
                "so they cannot be stacked into one batch. Set `image_size` "
                "or resize the images to one size first."
            )
        converted = [self._convert(self._as_tensor(array)) for array in arrays]
        return keras.ops.stack(converted)

    def _as_tensor(self, images):
        # Backend and tf.data tensors pass through untouched (see __init__).
        if isinstance(images, (np.ndarray, numbers.Number)):
            images = np.asarray(images)
            image_ops.check_image_dtype(type(self).__name__, images.dtype)
            self._check_numpy_images(images if images.ndim == 4 else images[None])
            return keras.ops.convert_to_tensor(images)
        return images

    def _check_numpy_images(self, batch, first_index=0):
        """Refuses a NumPy batch laid out for the other data format, or with
        non-finite pixels (unless `allow_non_finite`)."""
        owner = type(self).__name__
        if batch.ndim != 4:
            return  # reported by `_check_images`
        channels_last = self.data_format == "channels_last"
        if channels_last and batch.shape[1] == 3 and batch.shape[3] not in (1, 3):
            raise ValueError(
                f"{owner}: the images have shape {batch.shape[1:]}, channels "
                "first, but this model expects channels last (H, W, C). Pass "
                "`np.transpose(images, (0, 2, 3, 1))` for a batch, "
                "`np.transpose(image, (1, 2, 0))` for one image."
            )
        if not channels_last and batch.shape[3] == 3 and batch.shape[1] not in (1, 3):
            raise ValueError(
                f"{owner}: the images have shape {batch.shape[1:]}, channels "
                "last, but this model expects channels first (C, H, W). Pass "
                "`np.transpose(images, (0, 3, 1, 2))` for a batch, "
                "`np.transpose(image, (2, 0, 1))` for one image."
            )
        if self.allow_non_finite or batch.dtype.kind != "f" or batch.size == 0:
            return
        finite = np.isfinite(batch).reshape(len(batch), -1).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite) + first_index
            raise ValueError(
                f"{owner}: image {bad[0]} of this batch (counting from 0) has "
                "a NaN or infinite pixel"
                + (f", as do images {bad[1:10].tolist()}" if len(bad) > 1 else "")
                + ", which would give NaN scores. Fix or drop such images, or pass "
                "`allow_non_finite=True` to the image converter to let them "
                "through."
            )

    def _check_images(self, images):
        owner = type(self).__name__
        image_ops.check_image_dtype(owner, images.dtype)
        shape = image_ops.static_shape(images)
        if shape is None:
            return
        if len(shape) not in (3, 4):
            channels_first = self.data_format == "channels_first"
            layout = "(C, H, W)" if channels_first else "(H, W, C)"
            raise ValueError(
                f"{owner}: images must have rank 3 {layout} or rank 4 (a batch), "
                f"got rank {len(shape)} with shape {shape}. Add or remove the "
                "batch axis (e.g. `x[None]` for one image); give grey images "
                "a channel axis."
            )
        if 0 in shape:
            raise ValueError(
                f"{owner}: images must not be empty, got shape {shape} with a "
                "zero-length axis. Pass at least one image of at least 1x1 "
                "pixels with at least one channel."
            )
        channel_axis = -3 if self.data_format == "channels_first" else -1
        height, width = (shape[-2], shape[-1]) if channel_axis == -3 else (shape[-3], shape[-2])
        if None not in (height, width, self.max_pixels) and height * width > self.max_pixels:
            raise ValueError(
                f"{owner}: images of shape {shape} have {height * width:,} "
                f"pixels each, over `max_pixels`={self.max_pixels:,}. Shrink "
                "them first, or pass a larger max_pixels (None for no cap) to "
                "the image converter if they are genuine."
            )
        channels = shape[channel_axis]
        expected = image_ops.channel_count(self.scale, self.offset)
        if channels is not None and expected is not None and channels != expected:
            raise ValueError(
                f"{owner}: the per-channel `scale`/`offset` have {expected} "
                f"values but the images have {channels} channels (shape "
                f"{shape}, data_format={self.data_format!r}). Pass images with "
                f"{expected} channels, or a converter whose scale and offset "
                f"match {channels} channels."
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "scale": self.scale,
                "offset": self.offset,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                "interpolation": self.interpolation,
                "antialias": self.antialias,
                "bounding_box_format": self.bounding_box_format,
                "data_format": self.data_format,
            }
        )
        # Written only when set, so KerasHub can read every other config.
        if self.crop_pct is not None:
            config["crop_pct"] = self.crop_pct
        if self.allow_non_finite:
            config["allow_non_finite"] = True
        if self.max_pixels != MAX_IMAGE_PIXELS:
            config["max_pixels"] = self.max_pixels
        if self.resampling != "keras":
            config["resampling"] = self.resampling
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuilds a converter from `get_config()` or a KerasHub config.

        Also reads the keys of converters saved by older KerasHub and KerasCV
        versions: `height` and `width` become `image_size`; `mean` and
        `variance`, which meant `(x * scale - mean) / sqrt(variance)`, become
        `scale = scale / sqrt(variance)` and `offset = -mean / sqrt(variance)`
        (a missing `scale` counts as 1).
        """
        config = dict(config)
        owner = cls.__name__
        if "height" in config or "width" in config:
            config["image_size"] = arguments.legacy_image_size(owner, config)
        if "mean" in config or "variance" in config:
            config["scale"], config["offset"] = arguments.legacy_normalization(owner, config)
        return cls(**config)
