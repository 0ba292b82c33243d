"""scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, no
download) as 32x32 images, and the small DenseNet the demo trains on them."""

import pathlib

import numpy as np
import PIL.Image

from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor

IMAGE_SIZE = 32
DIGIT_MAX = 16  # scikit-learn's digits are grey levels 0..16
TEST_FRACTION = 0.2


def split_digit_scans(images_per_class, rng, test_fraction):
    """scikit-learn's digits and, for each digit 0-9, its held-out and its
    training scan rows.

    Args:
        images_per_class: use at most this many scans of each digit (`None`:
            all, about 180).
        rng: the `numpy.random.Generator` that draws them.
        test_fraction: the share of each digit's scans held out (at least one).

    Returns:
        `(digits, [(test_rows, train_rows), ...])`: scikit-learn's `Bunch`
        and one pair of row arrays per digit.

    Example:
    ```python
    import numpy as np
    from densenet_hub.demos import split_digit_scans

    digits, splits = split_digit_scans(10, np.random.default_rng(0), 0.2)
    test_rows, train_rows = splits[7]
    assert (len(test_rows), len(train_rows)) == (2, 8)
    assert set(digits.target[train_rows]) == {7}
    ```
    """
    datasets = import_optional(
        "sklearn.datasets", extra_fix("demo"), "The demo (scikit-learn's bundled digits)"
    )
    digits = datasets.load_digits()
    splits = []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(digits.target == digit))[:images_per_class]
        test_count = max(1, round(len(rows) * test_fraction))
        splits.append((rows[:test_count], rows[test_count:]))
    return digits, splits


def digit_picture(grey_levels, size=IMAGE_SIZE):
    """A scan's 0..16 grey levels as a `size` x `size` 8-bit PIL image."""
    pixels = np.round(grey_levels * (255 / DIGIT_MAX)).astype("uint8")
    return PIL.Image.fromarray(pixels).resize((size, size), PIL.Image.BICUBIC)


def write_digit_folders(folder, images_per_class=None, seed=0):
    """Writes scikit-learn's digits as 32x32 PNGs in `train/<digit>/` and
    `test/<digit>/` under `folder`, a fifth of each digit's held out.

    Args:
        folder: where to write; created if absent.
        images_per_class: use at most this many scans of each digit
            (default: all, about 180).
        seed: seed of the split.

    Returns:
        `(train_folder, test_folder)`, class folders for `train` and
        `evaluate`.

    Example:
    ```python
    import tempfile
    from densenet_hub.demos import write_digit_folders

    train, test = write_digit_folders(tempfile.mkdtemp(), images_per_class=5)
    assert len(list((train / "3").glob("*.png"))) == 4
    assert len(list((test / "3").glob("*.png"))) == 1
    ```
    """
    folder = pathlib.Path(folder)
    rng = np.random.default_rng(seed)
    digits, splits = split_digit_scans(images_per_class, rng, TEST_FRACTION)
    for digit, (test_rows, train_rows) in enumerate(splits):
        for split, chosen in (("test", test_rows), ("train", train_rows)):
            target = folder / split / str(digit)
            target.mkdir(parents=True, exist_ok=True)
            for row in chosen:
                digit_picture(digits.images[row]).save(target / f"{row:04d}.png")
    return folder / "train", folder / "test"


def digit_examples(test_folder, count=5):
    """One held-out image of each of the first `count` digits of a folder
    from `write_digit_folders`."""
    test_folder = pathlib.Path(test_folder)
    return [sorted((test_folder / str(digit)).glob("*.png"))[0] for digit in range(count)]


def tiny_classifier():
    """An untrained 10-class DenseNet small enough to train on 2 CPU cores in
    minutes, with 32x32 inputs scaled to [0, 1].

    Its stem uses KerasHub's "same" padding, so KerasHub loads its presets.
    `train` replaces its head, so it is also the architecture of the
    multi-label demo.

    Example:
    ```python
    from densenet_hub.demos import tiny_classifier

    classifier = tiny_classifier()
    assert classifier.num_classes == 10 and classifier.preprocessor.image_size == (32, 32)
    ```
    """
    backbone = DenseNetBackbone(
        stackwise_num_repeats=[2, 2, 2], growth_rate=16, stem_padding="same"
    )
    converter = DenseNetImageConverter(image_size=(IMAGE_SIZE, IMAGE_SIZE), scale=1 / 255)
    return DenseNetImageClassifier(
        backbone,
        num_classes=10,
        preprocessor=DenseNetImageClassifierPreprocessor(converter),
    )
