"""`resampling="pillow"`: the converter's pixels equal Pillow's resize, and
the eval transforms of torchvision and timm on real photos, pixel for pixel
on every backend and in tf.data; converted models give the source's logits.

The photos ship inside matplotlib and scikit-learn, which the test extra
installs. `tests/fixtures/golden/photos.npz` and the manifest's "photos"
entry hold what the real torchvision and timm made of them
(`tools/make_golden_fixtures.py --only photos`).
"""

import hashlib
import importlib.util
import json
import pathlib

import keras
import numpy as np
import PIL.Image
import pytest

from helpers import paths

from densenet_hub.convert import load_checkpoint
from densenet_hub.data import read_image
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.layers import ImageConverter
from densenet_hub.preprocessing import EvalTransform
from densenet_hub.preprocessing import pillow_resize

# keras converts torch and TF tensors with a NumPy-2-deprecated call.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation:DeprecationWarning"
)

PIL_FILTERS = {
    "bilinear": PIL.Image.Resampling.BILINEAR,
    "bicubic": PIL.Image.Resampling.BICUBIC,
    "lanczos3": PIL.Image.Resampling.LANCZOS,
    "nearest": PIL.Image.Resampling.NEAREST,
}
MANIFEST = json.loads((paths.GOLDEN / "manifest.json").read_text())["photos"]
GOLDEN_PHOTOS = np.load(paths.GOLDEN / "photos.npz")
# Converted models against the torch originals (the golden tests' bound).
LOGIT_TOLERANCE = 1e-4
# The converter folds (x / 255 - mean) / std into x * scale + offset, which
# rounds differently from torch's three float32 steps by a few ulps.
NORMALISED_TOLERANCE = 2e-6


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def package_file(package, relative):
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.skip(f"{package} is not installed (the test extra installs it)")
    return pathlib.Path(spec.submodule_search_locations[0]) / relative


