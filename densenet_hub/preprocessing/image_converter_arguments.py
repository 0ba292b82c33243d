"""Checks of `ImageConverter`'s arguments, what a preset file may give it,
and the translation of configs written by older KerasHub and KerasCV
versions."""

import math
import numbers

import numpy as np

from densenet_hub.preprocessing.pillow_resize import PILLOW_INTERPOLATIONS
from densenet_hub.presets import schema
from densenet_hub.base.validation import DATA_FORMATS

INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")
# "keras": Keras' resize ops, as KerasHub; "pillow": Pillow's two-pass
# fixed-point arithmetic, as torchvision and timm on PIL images.
RESAMPLINGS = ("keras", "pillow")
BOUNDING_BOX_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


def image_size_pair(owner, value):
    """`(height, width)` from `image_size`, `(None, None)` for no resizing."""
    if value is None:
        return None, None
    if (
        isinstance(value, (str, bytes))
        or not hasattr(value, "__len__")
        or len(value) != 2
        or not all(is_positive_int(v) for v in value)
    ):
        raise ValueError(
            f"{owner}: `image_size` must be None or (height, width) with two "
            f"positive integers, got {value!r}. Pass e.g. image_size=(224, 224)."
        )
    return int(value[0]), int(value[1])


def crop_pct_value(owner, value, crop_to_aspect_ratio, pad_to_aspect_ratio):
    """`crop_pct` as a float in (0, 1], or `None`."""
    if value is None:
        return None
    if not (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and 0 < value <= 1
    ):
        raise ValueError(
            f"{owner}: `crop_pct` must be None or a number in (0, 1], got "
            f"{value!r}. Pass e.g. crop_pct=0.875 (torchvision's 224 of 256), "
            "or None to resize the whole image."
        )
    value = float(value)
    if value < 1 and (pad_to_aspect_ratio or not crop_to_aspect_ratio):
        raise ValueError(
            f"{owner}: `crop_pct`={value} keeps the aspect ratio and crops, "
            f"which contradicts crop_to_aspect_ratio={crop_to_aspect_ratio} "
            f"and pad_to_aspect_ratio={pad_to_aspect_ratio}. Use "
            "crop_to_aspect_ratio=True and pad_to_aspect_ratio=False, or "
            "crop_pct=None."
        )
    return value


def check_pillow_options(owner, interpolation, antialias, pad_to_aspect_ratio):
    """Refuses the options Pillow's resize cannot honour."""
    if interpolation not in PILLOW_INTERPOLATIONS:
        raise ValueError(
            f"{owner}: resampling='pillow' has no {interpolation!r} "
            f"interpolation; Pillow's are {', '.join(map(repr, PILLOW_INTERPOLATIONS))}. "
            "Pick one of them, or use resampling='keras'."
        )
    if not antialias:
        raise ValueError(
            f"{owner}: resampling='pillow' got antialias=False, but Pillow "
            "always widens its filter when it shrinks an image. Pass "
            "antialias=True, or use resampling='keras' to resize without "
            "antialiasing."
        )
    if pad_to_aspect_ratio:
        raise ValueError(
            f"{owner}: resampling='pillow' cannot pad (pad_to_aspect_ratio="
            "True); it resizes the whole image, its centred window "
            "(crop_to_aspect_ratio=True) or, with crop_pct, the shorter side "
            "before a centre crop. Use one of these, or resampling='keras'."
        )


def is_positive_int(value):
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and value > 0
    )


