"""Decoding DICOM files (medical images as hospitals store them) into RGB
arrays, through the display transform their header describes.

pydicom is optional: `pip install 'densenet-hub[dicom]'`.
"""

import pathlib

import numpy as np

from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional

DICOM_SUFFIXES = (".dcm", ".dicom")
# A DICOM file (PS3.10) starts with a 128-byte preamble, then "DICM".
PREAMBLE_BYTES = 128
MAGIC = b"DICM"
GREY = ("MONOCHROME1", "MONOCHROME2")
# pydicom converts the YBR ones to RGB as it decodes.
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")
DECODER_FIX = (
    "`pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle` "
    "or `pip install python-gdcm`"
)
# What pydicom raises for a truncated or malformed file; its parser has no
# common error class, and `InvalidDicomError` is added when it is imported.
MALFORMED_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    AttributeError,
    KeyError,
    IndexError,
    TypeError,
    NotImplementedError,
    RuntimeError,
)


def is_dicom(path):
    """Whether `path` is a DICOM file: its suffix is `.dcm` or `.dicom`, or
    it has the `DICM` mark at byte 128 (many files from hospitals have no
    suffix, or a number as one). `path` must be a regular file.

    Example:
    ```python
    import tempfile
    from densenet_hub.data import is_dicom

    folder = tempfile.mkdtemp()
    with open(f"{folder}/IM0001", "wb") as file:
        file.write(bytes(128) + b"DICM")
    with open(f"{folder}/notes.txt", "w") as file:
        file.write("not an image")
    assert is_dicom(f"{folder}/IM0001") and is_dicom(f"{folder}/scan.dcm")
    assert not is_dicom(f"{folder}/notes.txt")
    ```
    """
    return pathlib.Path(path).suffix.lower() in DICOM_SUFFIXES or _has_magic(path)


def dicom_problem(path):
    """Why the DICOM file `path` holds no readable image, from its header
    alone; `None` if it looks like one."""
    pydicom = _pydicom()
    try:
        dataset = _read(pydicom, path, stop_before_pixels=True)
    except ValueError as error:
        return str(error)
    if "Rows" not in dataset or "Columns" not in dataset:
        return f"a DICOM file without an image ({_kind(dataset)})"
    try:
        _check_header(dataset, "it", max_pixels=None)
    except ValueError as error:
        return str(error)
    return None


def read_dicom(path, max_pixels=None):
    """Decodes a single-frame DICOM image into a `(height, width, 3)` float32
    array in [0, 255].

    Greyscale images go through the transforms their header names, with
    pydicom's own functions: stored values, then Rescale Slope and Intercept
    (or the Modality LUT), then the VOI LUT, or else the first Window
    Center/Width; the output range of that VOI transform becomes [0, 255]
    (for a VOI LUT, the range of its entries). Without a VOI transform the
    values present in the image, from their minimum to their maximum,
    become [0, 255] (not the container's range: 12 bits stored in 16 use
    12). MONOCHROME1 images (high values dark) are inverted to match
    MONOCHROME2 ones. RGB and YBR colour images become RGB, scaled from
    Bits Stored. Other photometric interpretations (palette colour) and
    multi-frame files are refused: pick and save single frames first.

    Args:
        path: the DICOM file.
        max_pixels: the most pixels (Rows x Columns) the image may have,
            checked from the header before the pixels are decoded; `None`
            for no cap (`read_image` passes its own).

    Raises:
        densenet_hub.base.optional.MissingOptionalPackageError: pydicom is not
            installed.
        ValueError: naming the file, when it is truncated or malformed,
            holds no image, is over `max_pixels`, has several frames, or is
            compressed in a transfer syntax no installed package decodes
            (the error names the packages to install).

    Example:
    ```python
    from pydicom.data import get_testdata_file
    from densenet_hub.data import read_dicom

    image = read_dicom(get_testdata_file("CT_small.dcm"))
    assert image.shape == (128, 128, 3) and image.dtype == "float32"
    assert image.min() == 0 and image.max() == 255
    ```
    """
    pydicom = _pydicom()
    dataset = _read(pydicom, path)
    where = f"the DICOM file {str(path)!r}"
    if "PixelData" not in dataset:
        raise ValueError(
            f"{where} has no Pixel Data element ({_kind(dataset)}): it holds "
            "no image, or is truncated; pass whole DICOM image files."
        )
    _check_header(dataset, where, max_pixels)
    stored = _decode(pydicom, dataset, where)
    interpretation = dataset.PhotometricInterpretation
    if interpretation in COLOUR:
        image = stored.astype("float64") * (255 / (2 ** int(dataset.BitsStored) - 1))
    else:
        image = _display_grey(pydicom.pixels, stored, dataset, where)
        if interpretation == "MONOCHROME1":
            image = 255 - image
        image = np.repeat(image[..., None], 3, axis=-1)
    return image.astype("float32")


def _pydicom():
    return import_optional("pydicom", extra_fix("dicom"), "Reading DICOM files")


