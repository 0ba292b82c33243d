"""Image files to arrays: special files, float TIFFs, pixel caps."""

import contextlib
import os
import signal
import warnings

import numpy as np
import PIL.Image
import pytest

from densenet_hub.data import SkippedImageWarning
from densenet_hub.data import find_images
from densenet_hub.data import read_image
from densenet_hub.data import read_images

HANG_SECONDS = 10


class Hung(BaseException):
    """Raised by the alarm; not an `OSError` (as `TimeoutError` is), which
    the code under test would catch and report as an unreadable file."""


@contextlib.contextmanager
def fails_instead_of_hanging():
    def expire(signum, frame):
        raise Hung(f"still blocked after {HANG_SECONDS} s: a regression")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "photo.png"
    os.mkfifo(path)
    return path


def save_png(path):
    PIL.Image.fromarray(np.zeros((4, 4, 3), "uint8")).save(path)
    return path


def test_fifo_named_like_an_image_is_skipped_with_a_warning(tmp_path, fifo):
    good = save_png(tmp_path / "good.png")
    with fails_instead_of_hanging(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert find_images([str(fifo), str(good)]) == [good]
        assert find_images([str(tmp_path)]) == [good]
    skipped = [w.message for w in caught if w.category is SkippedImageWarning]
    assert [w.path for w in skipped] == [fifo, fifo]
    assert all("a FIFO, not a regular file" in w.reason for w in skipped)


def test_fifo_is_refused_by_the_readers(fifo):
    with fails_instead_of_hanging():
        with pytest.raises(ValueError, match="not a readable image .*a FIFO"):
            find_images([str(fifo)], on_error="fail")
        with pytest.raises(ValueError, match=f"cannot read the image .*{fifo.name}.*a FIFO"):
            read_image(fifo)
        with pytest.warns(SkippedImageWarning, match="a FIFO"):
            assert read_images([fifo]) == ([], [])


def save_float_tiff(path, values):
    PIL.Image.fromarray(np.asarray(values, "float32"), mode="F").save(path)
    return path


def test_float_tiff_in_0_1_is_read_by_its_range(tmp_path):
    values = np.array([[0.0, 0.5], [0.25, 1.0]], "float32")
    image = read_image(save_float_tiff(tmp_path / "xray.tif", values))
    assert image.dtype == np.uint8 and image.shape == (2, 2, 3)
    np.testing.assert_array_equal(image[..., 0], [[0, 128], [64, 255]])
    np.testing.assert_array_equal(image[..., 0], image[..., 2])


def test_float_tiff_in_0_255_keeps_its_levels(tmp_path):
    image = read_image(save_float_tiff(tmp_path / "levels.tif", [[0.0, 17.0], [200.0, 255.0]]))
    np.testing.assert_array_equal(image[..., 1], [[0, 17], [200, 255]])


def test_float_tiff_out_of_range_is_refused(tmp_path):
    path = save_float_tiff(tmp_path / "ct.tif", [[-1000.0, 0.0], [400.0, 3000.0]])
    with pytest.raises(ValueError, match=r"ct.tif.*values in \[-1000, 3000\].*Window or rescale"):
        read_image(path)
    nan = save_float_tiff(tmp_path / "nan.tif", [[np.nan, 0.0], [0.5, 1.0]])
    with pytest.raises(ValueError, match="nan.tif.*NaN or infinite"):
        read_image(nan)


def test_pixel_cap_is_checked_from_the_header(tmp_path):
    path = tmp_path / "wide.png"
    PIL.Image.fromarray(np.zeros((10, 30, 3), "uint8")).save(path)
    with pytest.raises(ValueError, match=r"wide.png.*30x10 is 300 pixels, over the 299"):
        read_image(path, max_pixels=299)
    with pytest.warns(SkippedImageWarning, match="over the 299"):
        assert read_images([path], max_pixels=299) == ([], [])
    assert read_image(path, max_pixels=300).shape == (10, 30, 3)
    assert read_image(path, max_pixels=None).shape == (10, 30, 3)


def test_8_bit_images_keep_their_levels_as_uint8(tmp_path):
    path = tmp_path / "grey.png"
    PIL.Image.fromarray(np.array([[0, 17], [200, 255]], "uint8")).save(path)
    image = read_image(path)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 1], [[0, 17], [200, 255]])


@pytest.mark.parametrize(
    "name, dtype", [("xray.png", "<u2"), ("xray.tif", "<u2"), ("big_endian.tif", ">u2")]
)
def test_16_bit_greyscale_uses_its_full_range(tmp_path, name, dtype):
    values = np.array([[0, 257], [32768, 65535]], dtype)
    path = tmp_path / name
    PIL.Image.fromarray(values).save(path)
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == (2, 2, 3)
    np.testing.assert_array_equal(image[..., 0], image[..., 2])
    # 65535 is 255, not clipped at 255 as a conversion to 8 bits would be;
    # 32768 keeps its half level instead of rounding to 127 or 128.
    np.testing.assert_allclose(image[..., 0], [[0, 1], [127.50195, 255]], rtol=1e-6)
