"""ImageConverter and DenseNetImageConverter: numbers, KerasHub parity,
tf.data, serialization and bad input."""

import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from helpers import paths

import densenet_hub
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.layers import ImageConverter
from densenet_hub.models import DenseNetBackbone

# keras converts torch and TF tensors with a NumPy-2-deprecated call.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation:DeprecationWarning"
)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
IMAGENET = dict(
    scale=[1 / (255 * s) for s in STD],
    offset=[-m / s for m, s in zip(MEAN, STD)],
)
BACKEND = keras.config.backend()


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def uint8_images(rng, shape=(2, 30, 44, 3)):
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def run_in_tf_data(layer, images):
    import tensorflow as tf
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(len(images))
    return next(iter(dataset.map(layer))).numpy()


# Numbers ------------------------------------------------------------------


def test_constant_image_resizes_and_rescales_exactly():
    converter = ImageConverter(image_size=(16, 24), scale=2.0, offset=-1.0)
    out = converter(np.full((2, 50, 70, 3), 7, dtype=np.uint8))
    assert tuple(out.shape) == (2, 16, 24, 3)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_array_equal(to_numpy(out), 13.0)


def test_per_channel_scale_and_offset_without_resize(rng):
    images = rng.uniform(0, 255, size=(2, 5, 6, 3)).astype("float32")
    converter = ImageConverter(**IMAGENET)
    expected = (images / 255.0 - np.array(MEAN)) / np.array(STD)
    assert np.abs(to_numpy(converter(images)) - expected).max() < 1e-5


def test_no_resize_no_rescale_returns_the_pixels_as_a_backend_tensor(rng):
    images = uint8_images(rng)
    out = ImageConverter()(images)
    assert keras.ops.is_tensor(out)
    assert keras.backend.standardize_dtype(out.dtype) == "uint8"
    np.testing.assert_array_equal(to_numpy(out), images)


def test_backend_tensor_input_matches_numpy_input(rng):
    images = uint8_images(rng)
    converter = ImageConverter(image_size=(9, 9), **IMAGENET)
    from_tensor = to_numpy(converter(keras.ops.convert_to_tensor(images)))
    assert np.abs(from_tensor - to_numpy(converter(images))).max() == 0.0


def test_crop_to_aspect_ratio_takes_the_centred_window():
    # Three 8-pixel-wide stripes; a square crop keeps only the middle one.
    stripes = np.concatenate(
        [np.full((8, 8, 3), v, dtype=np.uint8) for v in (10, 20, 30)], axis=1
    )
    cropped = to_numpy(ImageConverter(image_size=(4, 4))(stripes))
    np.testing.assert_array_equal(cropped, 20)
    squashed = to_numpy(
        ImageConverter(image_size=(4, 4), crop_to_aspect_ratio=False)(stripes)
    )
    assert squashed.min() == 10 and squashed.max() == 30


def test_pad_to_aspect_ratio_pads_with_zeros():
    # A 1:3 image padded to a square: a black band above and below.
    image = np.full((8, 24, 3), 20, dtype=np.uint8)
    converter = ImageConverter(
        image_size=(6, 6),
        crop_to_aspect_ratio=False,
        pad_to_aspect_ratio=True,
        interpolation="nearest",
    )
    rows = to_numpy(converter(image))[:, :, 0]
    np.testing.assert_array_equal(rows, [[0] * 6] * 2 + [[20] * 6] * 2 + [[0] * 6] * 2)


def test_unbatched_image_equals_its_batched_result(rng):
    images = uint8_images(rng)
    converter = ImageConverter(image_size=(12, 12), **IMAGENET)
    batched = to_numpy(converter(images))
    single = to_numpy(converter(images[1]))
    assert single.shape == (12, 12, 3)
    assert np.abs(single - batched[1]).max() == 0.0


