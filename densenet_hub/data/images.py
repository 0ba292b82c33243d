"""Finding and decoding image files: files, folders and glob patterns, and
folders with one sub-folder of images per class.

A file that is not an image, that Pillow (or, for DICOM files, pydicom)
cannot decode, or that is not a regular file (a FIFO, socket or device,
which could block a reader forever) is a "bad file".
With `on_error="skip"` it is left out with a `SkippedImageWarning` (one per
file, so a caller can count, filter or print them); with `on_error="fail"`
it raises a `ValueError` naming it. A path that does not exist, a glob that
matches nothing and a folder without images always raise.
"""

import glob
import os
import pathlib
import stat
import warnings

import numpy as np
import PIL.Image
import PIL.ImageOps

from densenet_hub.data import dicom
from densenet_hub.base.validation import check_choice
from densenet_hub.base.choices import ON_ERROR_CHOICES

PILLOW_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
)
IMAGE_SUFFIXES = PILLOW_SUFFIXES + dicom.DICOM_SUFFIXES
GLOB_CHARACTERS = "*?["
SPECIAL_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
# Pixels per image read by default: about Pillow's own decompression-bomb
# guard (89.5 megapixels), rounded up; the converter uses it for arrays.
MAX_IMAGE_PIXELS = 100_000_000
# 16-bit greyscale (common for X-rays) maps 65535 to 255 by this divisor.
UINT16_PER_UINT8_LEVEL = 257


class SkippedImageWarning(UserWarning):
    """A bad file left out under `on_error="skip"`.

    Args:
        path: the file.
        reason: why it was left out.

    Example:
    ```python
    import tempfile
    import warnings
    from densenet_hub.data import SkippedImageWarning, find_images

    folder = tempfile.mkdtemp()
    open(f"{folder}/notes.txt", "w").close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            find_images([folder])
        except ValueError as error:
            assert "no readable images found in" in str(error)
    skipped = [w.message.path.name for w in caught if w.category is SkippedImageWarning]
    assert skipped == ["notes.txt"]
    ```
    """

    def __init__(self, path, reason):
        super().__init__(f"skipped {path}: {reason}")
        self.path = path
        self.reason = reason


def find_images(specs, on_error="skip"):
    """The image files named by `specs`, in order and without duplicates.

    Args:
        specs: paths of image files or folders (searched recursively, hidden
            files left out), or glob patterns such as `"photos/*.jpg"` or
            `"data/**/*.png"`.
        on_error: `"skip"` or `"fail"`, what to do with bad files.

    Returns:
        A list of `pathlib.Path`; never empty.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.data import find_images

    folder = tempfile.mkdtemp()
    PIL.Image.fromarray(np.zeros((4, 4, 3), "uint8")).save(f"{folder}/a.png")
    assert [path.name for path in find_images([folder])] == ["a.png"]
    ```
    """
    check_choice("find_images", "on_error", on_error, ON_ERROR_CHOICES)
    candidates = []
    for spec in specs:
        candidates.extend(_expand(spec))
    images = _keep_images(_unique(candidates), on_error)
    if not images:
        raise ValueError(
            f"no readable images found in {', '.join(map(repr, map(str, specs)))}; "
            f"expected image files ({', '.join(IMAGE_SUFFIXES)}) or folders "
            "holding them."
        )
    return images


def find_labelled_images(data_dir, on_error="skip", min_per_class=1):
    """The images of a folder with one sub-folder per class.

    Args:
        data_dir: the folder, e.g. `data/` holding `data/cat/1.jpg` and
            `data/dog/2.jpg`. Class names are the sub-folder names, and class
            indices follow their sorted order.
        on_error: `"skip"` or `"fail"`, what to do with bad files.
        min_per_class: the fewest images a class folder may hold.

    Returns:
        `(paths, labels, class_names)`: a list of `pathlib.Path`, an int
        array of class indices and a list of names.

    Example:
    ```python
    import pathlib
    import tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.data import find_labelled_images

    root = pathlib.Path(tempfile.mkdtemp())
    for name in ("cat", "dog"):
        (root / name).mkdir()
        PIL.Image.fromarray(np.zeros((4, 4, 3), "uint8")).save(root / name / "1.png")
    paths, labels, class_names = find_labelled_images(root)
    assert list(labels) == [0, 1] and class_names == ["cat", "dog"]
    ```
    """
    check_choice("find_labelled_images", "on_error", on_error, ON_ERROR_CHOICES)
    root = pathlib.Path(data_dir)
    if not root.is_dir():
        state = "is a file" if root.exists() else "does not exist"
        error = NotADirectoryError if root.exists() else FileNotFoundError
        raise error(
            f"the data folder {str(root)!r} {state}; pass a folder with one "
            "sub-folder of images per class, e.g. data/cat/1.jpg, data/dog/2.jpg."
        )
    class_dirs = sorted(
        child for child in root.iterdir() if child.is_dir() and not _is_hidden(child.name)
    )
    if not class_dirs:
        raise ValueError(
            f"the data folder {str(root)!r} has no class sub-folders; put the "
            f"images of each class in its own sub-folder, e.g. {root}/cat/1.jpg."
        )
    paths, labels = [], []
    for index, class_dir in enumerate(class_dirs):
        images = _keep_images(_files_under(class_dir), on_error)
        _check_class_size(class_dir, len(images), min_per_class)
        paths.extend(images)
        labels.extend([index] * len(images))
    return paths, np.asarray(labels, dtype="int64"), [d.name for d in class_dirs]


