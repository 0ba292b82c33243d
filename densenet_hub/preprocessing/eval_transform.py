"""The evaluation transform a checkpoint's source framework applies, and the
image converter that reproduces it in a converted preset."""

import dataclasses
import math

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's DenseNet weights: resize the shorter side to 256, crop 224.
TORCHVISION_RESIZE = 256
TORCHVISION_CROP = 224
# timm's defaults for a config that lacks them (timm.data.constants).
TIMM_DEFAULT_CROP_PCT = 0.875
TIMM_DEFAULT_INTERPOLATION = "bicubic"
TIMM_INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclasses.dataclass(frozen=True)
class EvalTransform:
    """Resize the shorter side to `image_size / crop_pct`, centre-crop
    `image_size`, divide by 255, then subtract `mean` and divide by `std`.

    This is the evaluation transform of torchvision's weights (256 -> 224,
    bilinear), of timm's (`crop_pct` and `interpolation` from the model's
    pretrained config) and, with `crop_pct=1`, of keras.applications'
    DenseNets ("torch" mode `preprocess_input`).

    Args:
        image_size: `(height, width)` of the model input.
        crop_pct: the crop's share of the resized shorter side, in (0, 1].
        interpolation: `"bilinear"`, `"bicubic"` or `"nearest"`.
        mean: per-channel mean of pixels in [0, 1].
        std: per-channel standard deviation of pixels in [0, 1].

    Example:
    ```python
    from densenet_hub.convert import EvalTransform

    transform = EvalTransform.torchvision()
    assert transform.resize_size == 256 and transform.crop_pct == 0.875
    ```
    """

    image_size: tuple
    crop_pct: float
    interpolation: str
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD

    def __post_init__(self):
        # Values may come from a downloaded timm config.json.
        if not (
            len(self.image_size) == 2
            and all(_is_int(side) and side >= 1 for side in self.image_size)
        ):
            raise ValueError(
                f"EvalTransform: `image_size` must be (height, width) with "
                f"positive integers, got {self.image_size!r}."
            )
        if not (_is_number(self.crop_pct) and 0 < self.crop_pct <= 1):
            raise ValueError(
                f"EvalTransform: `crop_pct` must be a number in (0, 1], got "
                f"{self.crop_pct!r}. timm configs use e.g. 0.875 or 0.95."
            )
        if not (
            len(self.mean) == len(self.std) > 0
            and all(map(_is_number, self.mean + self.std))
            and all(s > 0 for s in self.std)
        ):
            raise ValueError(
                f"EvalTransform: `mean` and `std` must be equally long lists "
                f"of numbers with positive `std`, got mean={self.mean!r}, "
                f"std={self.std!r}."
            )

    @classmethod
    def torchvision(cls):
        """torchvision's `DenseNet*_Weights.IMAGENET1K_V1.transforms()`."""
        return cls(
            image_size=(TORCHVISION_CROP, TORCHVISION_CROP),
            crop_pct=TORCHVISION_CROP / TORCHVISION_RESIZE,
            interpolation="bilinear",
        )

    @classmethod
    def timm(cls, pretrained_cfg=None):
        """timm's eval transform for a `pretrained_cfg` (from a Hugging Face
        `config.json`); timm's defaults when `None`.

        The training `input_size` is used, not `test_input_size`, as
        `timm.data.resolve_data_config` does by default.
        """
        if not isinstance(pretrained_cfg, (dict, type(None))):
            raise ValueError(
                f"timm `pretrained_cfg` must be an object, got "
                f"{type(pretrained_cfg).__name__}. The config.json is damaged."
            )
        cfg = {k: v for k, v in (pretrained_cfg or {}).items() if v is not None}
        crop_mode = cfg.get("crop_mode", "center")
        if crop_mode != "center":
            raise ValueError(
                f"timm pretrained_cfg has crop_mode={crop_mode!r}; only "
                f"'center' (resize the shorter side, then centre-crop) can be "
                f"reproduced. Pass source_format='torchvision' to use "
                f"torchvision's transform instead."
            )
        interpolation = cfg.get("interpolation", TIMM_DEFAULT_INTERPOLATION)
        if interpolation not in TIMM_INTERPOLATIONS:
            raise ValueError(
                f"timm pretrained_cfg has interpolation={interpolation!r}, "
                f"expected one of {', '.join(TIMM_INTERPOLATIONS)}."
            )
        default_size = (3, TORCHVISION_CROP, TORCHVISION_CROP)
        return cls(
            image_size=_as_tuple("input_size", cfg.get("input_size", default_size))[1:],
            crop_pct=cfg.get("crop_pct", TIMM_DEFAULT_CROP_PCT),
            interpolation=interpolation,
            mean=_as_tuple("mean", cfg.get("mean", IMAGENET_MEAN)),
            std=_as_tuple("std", cfg.get("std", IMAGENET_STD)),
        )

    @classmethod
    def keras_applications(cls, image_size=(TORCHVISION_CROP, TORCHVISION_CROP)):
        """keras.applications DenseNet: inputs (224x224 unless `image_size`
        says otherwise) scaled by `densenet.preprocess_input` ("torch" mode:
        /255, ImageNet mean/std). keras.applications prescribes no crop, so
        none is taken; this is also the ImageNet preprocessing the command
        line gives a preset that has none."""
        return cls(
            image_size=tuple(image_size),
            crop_pct=1.0,
            interpolation="bilinear",
        )

    @property
    def resize_size(self):
        """The shorter side after resizing, before the crop (timm's rounding)."""
        return math.floor(min(self.image_size) / self.crop_pct)

    def image_converter_kwargs(self):
        """Arguments of `DenseNetImageConverter` for this transform.

        `(x / 255 - mean) / std` is folded into `scale = 1 / (255 * std)` and
        `offset = -mean / std`. torchvision and timm resize PIL images, which
        always filter before downsampling, hence `antialias=True`; with a
        crop (`crop_pct` below 1) the converter also resizes with Pillow's
        arithmetic (`resampling="pillow"`), so that its pixels equal theirs.
        A `crop_pct` of 1 (keras.applications, which prescribes no resize
        arithmetic) keeps Keras' resizing and leaves `crop_pct` out, so that
        such a converter's config stays readable by KerasHub.
        """
        crops = self.crop_pct != 1
        return {
            "image_size": self.image_size,
            "scale": [1.0 / (255.0 * s) for s in self.std],
            "offset": [-m / s for m, s in zip(self.mean, self.std)],
            "crop_to_aspect_ratio": True,
            "interpolation": self.interpolation,
            "antialias": True,
            "crop_pct": self.crop_pct if crops else None,
            **({"resampling": "pillow"} if crops else {}),
        }

    def describe(self):
        """A JSON-ready summary for a preset's metadata."""
        return {
            "image_size": list(self.image_size),
            "resize_shorter_side": self.resize_size,
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _as_tuple(name, value):
    if not isinstance(value, (list, tuple)):
        raise ValueError(
            f"timm pretrained_cfg `{name}` must be a list, got {value!r}."
        )
    return tuple(value)
