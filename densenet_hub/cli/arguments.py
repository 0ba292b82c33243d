"""Argument types and options shared by several commands."""

import argparse
import re

from densenet_hub.cli.images import ON_ERROR_CHOICES

DEFAULT_BATCH_SIZE = 32
_IMAGE_SIZE = re.compile(r"([1-9][0-9]{0,4})(?:x([1-9][0-9]{0,4}))?")


def positive_int(text):
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text):
    """An argparse type: an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text):
    """An argparse type: a float above 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def fraction(text):
    """An argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a fraction between 0 and 1, e.g. 0.2, got {text!r}"
        )
    return value


def unit_interval(text):
    """An argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def image_size(text):
    """An argparse type: `224` or `224x160` (height x width)."""
    match = _IMAGE_SIZE.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected SIZE or HEIGHTxWIDTH in pixels, e.g. 224 or 224x160, got {text!r}"
        )
    height = int(match.group(1))
    return (height, int(match.group(2) or height))


def add_batch_options(parser):
    """`--batch-size`, `--image-size`, `--on-error` and `--quiet`."""
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        help=f"images per batch (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--image-size",
        type=image_size,
        default=None,
        help="resize to SIZE or HEIGHTxWIDTH instead of the preset's size",
    )
    add_on_error_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_on_error_option(parser):
    parser.add_argument(
        "--on-error",
        choices=ON_ERROR_CHOICES,
        default="skip",
        help="for unreadable or non-image files: skip them with a warning "
        "(default) or fail",
    )
