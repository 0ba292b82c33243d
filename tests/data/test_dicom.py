"""DICOM files to arrays, checked against the DICOM display formulas written
out here, on the test files pydicom ships."""

import shutil
import sys
import warnings

import keras
import numpy as np
import PIL.Image
import pydicom
import pytest
from pydicom.data import get_testdata_file

import densenet_hub
from densenet_hub.data import SkippedImageWarning
from densenet_hub.data import find_images
from densenet_hub.data import read_image
from densenet_hub.data import read_images
from densenet_hub.base.optional import MissingOptionalPackageError

# float32 output of float64 arithmetic.
TOLERANCE = 1e-3


def linear_window(values, center, width):
    """PS3.3 C.11.2.1.2.1, the LINEAR VOI function, onto [0, 255]."""
    low = center - 0.5 - (width - 1) / 2
    high = center - 0.5 + (width - 1) / 2
    inside = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    return np.where(values <= low, 0.0, np.where(values > high, 255.0, inside))


def stretched(values):
    return (values - values.min()) / (values.max() - values.min()) * 255


def grey(image):
    assert image.shape[-1] == 3 and image.dtype == np.float32
    np.testing.assert_array_equal(image[..., 0], image[..., 1])
    np.testing.assert_array_equal(image[..., 0], image[..., 2])
    return image[..., 0]


def saved(dataset, path):
    dataset.save_as(path, enforce_file_format=True)
    return path


def test_ct_without_window_uses_the_range_of_its_rescaled_values():
    path = get_testdata_file("CT_small.dcm")
    dataset = pydicom.dcmread(path)
    assert "WindowCenter" not in dataset and float(dataset.RescaleIntercept) == -1024
    hounsfield = dataset.pixel_array * float(dataset.RescaleSlope) + float(
        dataset.RescaleIntercept
    )
    image = grey(read_image(path))
    assert np.abs(image - stretched(hounsfield)).max() < TOLERANCE
    assert image.min() == 0 and image.max() == 255


def test_mr_uses_its_window():
    path = get_testdata_file("MR_small.dcm")
    dataset = pydicom.dcmread(path)
    center, width = float(dataset.WindowCenter), float(dataset.WindowWidth)
    assert (center, width) == (600, 1600) and "RescaleSlope" not in dataset
    expected = linear_window(dataset.pixel_array.astype("float64"), center, width)
    assert np.abs(grey(read_image(path)) - expected).max() < TOLERANCE


def test_window_applies_to_rescaled_values_and_the_first_of_several_is_used(tmp_path):
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    # A soft-tissue window in Hounsfield units, then a bone window.
    dataset.WindowCenter = [40, 300]
    dataset.WindowWidth = [400, 1500]
    path = saved(dataset, tmp_path / "ct_window.dcm")
    hounsfield = dataset.pixel_array.astype("float64") - 1024
    image = grey(read_image(path))
    assert np.abs(image - linear_window(hounsfield, 40, 400)).max() < TOLERANCE
    assert 0 < (image == 255).mean() < 1


def test_monochrome1_is_the_inverse_of_monochrome2(tmp_path):
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    normal = read_image(saved(dataset, tmp_path / "mono2.dcm"))
    dataset.PhotometricInterpretation = "MONOCHROME1"
    inverted = read_image(saved(dataset, tmp_path / "mono1.dcm"))
    np.testing.assert_allclose(inverted, 255 - normal, atol=TOLERANCE)
    assert not np.allclose(inverted, normal)


def test_12_bits_in_a_16_bit_container_use_the_stored_range(tmp_path):
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    del dataset.WindowCenter, dataset.WindowWidth
    stored = np.linspace(100, 3000, 64 * 64).reshape(64, 64).astype("uint16")
    dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 12, 11, 0
    dataset.PixelData = stored.tobytes()
    image = grey(read_image(saved(dataset, tmp_path / "twelve_bits.dcm")))
    assert image[0, 0] == 0 and image[-1, -1] == 255  # not 3000 / 65535 * 255
    assert np.abs(image - stretched(stored.astype("float64"))).max() < TOLERANCE


