"""ImageClassifierPreprocessor and DenseNetImageClassifierPreprocessor."""

import json

import keras
import numpy as np
import pytest

from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.layers import ImageConverter
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifierPreprocessor

# keras converts torch and TF tensors with a NumPy-2-deprecated call.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation:DeprecationWarning"
)

IMAGENET = dict(
    scale=[1 / (255 * s) for s in (0.229, 0.224, 0.225)],
    offset=[-m / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))],
)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def make_preprocessor(cls=ImageClassifierPreprocessor, **kwargs):
    converter = ImageConverter(image_size=(12, 12), **IMAGENET)
    return cls(converter, **kwargs)


def uint8_images(rng, shape=(3, 20, 26, 3)):
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def test_packs_x_y_and_sample_weight(rng):
    preprocessor = make_preprocessor()
    images = uint8_images(rng)
    labels = np.array([0, 2, 1])
    weights = np.array([1.0, 0.5, 2.0])
    expected = to_numpy(preprocessor.image_converter(images))

    x = preprocessor(images)
    assert np.abs(to_numpy(x) - expected).max() == 0.0

    x, y = preprocessor(images, labels)
    assert np.abs(to_numpy(x) - expected).max() == 0.0
    assert y is labels

    x, y, sample_weight = preprocessor(images, labels, weights)
    assert np.abs(to_numpy(x) - expected).max() == 0.0
    assert y is labels and sample_weight is weights

    x, y = preprocessor(images, y=labels)
    assert y is labels


def test_python_labels_pass_through(rng):
    x, y = make_preprocessor()(uint8_images(rng)[0], 7)
    assert tuple(x.shape) == (12, 12, 3) and y == 7


def test_list_of_raw_images_of_any_size_is_resized_and_stacked(rng):
    preprocessor = make_preprocessor()
    images = [uint8_images(rng, s) for s in ((30, 20, 3), (9, 50, 3), (12, 12, 3))]
    x, y = preprocessor(images, [1, 2, 3])
    assert tuple(x.shape) == (3, 12, 12, 3)
    for i, image in enumerate(images):
        single = to_numpy(preprocessor.image_converter(image))
        assert np.abs(to_numpy(x)[i] - single).max() == 0.0
    assert y == [1, 2, 3]


def test_without_converter_x_passes_through(rng):
    images = uint8_images(rng)
    preprocessor = ImageClassifierPreprocessor()
    assert preprocessor(images) is images
    assert preprocessor.image_size is None
    with pytest.raises(ValueError, match="image_converter"):
        preprocessor.image_size = (8, 8)


def test_image_size_reaches_the_converter(rng):
    preprocessor = make_preprocessor()
    assert preprocessor.image_size == (12, 12)
    preprocessor.image_size = (6, 10)
    assert preprocessor.image_converter.image_size == (6, 10)
    assert tuple(preprocessor(uint8_images(rng)).shape) == (3, 6, 10, 3)


def test_tf_data_map_matches_eager(rng):
    import tensorflow as tf
    preprocessor = make_preprocessor()
    images = uint8_images(rng)
    labels = np.array([4, 5, 6])
    weights = np.array([0.5, 1.0, 1.5], dtype="float32")
    expected = to_numpy(preprocessor(images))

    pairs = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    x, y = next(iter(pairs.map(preprocessor)))
    assert np.abs(x.numpy() - expected).max() < 1e-5
    np.testing.assert_array_equal(y.numpy(), labels)

    triples = tf.data.Dataset.from_tensor_slices((images, labels, weights))
    x, y, sample_weight = next(iter(triples.batch(3).map(preprocessor)))
    assert np.abs(x.numpy() - expected).max() < 1e-5
    np.testing.assert_array_equal(sample_weight.numpy(), weights)

    singles = tf.data.Dataset.from_tensor_slices(images).map(preprocessor)
    first = next(iter(singles)).numpy()
    assert first.shape == (12, 12, 3)
    assert np.abs(first - expected[0]).max() < 1e-5