def test_channels_first_matches_channels_last(rng):
    images = uint8_images(rng)
    last = ImageConverter(image_size=(10, 14), **IMAGENET)
    first = ImageConverter(
        image_size=(10, 14), data_format="channels_first", **IMAGENET
    )
    out_last = to_numpy(last(images))
    out_first = to_numpy(first(np.transpose(images, (0, 3, 1, 2))))
    assert np.abs(np.transpose(out_first, (0, 2, 3, 1)) - out_last).max() < 1e-5


def test_list_of_differently_sized_images_is_resized_then_stacked(rng):
    images = [uint8_images(rng, (20, 30, 3)), uint8_images(rng, (41, 17, 3))]
    converter = ImageConverter(image_size=(8, 8), **IMAGENET)
    out = to_numpy(converter(images))
    assert out.shape == (2, 8, 8, 3)
    for i, image in enumerate(images):
        assert np.abs(out[i] - to_numpy(converter(image))).max() == 0.0


def test_list_of_equally_sized_images_is_a_batch(rng):
    images = uint8_images(rng)
    converter = ImageConverter(image_size=(8, 8), scale=1 / 255)
    from_list = to_numpy(converter(list(images)))
    assert np.abs(from_list - to_numpy(converter(images))).max() == 0.0


def test_image_size_is_settable(rng):
    converter = ImageConverter(image_size=(8, 8))
    converter.image_size = (5, 7)
    assert converter.image_size == (5, 7)
    assert tuple(converter(uint8_images(rng)).shape) == (2, 5, 7, 3)
    converter.image_size = None
    assert converter.image_size is None
    assert tuple(converter(uint8_images(rng)).shape) == (2, 30, 44, 3)


# Parity with KerasHub -----------------------------------------------------


PARITY_OPTIONS = [
    dict(interpolation="bilinear"),
    dict(interpolation="bicubic"),
    dict(interpolation="nearest"),
    dict(interpolation="bilinear", crop_to_aspect_ratio=False),
    dict(crop_to_aspect_ratio=False, pad_to_aspect_ratio=True),
    dict(interpolation="bilinear", antialias=True),
]


def _max_difference(a, b):
    return float(np.abs(to_numpy(a) - to_numpy(b)).max())


# Half a grey level after ImageNet normalisation: what rounding resized uint8
# pixels back to whole levels can change.
HALF_LEVEL = 0.5 / (255 * min(STD))


@pytest.mark.parametrize(
    "options",
    PARITY_OPTIONS,
    ids=["-".join(f"{k}={v}" for k, v in options.items()) for options in PARITY_OPTIONS],
)
def test_matches_keras_hub_on_uint8_images(rng, options):
    import keras_hub

    images = uint8_images(rng, (2, 37, 53, 3))
    ours = ImageConverter(image_size=(24, 24), **IMAGENET, **options)
    theirs = keras_hub.layers.ImageConverter(image_size=(24, 24), **IMAGENET, **options)
    if BACKEND == "tensorflow" and options.get("pad_to_aspect_ratio"):
        # KerasHub's resizing cannot pad uint8 images under TensorFlow (a
        # TypeError). So: exact parity on the same pixels as float32, and our
        # uint8 answer within the rounding of resized pixels to whole levels.
        floats = images.astype("float32")
        assert _max_difference(ours(floats), theirs(floats)) < 1e-5
        assert _max_difference(ours(images), theirs(floats)) <= HALF_LEVEL + 1e-6
        return
    assert _max_difference(ours(images), theirs(images)) < 1e-5
    assert _max_difference(ours(images[0]), theirs(images[0])) < 1e-5, "one unbatched image"