def smooth_image(rng, height, width, channels=3):
    """Photo-like content: random colours on a coarse grid, upsampled;
    `(H, W)` for one channel."""
    coarse = rng.integers(0, 256, (max(2, height // 6), max(2, width // 6), channels), "uint8")
    image = PIL.Image.fromarray(coarse.squeeze(-1) if channels == 1 else coarse)
    return np.asarray(image.resize((width, height), PIL.Image.Resampling.BICUBIC))


def pillow_eval(image, transform):
    """torchvision's `Resize(shorter side)` + `CenterCrop` arithmetic on a PIL
    image, written out with Pillow's own resize; uint8 `(H, W, C)`."""
    width, height = image.size
    shorter = transform.resize_size
    if width <= height:
        size = (shorter, int(shorter * height / width))
    else:
        size = (int(shorter * width / height), shorter)
    resized = np.asarray(image.resize(size, PIL_FILTERS[transform.interpolation]))
    crop_height, crop_width = transform.image_size
    top = int(round((size[1] - crop_height) / 2))
    left = int(round((size[0] - crop_width) / 2))
    return resized[top : top + crop_height, left : left + crop_width]


def unscaled(converter):
    """The same converter without `x * scale + offset`: its uint8 pixels."""
    return type(converter).from_config(
        {**converter.get_config(), "scale": None, "offset": None}
    )


def torch_normalise(crop, transform):
    """ToTensor + Normalize in torch's float32 steps (the generator checked
    that these reproduce torch's bits), laid out `(H, W, C)`."""
    pixels = crop.astype("float32") / np.float32(255)
    mean = np.asarray(transform.mean, "float32")
    std = np.asarray(transform.std, "float32")
    return (pixels - mean) / std


# Pillow's resize, any size ----------------------------------------------


@pytest.mark.parametrize("interpolation", sorted(PIL_FILTERS))
def test_resize_equals_pillow_for_every_filter_and_direction(rng, interpolation):
    """Shrinking, enlarging, one axis each way, a tall image (where Pillow 13
    resizes the height first) and 1-pixel sides, on greyscale and RGB."""
    sizes = [
        ((45, 38), (17, 23)),
        ((20, 25), (61, 52)),
        ((53, 40), (14, 102)),
        ((300, 40), (90, 37)),
        ((9, 1), (4, 3)),
        ((31, 17), (31, 17)),
    ]
    for index, ((height, width), (out_height, out_width)) in enumerate(sizes):
        channels = 1 if index % 2 else 3
        image = smooth_image(rng, height, width, channels).reshape(height, width, channels)
        converter = ImageConverter(
            image_size=(out_height, out_width),
            crop_to_aspect_ratio=False,
            interpolation=interpolation,
            antialias=True,
            resampling="pillow",
        )
        ours = to_numpy(converter(image))
        theirs = PIL.Image.fromarray(image.squeeze(-1) if channels == 1 else image).resize(
            (out_width, out_height), PIL_FILTERS[interpolation]
        )
        theirs = np.asarray(theirs).reshape(out_height, out_width, channels)
        assert ours.dtype == np.uint8
        mismatch = np.mean(ours != theirs)
        assert mismatch == 0, (height, width, out_height, out_width, mismatch)


def test_keras_resampling_is_not_pillow_exact_on_the_same_image(rng):
    """Why the option exists: Keras' one-pass resize rounds once."""
    image = smooth_image(rng, 120, 97)
    options = dict(image_size=(37, 30), crop_to_aspect_ratio=False, antialias=True)
    theirs = np.asarray(PIL.Image.fromarray(image).resize((30, 37), PIL.Image.Resampling.BILINEAR))
    keras_way = to_numpy(ImageConverter(**options)(image))
    pillow_way = to_numpy(ImageConverter(resampling="pillow", **options)(image))
    assert np.mean(keras_way != theirs) > 0.02
    assert np.array_equal(pillow_way, theirs)


def test_centred_window_batches_channels_first_and_lists(rng):
    """crop_to_aspect_ratio crops Keras' centred window, then resizes it as
    Pillow would; a batch, channels-first and a ragged list agree."""
    images = np.stack([smooth_image(rng, 41, 70) for _ in range(2)])
    options = dict(image_size=(16, 20), antialias=True, interpolation="bicubic", resampling="pillow")
    out = to_numpy(ImageConverter(**options)(images))
    # Keras' window of a 41x70 image at 16:20: 41 rows, 51 columns from 9.
    window = images[:, :, 9 : 9 + 51]
    for image, resized in zip(window, out):
        expected = PIL.Image.fromarray(image).resize((20, 16), PIL.Image.Resampling.BICUBIC)
        assert np.array_equal(resized, np.asarray(expected))
    first = ImageConverter(data_format="channels_first", **options)
    out_first = to_numpy(first(np.transpose(images, (0, 3, 1, 2))))
    assert np.array_equal(np.transpose(out_first, (0, 2, 3, 1)), out)
    other = smooth_image(rng, 25, 31)
    listed = to_numpy(ImageConverter(**options)([images[0], other]))
    assert np.array_equal(listed[0], out[0])
    alone = to_numpy(ImageConverter(**options)(other))
    assert np.array_equal(listed[1], alone)


def test_float_images_resize_as_pillow_float_images(rng):
    """Float pixels (e.g. 16-bit files as `read_image` gives them) cannot be
    8-bit exact: they are resized like Pillow's mode "F" images, with float
    weights and nothing rounded or clipped, in float32."""
    image = smooth_image(rng, 45, 38, 1).astype("float32") + 0.25
    converter = ImageConverter(
        image_size=(17, 29), crop_to_aspect_ratio=False, interpolation="bicubic",
        antialias=True, resampling="pillow",
    )
    ours = to_numpy(converter(image[..., None]))[..., 0]
    theirs = np.asarray(
        PIL.Image.fromarray(image, mode="F").resize((29, 17), PIL.Image.Resampling.BICUBIC)
    )
    assert ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-3
    assert np.abs(ours - np.round(ours)).max() > 0.1  # not rounded
    # Bicubic overshoots a step edge; float pixels are not clipped to it.
    step = np.zeros((1, 12, 12, 1), "float32")
    step[:, :, 6:] = 255.0
    out = to_numpy(converter(step))
    assert out.max() > 255.0 and out.min() < 0.0


@pytest.mark.parametrize("dtype", ["int16", "uint16"])
def test_other_integer_images_are_rounded_and_clipped_to_their_range(dtype):
    if dtype == "uint16" and keras.config.backend() == "torch":
        pytest.skip("torch has no uint16: Keras hands such arrays over as int32")
    limits = np.iinfo(dtype)
    step = np.full((1, 12, 12, 1), limits.min, dtype)
    step[:, :, 6:] = limits.max
    converter = ImageConverter(
        image_size=(5, 5), crop_to_aspect_ratio=False, interpolation="bicubic",
        antialias=True, resampling="pillow",
    )
    out = to_numpy(converter(step))
    assert out.dtype == dtype
    # Bicubic overshoots both sides of the edge: clipped to the range.
    assert out.min() == limits.min and out.max() == limits.max
    blended = (out > limits.min) & (out < limits.max)
    assert 0 < np.mean(blended) < 1


@pytest.mark.parametrize(
    "version, tall, expected",
    [("13.0.0", (900, 300, 768, 256), True), ("13.0.0", (600, 512, 300, 256), False),
     ("12.3.0", (900, 300, 768, 256), False), ("12.2.0", (3010, 30, 300, 20), True),
     ("11.3.0", (3010, 30, 300, 20), False)],
)
def test_pass_order_follows_the_pillow_version(version, tall, expected):
    assert pillow_resize.vertical_first(*tall, version=version) is expected


# Real photos through Pillow's own transforms ------------------------------


def photo_images(tmp_path):
    """name -> uint8 RGB array, as `read_image` gives them: JPEG and PNG,
    RGBA, greyscale, palette, small, portrait, wide, and a tall strip that
    Pillow 13 resizes height first."""
    photos = {}
    for name, (package, relative, derivation) in {
        key: tuple(value[k] for k in ("package", "path", "derivation"))
        for key, value in MANIFEST["photos"].items()
    }.items():
        path = package_file(package, relative)
        if derivation == "grey":
            path = grey_copy(path, tmp_path)
        photos[name] = read_image(path)
    china = package_file("sklearn", "datasets/images/china.jpg")
    palette = tmp_path / "china_palette.png"
    PIL.Image.open(china).quantize(64).save(palette)
    photos["china_palette"] = read_image(palette)
    photos["grace_hopper_strip"] = photos["grace_hopper"][:, 150:430][:, :270]
    photos["tall_strip"] = np.concatenate([photos["china"][:, :300]] * 3, axis=0)[:900]
    return photos


def grey_copy(path, tmp_path):
    """The photo saved as a greyscale PNG, as the fixture generator made it."""
    grey = tmp_path / f"{path.stem}_grey.png"
    PIL.Image.open(path).convert("L").save(grey)
    return grey


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_images(tmp_path_factory.mktemp("photos"))


@pytest.mark.parametrize("source", ["torchvision", "timm"])
def test_photos_through_eval_transforms_equal_pillow(photos, source):
    transform = EvalTransform.torchvision() if source == "torchvision" else EvalTransform.timm()
    converter = DenseNetImageConverter(**transform.image_converter_kwargs())
    assert converter.resampling == "pillow"
    pixels = unscaled(converter)
    for name, image in photos.items():
        expected = pillow_eval(PIL.Image.fromarray(image), transform)
        ours = to_numpy(pixels(image))
        assert np.array_equal(ours, expected), (name, np.mean(ours != expected))
        normalised = to_numpy(converter(image))
        difference = np.abs(normalised - torch_normalise(expected, transform)).max()
        assert difference < NORMALISED_TOLERANCE, (name, difference)


def test_photos_in_tf_data_equal_eager(photos):
    import tensorflow as tf

    converter = DenseNetImageConverter(**EvalTransform.timm().image_converter_kwargs())
    names = ["grace_hopper", "logo2", "tall_strip"]
    dataset = tf.data.Dataset.from_generator(
        lambda: (photos[name] for name in names),
        output_signature=tf.TensorSpec((None, None, 3), tf.uint8),
    ).map(converter)
    assert dataset.element_spec.shape == (224, 224, 3)
    for name, mapped in zip(names, dataset):
        eager = to_numpy(converter(photos[name]))
        assert np.abs(mapped.numpy() - eager).max() == 0.0, name


# Real photos against the real torchvision and timm -------------------------


def golden_photo(photos, name):
    entry = MANIFEST["photos"][name]
    path = package_file(entry["package"], entry["path"])
    if hashlib.sha256(path.read_bytes()).hexdigest() != entry["file_sha256"]:
        pytest.skip(f"the installed {entry['package']} ships another {entry['path']}")
    image = photos[name]
    if sha256(image) != entry["decoded_sha256"]:
        pytest.skip(
            f"this Pillow decodes {entry['path']} differently from Pillow "
            f"{MANIFEST['pillow']}, which made the fixture"
        )
    return image, entry


@pytest.mark.parametrize(
    "source, checkpoint",
    [("torchvision", "torchvision_densenet.safetensors"), ("timm", "timm_densenet121")],
)
def test_photos_give_torchvision_and_timm_pixels_and_logits(photos, source, checkpoint):
    """A converted checkpoint's preprocessor gives the real transform's
    pixels exactly, and the model its logits within 1e-4, with the same
    class ranking (top-1 and top-5 of its 5 classes), from files read by
    `read_image`."""
    classifier = load_checkpoint(paths.GOLDEN / checkpoint)
    converter = classifier.preprocessor.image_converter
    assert converter.resampling == "pillow" and converter.image_size == (224, 224)
    pixels = unscaled(converter)
    images = []
    for name in MANIFEST["order"]:
        image, entry = golden_photo(photos, name)
        crop = to_numpy(pixels(image))
        full = f"{source}_crop_{name}"
        if full in GOLDEN_PHOTOS:
            mismatch = np.mean(crop != GOLDEN_PHOTOS[full])
            assert mismatch == 0, (name, mismatch)
        assert sha256(crop) == entry[f"{source}_crop_sha256"], name
        transform = EvalTransform.torchvision() if source == "torchvision" else EvalTransform.timm()
        reference = np.transpose(torch_normalise(crop, transform), (2, 0, 1))
        assert sha256(reference) == entry[f"{source}_tensor_sha256"], name
        normalised = np.transpose(to_numpy(converter(image)), (2, 0, 1))
        assert np.abs(normalised - reference).max() < NORMALISED_TOLERANCE, name
        images.append(image)
    logits = classifier.predict(images, batch_size=4, verbose=0)
    reference = GOLDEN_PHOTOS[f"{source}_logits"]
    assert np.abs(logits - reference).max() < LOGIT_TOLERANCE
    assert np.array_equal(logits.argmax(axis=1), reference.argmax(axis=1))
    assert np.array_equal(np.argsort(-logits, axis=1), np.argsort(-reference, axis=1))


# Options and what is refused ----------------------------------------------


def test_eval_transforms_choose_pillow_only_where_they_crop():
    for transform in (EvalTransform.torchvision(), EvalTransform.timm()):
        assert transform.image_converter_kwargs()["resampling"] == "pillow"
    # keras.applications prescribes no resize; its config stays KerasHub's.
    assert "resampling" not in EvalTransform.keras_applications().image_converter_kwargs()


def test_resampling_is_saved_only_when_pillow_and_round_trips(rng):
    assert "resampling" not in ImageConverter(image_size=(8, 8)).get_config()
    converter = DenseNetImageConverter(
        image_size=(8, 8), crop_pct=0.875, antialias=True, resampling="pillow"
    )
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(converter)))
    assert serialized["config"]["resampling"] == "pillow"
    restored = keras.saving.deserialize_keras_object(serialized)
    image = smooth_image(rng, 30, 41)
    assert restored.resampling == "pillow"
    assert np.array_equal(to_numpy(restored(image)), to_numpy(converter(image)))


def test_preset_file_with_resampling_loads_and_a_bad_value_is_refused(tmp_path, rng):
    converter = DenseNetImageConverter(
        image_size=(8, 8), crop_pct=0.875, antialias=True, resampling="pillow"
    )
    converter.save_to_preset(tmp_path / "good")
    loaded = DenseNetImageConverter.from_preset(str(tmp_path / "good"))
    assert loaded.resampling == "pillow"
    converter.save_to_preset(tmp_path / "bad")
    path = tmp_path / "bad" / "image_converter.json"
    document = json.loads(path.read_text())
    document["config"]["resampling"] = "opencv"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="resampling.*'keras', 'pillow'.*'opencv'"):
        DenseNetImageConverter.from_preset(str(tmp_path / "bad"))


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(resampling="opencv"), ["resampling", "'keras', 'pillow'", "'opencv'"]),
        (dict(resampling="pillow"), ["antialias=False", "antialias=True", "resampling='keras'"]),
        (
            dict(resampling="pillow", antialias=True, interpolation="lanczos5"),
            ["'lanczos5'", "'lanczos3'", "resampling='keras'"],
        ),
        (
            dict(resampling="pillow", antialias=True, crop_to_aspect_ratio=False, pad_to_aspect_ratio=True),
            ["pad_to_aspect_ratio=True", "crop_to_aspect_ratio=True", "resampling='keras'"],
        ),
    ],
)
def test_options_pillow_cannot_honour_are_refused(options, words):
    with pytest.raises(ValueError) as error:
        ImageConverter(image_size=(8, 8), **options)
    for word in words:
        assert word in str(error.value), (word, str(error.value))