def read_image(path, max_pixels=MAX_IMAGE_PIXELS, like_torchvision=False):
    """Decodes an image file into a `(height, width, 3)` RGB array.

    8-bit images (and float TIFFs, below) become uint8 arrays. 16-bit
    greyscale PNGs and TIFFs and DICOM files become float32 arrays in
    [0, 255], keeping the precision of their extra bits (classifier
    preprocessors take both, mixed in one list): 16-bit images use their
    full range (65535 becomes 255.0); DICOM files (`.dcm`, `.dicom`, or any
    file with the DICOM mark; they need pydicom, `pip install
    'densenet-hub[dicom]'`) are read by `read_dicom`, through the window or
    LUT their header gives.

    The EXIF orientation is applied; greyscale, palette and alpha images are
    converted to RGB. Floating-point greyscale (32-bit float TIFFs, common in
    medical imaging) is read by its range: values in [0, 1] are taken as
    fractions of full scale (times 255), values in [0, 255] as 8-bit levels;
    anything else (negative values, Hounsfield units, NaN) is refused, since
    no fixed mapping to 8 bits fits it: window or rescale such images
    yourself and pass arrays.

    EXIF rotation and the full 16-bit range are deliberate departures from
    torchvision's and timm's loaders (`PIL.Image.open(path).convert("RGB")`),
    which leave a photo as stored, sideways if its camera was turned, and
    saturate 16-bit images at 255. `like_torchvision=True` decodes exactly
    as they do, for pixels equal to theirs.

    Args:
        path: the image file.
        max_pixels: the most pixels (height x width) an image may have,
            checked from its header before it is decoded; `None` leaves
            only Pillow's own limit (twice `PIL.Image.MAX_IMAGE_PIXELS`).
        like_torchvision: decode as torchvision's and timm's default loader
            does: `convert("RGB")` alone, no EXIF rotation, 16-bit and
            float images clipped to 0..255, always uint8. DICOM files,
            which they cannot read, are read as above.

    Raises:
        ValueError: naming the file, when it cannot be decoded or is over
            `max_pixels`.
        densenet_hub.base.optional.MissingOptionalPackageError: for a DICOM file
            when pydicom is not installed.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.data import read_image

    path = f"{tempfile.mkdtemp()}/grey.png"
    PIL.Image.fromarray(np.full((4, 6), 200, "uint8")).save(path)
    assert read_image(path).shape == (4, 6, 3) and read_image(path).dtype == "uint8"

    PIL.Image.fromarray(np.full((4, 6), 32768, "uint16")).save(path)
    image = read_image(path)
    assert image.dtype == "float32" and abs(image[0, 0, 0] - 127.5) < 0.01
    assert read_image(path, like_torchvision=True)[0, 0, 0] == 255  # saturated
    ```
    """
    special = _special_file(path)
    if special is not None:
        raise ValueError(f"cannot read the image {str(path)!r}: {special}")
    if dicom.is_dicom(path):
        return dicom.read_dicom(path, max_pixels)
    try:
        with warnings.catch_warnings():
            # Pillow warns between its two size limits; `max_pixels` decides
            # there instead, before anything is decoded.
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(path) as image:
                _check_pixels(image.size, max_pixels)
                if like_torchvision:
                    return np.asarray(image.convert("RGB"), dtype="uint8")
                image = PIL.ImageOps.exif_transpose(image)
                return _to_rgb_array(image)
    except (OSError, ValueError, SyntaxError, PIL.Image.DecompressionBombError) as error:
        raise ValueError(f"cannot read the image {str(path)!r}: {_reason(error)}") from None


def read_images(paths, on_error="skip", max_pixels=MAX_IMAGE_PIXELS, like_torchvision=False):
    """Decodes `paths`; returns `(images, kept_paths)`.

    Args:
        paths: image file paths.
        on_error: `"skip"` leaves a bad file out with a
            `SkippedImageWarning`; `"fail"` raises its `ValueError`.
        max_pixels: as for `read_image`.
        like_torchvision: as for `read_image`.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.data import read_images

    path = f"{tempfile.mkdtemp()}/a.png"
    PIL.Image.fromarray(np.zeros((4, 4, 3), "uint8")).save(path)
    images, kept = read_images([path])
    assert len(images) == 1 and kept == [path]
    ```
    """
    check_choice("read_images", "on_error", on_error, ON_ERROR_CHOICES)
    images, kept = [], []
    for path in paths:
        try:
            images.append(read_image(path, max_pixels, like_torchvision))
        except ValueError as error:
            if on_error == "fail":
                raise
            warnings.warn(SkippedImageWarning(path, str(error)), stacklevel=2)
            continue
        kept.append(path)
    return images, kept