def per_channel_value(owner, name, value):
    """`None`, a float, or a list of floats; rejects anything else."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return finite_float(owner, name, value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and len(value) > 0:
        if all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value
        ):
            return [finite_float(owner, name, v) for v in value]
    raise ValueError(
        f"{owner}: `{name}` must be None, a number, or a non-empty list with "
        f"one number per channel, got {value!r}. Pass e.g. {name}=1/255 or "
        f"{name}=[0.5, 0.5, 0.5]."
    )


def finite_float(owner, name, value):
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(
            f"{owner}: `{name}` must be finite, got {value!r}. Pass finite "
            "numbers."
        )
    return value


def check_channel_counts_agree(owner, scale, offset):
    if isinstance(scale, list) and isinstance(offset, list):
        if len(scale) != len(offset):
            raise ValueError(
                f"{owner}: `scale` has {len(scale)} values but `offset` has "
                f"{len(offset)}; per-channel values need one per channel. "
                "Give both the same length (or use a single number)."
            )


def legacy_image_size(owner, config):
    if "height" not in config or "width" not in config:
        raise ValueError(
            f"{owner}: a config with the legacy `height`/`width` keys needs "
            f"both, got only {'height' if 'height' in config else 'width'}. "
            "Add the missing one or use `image_size=(height, width)`."
        )
    height, width = config.pop("height"), config.pop("width")
    if config.get("image_size") is not None:
        raise ValueError(
            f"{owner}: the config has both `image_size`="
            f"{config['image_size']!r} and legacy `height`={height!r}/"
            f"`width`={width!r}. Keep only `image_size`."
        )
    return (height, width)


def legacy_normalization(owner, config):
    """`(scale, offset)` equal to the legacy `(x * scale - mean) / std`."""
    if "mean" not in config or "variance" not in config:
        raise ValueError(
            f"{owner}: a config with the legacy `mean`/`variance` keys needs "
            f"both, got only {'mean' if 'mean' in config else 'variance'}. "
            "Add the missing one or use `scale` and `offset`."
        )
    mean, variance = config.pop("mean"), config.pop("variance")
    if config.get("offset") is not None:
        raise ValueError(
            f"{owner}: the config has both `offset`={config['offset']!r} and "
            f"legacy `mean`={mean!r}/`variance`={variance!r}. Keep either "
            "`scale`/`offset` or `mean`/`variance`."
        )
    scale = config.get("scale")
    try:
        means = np.asarray(mean, dtype="float64")
        variances = np.asarray(variance, dtype="float64")
        scales = np.asarray(1.0 if scale is None else scale, dtype="float64")
        np.broadcast_shapes(means.shape, variances.shape, scales.shape)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{owner}: legacy `mean`={mean!r}, `variance`={variance!r} and "
            f"`scale`={scale!r} must be numbers or equal-length lists ({error}). "
            "Fix the config values."
        ) from None
    if not (np.all(variances > 0) and np.all(np.isfinite(variances))):
        raise ValueError(
            f"{owner}: legacy `variance`={variance!r} must be positive and "
            "finite. Fix the config values."
        )
    std = np.sqrt(variances)
    new_scale, new_offset = np.broadcast_arrays(scales / std, -means / std)
    return new_scale.tolist(), new_offset.tolist()


# === What a preset file may give: (file, where, value) -> checked value ===


def _preset_image_size(file, where, value):
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(v is not None and schema.optional_side(v) for v in value)
    ):
        raise schema.error(
            file,
            where,
            f"null or [height, width] with integers in [1, {schema.MAX_IMAGE_SIDE}]",
            value,
        )
    return tuple(value)


def _preset_side(file, where, value):
    if not schema.is_int(value) or not schema.optional_side(value):
        raise schema.error(file, where, f"an integer in [1, {schema.MAX_IMAGE_SIDE}]", value)
    return value


def _preset_per_channel(allow_none, positive=False):
    def check(file, where, value):
        if allow_none and value is None:
            return None
        values = value if isinstance(value, list) else [value]
        if not (
            1 <= len(values) <= schema.MAX_CHANNELS
            and all(schema.is_number(v) and (v > 0 or not positive) for v in values)
        ):
            sign = "positive " if positive else ""
            raise schema.error(
                file,
                where,
                f"{'null, ' if allow_none else ''}a finite {sign}number or a "
                f"list of 1 to {schema.MAX_CHANNELS} of them",
                value,
            )
        return list(value) if isinstance(value, list) else value

    return check


def max_pixels_value(owner, value):
    """`max_pixels` as a positive int, or `None` for no cap."""
    if value is not None and not is_positive_int(value):
        raise ValueError(
            f"{owner}: `max_pixels` must be None or a positive integer, got "
            f"{value!r}. Pass e.g. max_pixels=100_000_000, or None for no cap."
        )
    return None if value is None else int(value)


def _preset_max_pixels(file, where, value):
    if value is not None and not (schema.is_int(value) and value > 0):
        raise schema.error(file, where, "null or a positive integer", value)
    return value


PRESET_VALIDATORS = {
    **schema.LAYER_VALIDATORS,
    "image_size": _preset_image_size,
    "scale": _preset_per_channel(allow_none=True),
    "offset": _preset_per_channel(allow_none=True),
    "crop_to_aspect_ratio": schema.check_bool,
    "pad_to_aspect_ratio": schema.check_bool,
    "interpolation": schema.choice(*INTERPOLATIONS),
    "antialias": schema.check_bool,
    "crop_pct": schema.fraction,
    "bounding_box_format": schema.check_identifier,
    "data_format": schema.choice(*DATA_FORMATS, optional=True),
    "allow_non_finite": schema.check_bool,
    "max_pixels": _preset_max_pixels,
    "resampling": schema.choice(*RESAMPLINGS),
    # The keys of older KerasHub versions, translated by `from_config`.
    "height": _preset_side,
    "width": _preset_side,
    "mean": _preset_per_channel(allow_none=False),
    "variance": _preset_per_channel(allow_none=False, positive=True),
}