def test_bounding_boxes_are_resized_like_keras_hub(rng):
    import keras_hub
    data = {
        "images": uint8_images(rng, (1, 40, 60, 3)),
        "bounding_boxes": {
            "boxes": np.array([[[4.0, 10.0, 20.0, 50.0]]], dtype="float32"),
            "labels": np.array([[1]], dtype="int32"),
        },
    }
    options = dict(image_size=(20, 20), scale=1 / 255, bounding_box_format="yxyx")
    ours = ImageConverter(**options)(dict(data))
    theirs = keras_hub.layers.ImageConverter(**options)(dict(data))
    for key in ("boxes", "labels"):
        np.testing.assert_allclose(
            to_numpy(ours["bounding_boxes"][key]),
            to_numpy(theirs["bounding_boxes"][key]),
            atol=1e-5,
        )
    images = to_numpy(ours["images"])
    assert np.abs(images - to_numpy(theirs["images"])).max() < 1e-5
    assert isinstance(data["images"], np.ndarray)  # the caller's dict is intact


# tf.data ------------------------------------------------------------------


def test_tf_data_map_matches_eager(rng):
    converter = ImageConverter(image_size=(16, 16), **IMAGENET)
    for dtype in ("uint8", "float32"):
        images = uint8_images(rng).astype(dtype)
        mapped = run_in_tf_data(converter, images)
        assert mapped.shape == (2, 16, 16, 3)
        assert np.abs(mapped - to_numpy(converter(images))).max() < 1e-5, dtype


def test_tf_data_rounds_resized_integer_images_like_eager():
    import tensorflow as tf
    # Bicubic overshoots past 255 on a step edge; integer images must come
    # back rounded and clipped to [0, 255] before scaling.
    images = np.zeros((1, 12, 12, 3), dtype=np.uint8)
    images[:, :, 6:] = 255
    converter = ImageConverter(
        image_size=(5, 5), interpolation="bicubic", scale=2.0, offset=1.0
    )
    mapped = run_in_tf_data(converter, images)
    resized = tf.image.resize(images.astype("float32"), (5, 5), "bicubic")
    assert resized.numpy().max() > 255 or resized.numpy().min() < 0
    expected = tf.clip_by_value(tf.round(resized), 0, 255).numpy() * 2.0 + 1.0
    assert np.abs(mapped - expected).max() < 1e-5


@pytest.mark.slow
@pytest.mark.skipif(BACKEND == "tensorflow", reason="needs a non-TF backend")
def test_runs_without_tensorflow_installed():
    script = textwrap.dedent(
        """
        import importlib.machinery
        import sys

        class BlockTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "tensorflow":
                    return importlib.machinery.ModuleSpec(name, self)

            def create_module(self, spec):
                raise ImportError("tensorflow is blocked for this test")

        sys.meta_path.insert(0, BlockTensorFlow())
        import numpy as np
        import densenet_hub

        converter = densenet_hub.layers.ImageConverter(
            image_size=(4, 4), scale=1 / 255, offset=-0.5
        )
        out = converter(np.full((2, 9, 9, 3), 255, dtype="uint8"))
        preprocessor = densenet_hub.models.ImageClassifierPreprocessor(converter)
        x, y = preprocessor([np.zeros((5, 6, 3), "uint8")] * 2, [0, 1])
        assert not any(m.startswith("tensorflow") for m in sys.modules)
        print(float(np.abs(np.asarray(out) - 0.5).max()), tuple(x.shape))
        """
    )
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(densenet_hub.__file__))]
        + env.get("PYTHONPATH", "").split(os.pathsep)
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "0.0 (2, 4, 4, 3)"


# Serialization ------------------------------------------------------------


def test_config_round_trip_through_json(rng):
    converter = ImageConverter(
        image_size=(9, 11),
        interpolation="bicubic",
        crop_to_aspect_ratio=False,
        antialias=True,
        name="conv",
        **IMAGENET,
    )
    serialized = json.loads(
        json.dumps(keras.saving.serialize_keras_object(converter))
    )
    assert serialized["registered_name"] == "densenet_hub>ImageConverter"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is ImageConverter
    as_json = lambda layer: json.loads(json.dumps(layer.get_config()))  # noqa: E731
    assert as_json(restored) == as_json(converter)
    images = uint8_images(rng)
    assert np.abs(to_numpy(restored(images)) - to_numpy(converter(images))).max() == 0