def test_matches_keras_hub_preprocessor(rng):
    import keras_hub
    options = dict(image_size=(12, 12), interpolation="bicubic", **IMAGENET)
    ours = DenseNetImageClassifierPreprocessor(DenseNetImageConverter(**options))
    theirs = keras_hub.models.DenseNetImageClassifierPreprocessor(
        keras_hub.layers.DenseNetImageConverter(**options)
    )
    images = uint8_images(rng)
    x_ours, y_ours = ours(images, np.array([1, 2, 3]))
    x_theirs, y_theirs = theirs(images, np.array([1, 2, 3]))
    assert np.abs(to_numpy(x_ours) - to_numpy(x_theirs)).max() < 1e-5
    np.testing.assert_array_equal(to_numpy(y_ours), to_numpy(y_theirs))


# Serialization ------------------------------------------------------------


def test_config_nests_the_converter_and_round_trips_through_json(rng):
    preprocessor = make_preprocessor(DenseNetImageClassifierPreprocessor)
    serialized = json.loads(
        json.dumps(keras.saving.serialize_keras_object(preprocessor))
    )
    assert serialized["registered_name"] == (
        "densenet_hub>DenseNetImageClassifierPreprocessor"
    )
    nested = serialized["config"]["image_converter"]
    assert nested["registered_name"] == "densenet_hub>ImageConverter"
    assert nested["config"]["image_size"] == [12, 12]
    assert serialized["config"]["config_file"] == "preprocessor.json"

    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is DenseNetImageClassifierPreprocessor
    assert type(restored.image_converter) is ImageConverter
    images = uint8_images(rng)
    difference = to_numpy(restored(images)) - to_numpy(preprocessor(images))
    assert np.abs(difference).max() == 0.0


def test_from_config_reads_a_keras_hub_preprocessor_config(rng):
    import keras_hub
    theirs = keras_hub.models.DenseNetImageClassifierPreprocessor(
        keras_hub.layers.DenseNetImageConverter(image_size=(12, 12), **IMAGENET)
    )
    config = json.loads(json.dumps(theirs.get_config()))
    assert config["image_converter"]["registered_name"] == (
        "keras_hub>DenseNetImageConverter"
    )
    ours = DenseNetImageClassifierPreprocessor.from_config(config)
    assert type(ours.image_converter) is DenseNetImageConverter
    images = uint8_images(rng)
    assert np.abs(to_numpy(ours(images)) - to_numpy(theirs(images))).max() < 1e-5


def test_nested_converter_outside_the_allow_list_is_rejected():
    config = make_preprocessor().get_config()
    for class_name in ("Lambda", "TFSMLayer", "os", None):
        bad = dict(config)
        bad["image_converter"] = dict(config["image_converter"], class_name=class_name)
        with pytest.raises(ValueError) as error:
            ImageClassifierPreprocessor.from_config(bad)
        assert repr(class_name) in str(error.value)
        assert "DenseNetImageConverter" in str(error.value)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="ImageConverter or None, got str"):
        ImageClassifierPreprocessor("resize please")
    with pytest.raises(ValueError, match="image_convertr"):
        ImageClassifierPreprocessor(image_convertr=None)


def test_bad_images_are_rejected_with_the_converters_message():
    with pytest.raises(ValueError, match=r"4 channels"):
        make_preprocessor()(np.zeros((2, 8, 8, 4), "uint8"), np.array([0, 1]))


def test_densenet_preprocessor_names_its_classes():
    assert issubclass(DenseNetImageClassifierPreprocessor, ImageClassifierPreprocessor)
    assert DenseNetImageClassifierPreprocessor.backbone_cls is DenseNetBackbone
    assert (
        DenseNetImageClassifierPreprocessor.image_converter_cls
        is DenseNetImageConverter
    )
    assert ImageClassifierPreprocessor.backbone_cls is None
    assert ImageClassifierPreprocessor.image_converter_cls is None