def test_voi_lut_is_preferred_and_spans_its_entries(tmp_path):
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    item = pydicom.Dataset()
    # Declared 16 bits per entry, holding 0..2047 (as some files do).
    item.add_new(0x00283002, "US", [4096, 0, 16])
    item.add_new(0x00283006, "US", [index // 2 for index in range(4096)])
    dataset.VOILUTSequence = [item]
    image = grey(read_image(saved(dataset, tmp_path / "lut.dcm")))
    expected = (dataset.pixel_array // 2) / 2047 * 255
    assert np.abs(image - expected).max() < TOLERANCE


def test_rgb_files_keep_their_colours():
    dataset = pydicom.dcmread(get_testdata_file("SC_rgb_small_odd.dcm"))
    assert dataset.PhotometricInterpretation == "RGB"
    image = read_image(get_testdata_file("SC_rgb_small_odd.dcm"))
    np.testing.assert_array_equal(image, dataset.pixel_array.astype("float32"))
    sixteen = pydicom.dcmread(get_testdata_file("SC_rgb_rle_16bit.dcm"))
    image = read_image(get_testdata_file("SC_rgb_rle_16bit.dcm"))
    np.testing.assert_allclose(image, sixteen.pixel_array / 65535 * 255, atol=TOLERANCE)


def test_ybr_files_become_rgb():
    path = get_testdata_file("SC_ybr_full_422_uncompressed.dcm")
    dataset = pydicom.dcmread(path)
    rgb = pydicom.pixels.pixel_array(path, raw=False)
    raw = pydicom.pixels.pixel_array(path, raw=True)
    assert dataset.PhotometricInterpretation == "YBR_FULL_422"
    assert not np.array_equal(rgb, raw)
    np.testing.assert_array_equal(read_image(path), rgb.astype("float32"))


def test_compressed_file_without_a_decoder_names_the_fix(tmp_path):
    source = get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    syntax = pydicom.dcmread(source, stop_before_pixels=True).file_meta.TransferSyntaxUID
    if pydicom.pixels.get_decoder(syntax).is_available:
        pytest.skip(f"a decoder for {syntax.name} is installed")
    path = shutil.copy(source, tmp_path / "jpeg_ls.dcm")
    with pytest.raises(ValueError) as caught:
        read_image(path)
    message = str(caught.value)
    for part in ("jpeg_ls.dcm", "JPEG-LS Lossless", str(syntax), "pylibjpeg", "python-gdcm"):
        assert part in message


def test_compressed_file_with_pydicoms_own_decoder_is_read():
    rle = read_image(get_testdata_file("MR_small_RLE.dcm"))
    np.testing.assert_array_equal(rle, read_image(get_testdata_file("MR_small.dcm")))


def test_truncated_files_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"MR_truncated.dcm' is truncated or malformed: .*bytes"):
        read_image(get_testdata_file("MR_truncated.dcm"))
    whole = open(get_testdata_file("CT_small.dcm"), "rb").read()
    cut = tmp_path / "cut_header.dcm"
    # pydicom reads a header cut short as far as it goes, without a word.
    cut.write_bytes(whole[:3000])
    with pytest.raises(ValueError, match="cut_header.dcm' has no Pixel Data .*or is truncated"):
        read_image(cut)


def test_files_without_an_image_or_with_several_frames_are_refused():
    no_image = r"rtplan.dcm' has no Pixel Data .*RT Plan Storage.*holds no image"
    with pytest.raises(ValueError, match=no_image):
        read_image(get_testdata_file("rtplan.dcm"))
    with pytest.raises(ValueError, match="rle_2frame.dcm' holds 2 frames"):
        read_image(get_testdata_file("SC_rgb_rle_2frame.dcm"))
    with pytest.raises(ValueError, match="'PALETTE COLOR'; only MONOCHROME1"):
        read_image(get_testdata_file("examples_palette.dcm"))


def test_pixel_cap_is_checked_from_the_header():
    path = get_testdata_file("CT_small.dcm")
    over = r"CT_small.dcm' is 128x128, 16,384 pixels, over the 16,383"
    with pytest.raises(ValueError, match=over):
        read_image(path, max_pixels=128 * 128 - 1)
    assert read_image(path, max_pixels=128 * 128).shape == (128, 128, 3)


def test_find_images_keeps_dicom_files_and_skips_the_rest(tmp_path):
    for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "SC_rgb_rle_2frame.dcm"):
        shutil.copy(get_testdata_file(name), tmp_path / name)
    # Files from hospitals often have no suffix, or a number as one.
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "IM0001")
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "1.2.840.1234")
    PIL.Image.fromarray(np.zeros((4, 4), "uint8")).save(tmp_path / "photo.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = find_images([str(tmp_path)])
    assert [path.name for path in found] == [
        "1.2.840.1234", "CT_small.dcm", "IM0001", "MR_small.dcm", "photo.png"
    ]  # fmt: skip
    reasons = {w.message.path.name: w.message.reason for w in caught}
    assert set(reasons) == {"notes.txt", "rtplan.dcm", "SC_rgb_rle_2frame.dcm"}
    assert "without an image (SOP class RT Plan Storage)" in reasons["rtplan.dcm"]
    assert "holds 2 frames" in reasons["SC_rgb_rle_2frame.dcm"]
    assert read_image(tmp_path / "IM0001").shape == (64, 64, 3)
    with pytest.raises(ValueError, match="rtplan.dcm' is not a readable image"):
        find_images([str(tmp_path / "rtplan.dcm")], on_error="fail")


def test_read_images_skips_a_bad_dicom_file(tmp_path):
    good = get_testdata_file("CT_small.dcm")
    bad = get_testdata_file("MR_truncated.dcm")
    with pytest.warns(SkippedImageWarning, match="MR_truncated.dcm.*truncated") as caught:
        images, kept = read_images([good, bad])
    assert kept == [good] and images[0].shape == (128, 128, 3)
    assert [w.message.path for w in caught if w.category is SkippedImageWarning] == [bad]
    with pytest.raises(ValueError, match="MR_truncated.dcm"):
        read_images([good, bad], on_error="fail")


def test_missing_pydicom_names_the_extra(monkeypatch):
    # `None` in sys.modules makes `import pydicom` fail as if not installed.
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(MissingOptionalPackageError, match=r"pip install 'densenet-hub\[dicom\]'"):
        read_image(get_testdata_file("CT_small.dcm"))
    # A missing package is the user's fix, not a bad file to skip.
    with pytest.raises(MissingOptionalPackageError):
        read_images([get_testdata_file("CT_small.dcm")], on_error="skip")


def test_dicom_and_8_bit_images_go_through_a_classifier_preprocessor(tmp_path):
    png = tmp_path / "photo.png"
    PIL.Image.fromarray(np.full((40, 50, 3), 200, "uint8")).save(png)
    images, _ = read_images([get_testdata_file("CT_small.dcm"), png])
    assert [image.dtype for image in images] == [np.float32, np.uint8]
    preprocessor = densenet_hub.models.DenseNetImageClassifierPreprocessor(
        densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    )
    batch = keras.ops.convert_to_numpy(preprocessor(images))
    assert batch.shape == (2, 32, 32, 3) and np.isfinite(batch).all()
    assert 0 <= batch.min() and batch.max() <= 1 and batch[0].std() > 0.1
    np.testing.assert_allclose(batch[1], 200 / 255, atol=1e-6)