def test_from_config_reads_a_keras_hub_config(rng):
    import keras_hub
    theirs = keras_hub.layers.DenseNetImageConverter(
        image_size=(16, 16), interpolation="bicubic", **IMAGENET
    )
    config = json.loads(json.dumps(theirs.get_config()))
    # Published files predate these keys.
    for key in ("antialias", "pad_to_aspect_ratio", "bounding_box_format"):
        del config[key]
    ours = DenseNetImageConverter.from_config(config)
    images = uint8_images(rng)
    assert np.abs(to_numpy(ours(images)) - to_numpy(theirs(images))).max() < 1e-5


def test_legacy_height_width_mean_variance_keys():
    import keras_hub
    variance = [s**2 for s in STD]
    legacy = dict(height=8, width=6, scale=1 / 255, mean=list(MEAN), variance=variance)
    ours = ImageConverter.from_config(dict(legacy))
    theirs = keras_hub.layers.ImageConverter(**legacy)
    assert ours.image_size == (8, 6) == theirs.image_size
    np.testing.assert_allclose(ours.scale, theirs.scale, rtol=1e-12)
    np.testing.assert_allclose(ours.offset, theirs.offset, rtol=1e-12)
    # The old layer computed (x * scale - mean) / sqrt(variance).
    pixels = np.arange(8 * 6 * 3, dtype="float32").reshape(1, 8, 6, 3)
    expected = (pixels / 255 - np.array(MEAN)) / np.sqrt(variance)
    assert np.abs(to_numpy(ours(pixels)) - expected).max() < 1e-5


def test_legacy_mean_variance_without_scale_means_scale_one():
    converter = ImageConverter.from_config(dict(mean=[1.0, 2.0], variance=[4.0, 16.0]))
    assert converter.scale == [0.5, 0.25]
    assert converter.offset == [-0.5, -0.5]


BAD_LEGACY_CONFIGS = [
    (dict(height=8), ["height", "width"]),
    (dict(mean=[0.5]), ["mean", "variance"]),
    (dict(mean=[0.5], variance=[0.0]), ["variance", "positive"]),
    (dict(mean=[0.5, 0.1], variance=[1.0, 1.0, 1.0]), ["mean", "variance"]),
    (dict(mean=[0.5], variance=[1.0], offset=[1.0]), ["offset", "mean"]),
    (dict(height=8, width=8, image_size=(4, 4)), ["image_size", "height"]),
]


def test_bad_legacy_configs_are_rejected():
    for config, words in BAD_LEGACY_CONFIGS:
        with pytest.raises(ValueError) as error:
            ImageConverter.from_config(config)
        for word in words:
            assert word in str(error.value), (config, str(error.value))


def test_densenet_converter_is_tied_to_the_densenet_backbone(rng):
    assert issubclass(DenseNetImageConverter, ImageConverter)
    assert DenseNetImageConverter.backbone_cls is DenseNetBackbone
    assert ImageConverter.backbone_cls is None
    converter = DenseNetImageConverter(image_size=(8, 8), scale=0.5)
    serialized = keras.saving.serialize_keras_object(converter)
    assert serialized["registered_name"] == "densenet_hub>DenseNetImageConverter"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is DenseNetImageConverter
    np.testing.assert_array_equal(
        to_numpy(restored(np.full((12, 12, 3), 4, "uint8"))), 2.0
    )


def test_keras_hub_style_import_works():
    import densenet_hub as keras_hub

    assert keras_hub.layers.DenseNetImageConverter is DenseNetImageConverter


# Bad input ----------------------------------------------------------------


