"""Argument types and options shared by several commands."""

import argparse
import re

from densenet_hub.data.images import ON_ERROR_CHOICES

DEFAULT_BATCH_SIZE = 32
_IMAGE_SIZE = re.compile(r"([1-9][0-9]{0,4})(?:x([1-9][0-9]{0,4}))?")


def _number_type(convert, accepts, expected):
    """An argparse type: `convert(text)`, kept if `accepts(value)`."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_int = _number_type(int, lambda v: v >= 1, "a positive integer")
non_negative_int = _number_type(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number_type(
    float, lambda v: 0 < v < float("inf"), "a positive number"
)
fraction = _number_type(
    float, lambda v: 0 < v < 1, "a fraction between 0 and 1, e.g. 0.2"
)
unit_interval = _number_type(float, lambda v: 0 <= v <= 1, "a number from 0 to 1")


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
    add_image_size_option(parser)
    add_on_error_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_image_size_option(
    parser, help_text="resize to SIZE or HEIGHTxWIDTH instead of the preset's size"
):
    parser.add_argument("--image-size", type=image_size, default=None, help=help_text)


def add_on_error_option(parser):
    parser.add_argument(
        "--on-error",
        choices=ON_ERROR_CHOICES,
        default="skip",
        help="for unreadable or non-image files: skip them with a warning "
        "(default) or fail",
    )