def test_bounding_boxes_are_refused_with_pillow(rng):
    converter = ImageConverter(image_size=(8, 8), antialias=True, resampling="pillow")
    data = {
        "images": smooth_image(rng, 20, 20),
        "bounding_boxes": {"boxes": np.zeros((1, 4), "float32"), "labels": np.zeros(1, "int32")},
    }
    with pytest.raises(ValueError, match="bounding boxes.*resampling='pillow'.*resampling='keras'"):
        converter(data)


# Decoding like torchvision ------------------------------------------------


def test_like_torchvision_reader_skips_exif_rotation_and_saturates_16_bit(tmp_path, rng):
    """The two deliberate differences of `read_image`, and the option that
    removes them: torchvision's loader is `Image.open(path).convert("RGB")`."""
    photo = smooth_image(rng, 30, 50)
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rotated = tmp_path / "sideways.jpg"
    PIL.Image.fromarray(photo).save(rotated, exif=exif, quality=95)
    torchvision_way = np.asarray(PIL.Image.open(rotated).convert("RGB"))
    assert read_image(rotated).shape == (50, 30, 3)  # upright by default
    assert np.array_equal(read_image(rotated, like_torchvision=True), torchvision_way)

    deep = tmp_path / "deep.png"
    PIL.Image.fromarray(np.array([[100, 255, 256, 40000, 65535]], "uint16")).save(deep)
    levels = np.array([100, 255, 256, 40000, 65535]) / 257  # the full range
    np.testing.assert_allclose(read_image(deep)[0, :, 0], levels, rtol=1e-6)
    strict = read_image(deep, like_torchvision=True)
    assert strict.dtype == np.uint8
    assert strict[0, :, 0].tolist() == [100, 255, 255, 255, 255]
    assert np.array_equal(strict, np.asarray(PIL.Image.open(deep).convert("RGB")))