BAD_IMAGES = [
    (np.zeros((8, 8), "uint8"), ["rank", "(8, 8)", "x[None]"]),
    (np.zeros((1, 2, 8, 8, 3), "uint8"), ["rank 5", "(1, 2, 8, 8, 3)"]),
    (np.zeros((8, 8, 3), bool), ["dtype", "'bool'"]),
    (np.full((2, 2, 3), "a"), ["dtype", "<U1"]),
    (np.zeros((0, 8, 3), "uint8"), ["empty", "(0, 8, 3)"]),
    (np.zeros((0, 8, 8, 3), "uint8"), ["empty", "(0, 8, 8, 3)"]),
    (np.zeros((8, 8, 4), "uint8"), ["3 values", "4 channels"]),
    (np.zeros((8, 8, 1), "uint8"), ["3 values", "1 channels"]),
    ([], ["empty list"]),
]


def test_bad_images_are_rejected():
    converter = ImageConverter(image_size=(4, 4), **IMAGENET)
    for images, words in BAD_IMAGES:
        with pytest.raises(ValueError) as error:
            converter(images)
        for word in words:
            assert word in str(error.value), (words, str(error.value))


def test_bad_images_in_tf_data_are_rejected():
    import tensorflow as tf
    converter = ImageConverter(image_size=(4, 4), **IMAGENET)
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((2, 8, 8, 4), "uint8"))
    with pytest.raises(ValueError, match="4 channels"):
        dataset.map(converter)
    strings = tf.data.Dataset.from_tensor_slices(np.full((2, 8, 8, 3), "a"))
    with pytest.raises(ValueError, match="'string'"):
        strings.map(converter)


def test_ragged_list_without_image_size_is_rejected(rng):
    images = [uint8_images(rng, (5, 5, 3)), uint8_images(rng, (6, 5, 3))]
    with pytest.raises(ValueError, match=re.escape("(5, 5, 3)")) as error:
        ImageConverter(scale=1 / 255)(images)
    assert "image_size" in str(error.value)
    with pytest.raises(ValueError, match="item 1"):
        ImageConverter(image_size=(4, 4))([images[0], images[1][None]])


BAD_ARGUMENTS = [
    (dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), ["at most one"]),
    (dict(image_size=224), ["image_size", "224", "(224, 224)"]),
    (dict(image_size=(0, 4)), ["image_size", "(0, 4)"]),
    (dict(image_size=(4.5, 4)), ["image_size", "4.5"]),
    (dict(scale="1/255"), ["scale", "'1/255'"]),
    (dict(scale=[]), ["scale", "[]"]),
    (dict(offset=[1.0, True]), ["offset", "True"]),
    (dict(scale=float("nan")), ["scale", "finite"]),
    (dict(scale=[1.0, 2.0], offset=[1.0, 2.0, 3.0]), ["2 values", "has 3"]),
    (dict(interpolation="cubic"), ["interpolation", "'cubic'", "'bicubic'"]),
    (dict(bounding_box_format="ltrb"), ["bounding_box_format", "'ltrb'"]),
    (dict(crop_pct=0), ["crop_pct", "0", "(0, 1]", "0.875"]),
    (dict(crop_pct=1.5), ["crop_pct", "1.5", "(0, 1]"]),
    (dict(crop_pct="0.9"), ["crop_pct", "'0.9'"]),
    (dict(crop_pct=True), ["crop_pct", "True"]),
    (dict(crop_pct=float("nan")), ["crop_pct", "nan"]),
    (
        dict(crop_pct=0.9, crop_to_aspect_ratio=False),
        ["crop_pct", "crop_to_aspect_ratio=False", "crop_pct=None"],
    ),
    (
        dict(crop_pct=0.9, crop_to_aspect_ratio=False, pad_to_aspect_ratio=True),
        ["crop_pct", "pad_to_aspect_ratio=True"],
    ),
    (dict(data_format="NHWC"), ["data_format", "'NHWC'"]),
    (dict(imag_size=(4, 4)), ["imag_size", "unknown"]),
]


def test_bad_constructor_arguments_are_rejected():
    for kwargs, words in BAD_ARGUMENTS:
        with pytest.raises(ValueError) as error:
            ImageConverter(**kwargs)
        for word in words:
            assert word in str(error.value), (kwargs, str(error.value))


