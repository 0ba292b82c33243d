"""Non-finite pixels, empty inputs and the wrong channel layout are refused
with messages that say what to do."""

import numpy as np
import pytest

from helpers.models import build_tiny_classifier

from densenet_hub.layers import ImageConverter


def test_non_finite_pixel_is_refused_with_the_image_index():
    images = np.zeros((3, 8, 8, 3), "float32")
    images[2, 1, 1, 0] = np.inf
    with pytest.raises(ValueError, match=r"image 2 of this batch \(counting from 0\) has a NaN or infinite pixel"):
        ImageConverter(image_size=(4, 4))(images)
    listed = [np.zeros((8, 8, 3), "float32"), np.full((6, 6, 3), np.nan, "float32")]
    with pytest.raises(ValueError, match="image 1 of this batch.*has a NaN"):
        ImageConverter(image_size=(4, 4))(listed)
    let_through = ImageConverter(image_size=(4, 4), allow_non_finite=True)
    assert np.isinf(np.asarray(let_through(images))).any()


def test_allow_non_finite_is_saved_only_when_set():
    assert "allow_non_finite" not in ImageConverter().get_config()
    config = ImageConverter(allow_non_finite=True).get_config()
    assert ImageConverter.from_config(config).allow_non_finite is True


def test_predict_refuses_nan_and_empty_inputs():
    classifier = build_tiny_classifier()
    images = np.zeros((2, 32, 32, 3), "float32")
    images[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="image 1 of this batch.*has a NaN"):
        classifier.predict(images, verbose=0)
    for empty in (np.zeros((0, 32, 32, 3), "uint8"), []):
        with pytest.raises(ValueError, match="got 0 samples"):
            classifier.predict(empty, verbose=0)


def test_channels_first_array_is_named_with_its_transpose():
    with pytest.raises(ValueError, match=r"channels first.*np.transpose\(images, \(0, 2, 3, 1\)\)"):
        ImageConverter(image_size=(4, 4))(np.zeros((2, 3, 32, 32), "uint8"))
    with pytest.raises(ValueError, match=r"shape \(3, 32, 32\), channels first"):
        ImageConverter(image_size=(4, 4))(np.zeros((3, 32, 32), "uint8"))
    channels_first = ImageConverter(image_size=(4, 4), data_format="channels_first")
    with pytest.raises(ValueError, match=r"channels last.*\(0, 3, 1, 2\)"):
        channels_first(np.zeros((2, 32, 32, 3), "uint8"))


def test_pixel_cap_applies_to_arrays():
    assert ImageConverter().max_pixels == 100_000_000
    capped = ImageConverter(image_size=(4, 4), max_pixels=99)
    with pytest.raises(ValueError, match=r"shape \(2, 10, 10, 3\) have 100 pixels each, over `max_pixels`=99"):
        capped(np.zeros((2, 10, 10, 3), "uint8"))
    assert tuple(capped(np.zeros((2, 9, 11, 3), "uint8")).shape) == (2, 4, 4, 3)
    assert capped.get_config()["max_pixels"] == 99
    assert "max_pixels" not in ImageConverter().get_config()
    assert ImageConverter.from_config(capped.get_config()).max_pixels == 99
    with pytest.raises(ValueError, match="`max_pixels` must be None or a positive integer"):
        ImageConverter(max_pixels=0)


def test_every_non_finite_image_of_a_batch_is_listed():
    images = np.zeros((5, 8, 8, 3), "float32")
    images[[1, 3, 4], 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"image 1 of this batch .*, as do images \[3, 4\]"):
        ImageConverter()(images)