def _read(pydicom, path, stop_before_pixels=False):
    where = f"the DICOM file {str(path)!r}"
    if not _has_magic(path):
        raise ValueError(
            f"{where} lacks the 'DICM' mark at byte 128 that DICOM files "
            "(PS3.10) start with: it is not a DICOM file, or an old one "
            "without a file header; convert it to a DICOM file first (e.g. "
            "with dcmtk's `dcmconv` or GDCM's `gdcmconv`)."
        )
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except MALFORMED_ERRORS + (pydicom.errors.InvalidDicomError,) as error:
        raise ValueError(f"{where} is truncated or malformed: {error}") from None


def _has_magic(path):
    try:
        with open(path, "rb") as file:
            return file.read(PREAMBLE_BYTES + len(MAGIC))[PREAMBLE_BYTES:] == MAGIC
    except OSError:
        return False


def _kind(dataset):
    sop_class = dataset.get("SOPClassUID")
    return f"SOP class {sop_class.name}" if sop_class else "no SOP class given"


def _check_header(dataset, where, max_pixels):
    rows, columns = dataset.get("Rows"), dataset.get("Columns")
    if rows is None or columns is None:
        raise ValueError(
            f"{where} has pixel data but no Rows or Columns, so its size is "
            "unknown; the file is malformed."
        )
    if max_pixels is not None and rows * columns > max_pixels:
        raise ValueError(
            f"{where} is {columns}x{rows}, {rows * columns:,} pixels, over the "
            f"{max_pixels:,} allowed (`max_pixels`); pass a larger max_pixels "
            "if it is genuine."
        )
    frames = int(dataset.get("NumberOfFrames") or 1)
    if frames > 1:
        raise ValueError(
            f"{where} holds {frames} frames, but only single images are read; "
            "save the frames you need as separate files (e.g. with pydicom: "
            "`dcmread(path).pixel_array[i]`)."
        )
    interpretation = dataset.get("PhotometricInterpretation")
    if interpretation not in GREY + COLOUR:
        raise ValueError(
            f"{where} has Photometric Interpretation {interpretation!r}; only "
            f"{', '.join(GREY + COLOUR)} are read. Convert it to RGB first."
        )


def _decode(pydicom, dataset, where):
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    decoder = None
    if syntax is not None and syntax.is_compressed:
        try:
            decoder = pydicom.pixels.get_decoder(syntax)
        except NotImplementedError:
            raise ValueError(
                f"{where} is compressed as {syntax.name} ({syntax}), which "
                "pydicom cannot decode; convert it to an uncompressed transfer "
                "syntax first."
            ) from None
        if not decoder.is_available:
            raise ValueError(_no_decoder(where, syntax, decoder))
    try:
        return dataset.pixel_array
    except MALFORMED_ERRORS as error:
        if decoder is not None:
            # Pillow, say, decodes some but not all images of a syntax.
            raise ValueError(_no_decoder(where, syntax, decoder, error)) from None
        raise ValueError(f"{where} is truncated or malformed: {error}") from None


def _no_decoder(where, syntax, decoder, error=None):
    reason = (
        f"the installed decoders failed ({error})"
        if error is not None
        else "no installed package decodes it"
    )
    return (
        f"{where} is compressed as {syntax.name} ({syntax}), and {reason}. "
        f"Fix: {DECODER_FIX}; pydicom's decoders for it: "
        f"{'; '.join(decoder.missing_dependencies)}."
    )


def _display_grey(pixels, stored, dataset, where):
    """Stored greyscale values through the modality and VOI transforms, as
    float64 in [0, 255]."""
    try:
        values = pixels.apply_modality_lut(stored, dataset)
        if _has_voi_lut(dataset):
            # A LUT is indexed by integers; rescaled values are floats.
            shown = pixels.apply_voi(np.round(values).astype("int64"), dataset)
            descriptor = dataset.VOILUTSequence[0].LUTDescriptor
            indices = np.arange(descriptor[1], descriptor[1] + (descriptor[0] or 2**16))
            # Its entries' range, not the declared bit depth: some files
            # declare 16 bits for a 12-bit table.
            entries = pixels.apply_voi(indices, dataset)
            low, high = float(entries.min()), float(entries.max())
        elif _has_window(dataset):
            shown = pixels.apply_windowing(values, dataset, index=0)
            # Windowing sends values below and above the window to the two
            # ends of its output range, whatever the VOI LUT Function.
            low, high = pixels.apply_windowing(np.array([-np.inf, np.inf]), dataset)
        else:
            shown = values
            low, high = float(values.min()), float(values.max())
    except MALFORMED_ERRORS as error:
        raise ValueError(
            f"{where} has modality or VOI LUT values pydicom cannot apply: {error}"
        ) from None
    if high <= low:
        return np.zeros(shown.shape)
    return (np.asarray(shown, dtype="float64") - low) * (255 / (high - low))


def _has_voi_lut(dataset):
    sequence = dataset.get("VOILUTSequence")
    return bool(sequence) and None not in (
        sequence[0].get("LUTDescriptor"),
        sequence[0].get("LUTData"),
    )


def _has_window(dataset):
    return all(dataset.get(name) not in (None, "") for name in ("WindowCenter", "WindowWidth"))