# crop_pct: torchvision's and timm's "resize the shorter side, centre-crop" --

GOLDEN = str(paths.GOLDEN)
# One grey level in the normalised output of an ImageNet converter: the
# largest value of 1 / (255 * std) over the channels.
GREY_LEVEL = 1 / (255 * min(STD))


def test_crop_pct_reproduces_torchvision_and_timm_eval_transforms():
    """The fixture holds the real transforms' outputs (Resize(32) of a 45x38
    PIL image, CenterCrop(28), normalise): the same crop with crop_pct 0.875.

    PIL resizes uint8 images in fixed point and rounds to uint8, and so does
    the converter (in floats), so pixels may differ by one grey level where
    the two land on either side of a rounding boundary; measured: at most
    exactly one level (0.0175 normalised), on 18% (bilinear) and 20%
    (bicubic) of the values, identical on all three backends. A crop one
    pixel off, or no crop, is many levels away (checked below).
    """
    fixture = np.load(os.path.join(GOLDEN, "eval_transforms.npz"))
    image = fixture["image"]
    for name, interpolation in (("torchvision", "bilinear"), ("timm", "bicubic")):
        reference = np.transpose(fixture[name], (1, 2, 0))
        options = dict(interpolation=interpolation, antialias=True, **IMAGENET)
        converter = ImageConverter(image_size=(28, 28), crop_pct=0.875, **options)
        levels = np.abs(to_numpy(converter(image)) - reference) * 255 * STD
        assert levels.max() < 1.001, name
        assert np.mean(levels > 0.5) < 0.25, name
        uncropped = ImageConverter(image_size=(28, 28), **options)
        assert np.abs(to_numpy(uncropped(image)) - reference).max() > 10 * GREY_LEVEL
        shifted = to_numpy(converter(image[1:]))  # the crop one row lower
        assert np.abs(shifted - reference).max() > 5 * GREY_LEVEL


def test_crop_pct_crops_where_torchvision_does():
    """37x32 with a 28x28 crop at 0.875 resizes to 37x32 itself (an exact
    copy), then crops rows round(4.5) = 4 (halves round to even, as
    torchvision's `int(round(...))`) and columns 2."""
    image = np.arange(37 * 32 * 3, dtype="float32").reshape(37, 32, 3)
    converter = ImageConverter(image_size=(28, 28), crop_pct=0.875)
    out = to_numpy(converter(image))
    np.testing.assert_allclose(out, image[4:32, 2:30], rtol=0, atol=1e-3)
    # Wide: 32x37 -> columns round(4.5) = 4, rows 2.
    out = to_numpy(converter(np.swapaxes(image, 0, 1)))
    np.testing.assert_allclose(out, np.swapaxes(image, 0, 1)[2:30, 4:32], atol=1e-3)


def test_crop_pct_resizes_the_shorter_side_with_torchvision_rounding(rng):
    """A 45x38 image at 0.875 of 28: shorter side floor(28 / 0.875) = 32,
    longer side int(32 * 45 / 38) = 37 (truncated, not rounded from 37.9);
    the crop is then rows 4..32 and columns 2..30 of that 37x32 resize."""
    image = uint8_images(rng, (45, 38, 3))
    options = dict(interpolation="bilinear", antialias=True)
    converter = ImageConverter(image_size=(28, 28), crop_pct=0.875, **options)
    resized = keras.ops.image.resize(image.astype("float32"), (37, 32), **options)
    expected = np.clip(np.round(to_numpy(resized)), 0, 255)[4:32, 2:30]
    out = to_numpy(converter(image))
    assert keras.backend.standardize_dtype(out.dtype) == "uint8"
    np.testing.assert_array_equal(out, expected)