def _to_rgb_array(image):
    if image.mode == "F":
        return np.repeat(_float_to_uint8(np.asarray(image))[..., None], 3, axis=-1)
    if image.mode.startswith("I;16"):
        array = np.asarray(image, dtype="uint16") / np.float32(UINT16_PER_UINT8_LEVEL)
        return np.repeat(array.astype("float32")[..., None], 3, axis=-1)
    return np.asarray(image.convert("RGB"), dtype="uint8")


def _check_pixels(size, max_pixels):
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise ValueError(
            f"{width}x{height} is {width * height:,} pixels, over the "
            f"{max_pixels:,} allowed (`max_pixels`); shrink the image, or "
            "pass a larger max_pixels if it is genuine"
        )


def _float_to_uint8(array):
    """A float greyscale image in [0, 1] or [0, 255] as 8-bit levels."""
    finite = np.isfinite(array).all()
    low, high = (float(array.min()), float(array.max())) if finite else (None, None)
    if not finite or low < 0 or high > 255:
        found = "NaN or infinite values" if not finite else f"values in [{low:g}, {high:g}]"
        raise ValueError(
            f"a floating-point image with {found}; only [0, 1] (fractions "
            "of full scale) or [0, 255] (8-bit levels) can be read. Window "
            "or rescale it to one of these (or to 8 or 16 bits) first."
        )
    if high <= 1:
        array = array * 255
    return np.round(array).astype("uint8")


def _expand(spec):
    path = pathlib.Path(spec)
    if path.is_dir():
        return _files_under(path)
    if path.exists():
        return [path]
    if any(char in str(spec) for char in GLOB_CHARACTERS):
        matches = sorted(glob.glob(str(spec), recursive=True))
        if not matches:
            raise FileNotFoundError(
                f"the pattern {str(spec)!r} matches no files; check the pattern, "
                "and quote it so the shell does not expand it first."
            )
        files = []
        for match in matches:
            files.extend(_expand(match))
        return files
    raise FileNotFoundError(
        f"{str(spec)!r} does not exist; pass image files, folders or glob "
        "patterns such as 'photos/*.jpg'."
    )


def _files_under(folder):
    return sorted(
        path
        for path in pathlib.Path(folder).rglob("*")
        if not path.is_dir() and not _is_hidden(path.relative_to(folder))
    )


def _is_hidden(path):
    return any(part.startswith(".") for part in pathlib.Path(path).parts)


def _unique(paths):
    return list(dict.fromkeys(paths))


def _keep_images(paths, on_error):
    """`paths` whose header Pillow or pydicom recognises; the rest skipped or
    refused."""
    kept = []
    for path in paths:
        reason = _problem(path)
        if reason is None:
            kept.append(path)
        elif on_error == "fail":
            raise ValueError(
                f"{str(path)!r} is not a readable image ({reason}); remove it, "
                "or pass on_error='skip' (--on-error skip) to leave such files out."
            )
        else:
            warnings.warn(SkippedImageWarning(path, reason), stacklevel=3)
    return kept


def _problem(path):
    """Why `path` is not an image, from its name and header; `None` if it is."""
    special = _special_file(path)
    named_image = path.suffix.lower() in IMAGE_SUFFIXES
    if special is not None:
        return special if named_image else _not_an_image(path)
    if dicom.is_dicom(path):
        return dicom.dicom_problem(path)
    if not named_image:
        return _not_an_image(path)
    try:
        with PIL.Image.open(path):
            return None
    except (OSError, ValueError, SyntaxError, PIL.Image.DecompressionBombError) as error:
        return _reason(error)


def _not_an_image(path):
    return f"not an image file (suffix {path.suffix or 'none'!r})"


def _special_file(path):
    """Why `path` is not a regular file (checked before opening it: reading a
    FIFO or a device can block forever); `None` if it is one."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return _reason(error)
    if stat.S_ISREG(mode):
        return None
    kind = next(
        (name for is_kind, name in SPECIAL_FILE_KINDS if is_kind(mode)), "a special file"
    )
    return f"{kind}, not a regular file; pass image files only"


def _reason(error):
    return str(error) or type(error).__name__


def _check_class_size(class_dir, count, min_per_class):
    if count == 0:
        raise ValueError(
            f"the class folder {str(class_dir)!r} holds no readable images; "
            "add images to it or remove it."
        )
    if count < min_per_class:
        raise ValueError(
            f"the class folder {str(class_dir)!r} holds {count} image(s) but "
            f"at least {min_per_class} are needed (one or more for training "
            "and one for validation); add images or remove the folder."
        )
