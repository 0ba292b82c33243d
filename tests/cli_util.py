"""Kept only for `tests/test_cli_train.py`, which imports from it by this
name; new code imports from `helpers.cli` and `helpers.models` instead."""

from helpers.cli import error_line  # noqa: F401
from helpers.cli import write_graded_noise_images  # noqa: F401
from helpers.models import save_tiny_classifier_preset  # noqa: F401