def test_crop_pct_none_or_one_keeps_the_whole_image_resize(rng):
    images = uint8_images(rng)
    plain = to_numpy(ImageConverter(image_size=(12, 16), **IMAGENET)(images))
    for crop_pct in (None, 1.0, 1):
        converter = ImageConverter(image_size=(12, 16), crop_pct=crop_pct, **IMAGENET)
        assert np.abs(to_numpy(converter(images)) - plain).max() == 0.0, crop_pct


def test_crop_pct_on_batches_lists_channels_first_and_tf_data(rng):
    import tensorflow as tf
    images = uint8_images(rng, (2, 30, 41, 3))
    options = dict(image_size=(16, 16), crop_pct=0.8, **IMAGENET)
    converter = ImageConverter(**options)
    batched = to_numpy(converter(images))
    assert batched.shape == (2, 16, 16, 3)
    assert np.abs(to_numpy(converter(images[1])) - batched[1]).max() == 0.0
    assert np.abs(to_numpy(converter(list(images))) - batched).max() == 0.0
    first = ImageConverter(data_format="channels_first", **options)
    out_first = to_numpy(first(np.transpose(images, (0, 3, 1, 2))))
    assert np.abs(np.transpose(out_first, (0, 2, 3, 1)) - batched).max() < 1e-5

    for dtype in ("uint8", "float32"):
        mapped = run_in_tf_data(converter, images.astype(dtype))
        eager = to_numpy(converter(images.astype(dtype)))
        assert np.abs(mapped - eager).max() < 1e-5, dtype
    # Images of unknown size, one by one, as from decoded files. Float
    # pixels: on uint8 ones TensorFlow's kernels and another backend's can
    # round a value near .5 to neighbouring grey levels.
    sizes = [(30, 41, 3), (50, 23, 3)]
    ragged = [uint8_images(rng, size).astype("float32") for size in sizes]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(ragged),
        output_signature=tf.TensorSpec((None, None, 3), tf.float32),
    ).map(converter)
    assert dataset.element_spec.shape == (16, 16, 3)
    for mapped, image in zip(dataset, ragged):
        assert np.abs(mapped.numpy() - to_numpy(converter(image))).max() < 1e-5


def test_crop_pct_config_is_written_only_when_set(rng):
    plain = ImageConverter(image_size=(8, 8), **IMAGENET).get_config()
    assert "crop_pct" not in plain
    converter = DenseNetImageConverter(image_size=(8, 8), crop_pct=0.875, **IMAGENET)
    serialized = json.loads(
        json.dumps(keras.saving.serialize_keras_object(converter))
    )
    assert serialized["config"]["crop_pct"] == 0.875
    restored = keras.saving.deserialize_keras_object(serialized)
    assert restored.crop_pct == 0.875
    images = uint8_images(rng)
    assert np.abs(to_numpy(restored(images)) - to_numpy(converter(images))).max() == 0


def test_crop_pct_refuses_what_it_cannot_crop(rng):
    converter = ImageConverter(image_size=(8, 8), crop_pct=0.5)
    boxes = {"boxes": np.zeros((1, 4), "float32"), "labels": np.zeros(1, "int32")}
    data = {"images": uint8_images(rng, (20, 20, 3)), "bounding_boxes": boxes}
    with pytest.raises(ValueError, match="bounding boxes.*crop_pct.*0.5"):
        converter(data)
    # A 4x32 crop of a square image resized to a shorter side of 4 / 0.5 = 8.
    elongated = ImageConverter(image_size=(4, 32), crop_pct=0.5)
    square = uint8_images(rng, (1, 20, 20, 3))
    with pytest.raises(ValueError, match=r"\(8, 8\).*\(4, 32\)"):
        elongated(square)
    import tensorflow as tf
    with pytest.raises(ValueError, match=r"\(8, 8\).*\(4, 32\)"):
        tf.data.Dataset.from_tensor_slices(square).map(elongated)
    unknown_size = tf.data.Dataset.from_generator(
        lambda: iter(square), output_signature=tf.TensorSpec((None, None, 3), tf.uint8)
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="crop does not fit"):
        next(iter(unknown_size.map(elongated)))
