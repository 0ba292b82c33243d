"""The image finders of `densenet_hub.data` for the commands: a bad file
skipped under `--on-error skip` becomes a `densenet-hub: warning:` line on
stderr instead of a Python warning."""

import contextlib
import functools
import warnings

from densenet_hub import data
from densenet_hub.cli.console import MAX_NAMED
from densenet_hub.cli.console import warn


@contextlib.contextmanager
def skipped_images_as_warnings():
    """Prints each `SkippedImageWarning` raised inside as a warning line, the
    first `MAX_NAMED` as they come, then how many more there were.

    Example:
    ```python
    import warnings
    from densenet_hub.cli.images import skipped_images_as_warnings
    from densenet_hub.data import SkippedImageWarning

    with skipped_images_as_warnings():
        # stderr: densenet-hub: warning: skipped notes.txt: not an image file
        warnings.warn(SkippedImageWarning("notes.txt", "not an image file"))
    ```
    """
    skipped = 0

    def show(message, category, *args, **kwargs):
        nonlocal skipped
        if not issubclass(category, data.SkippedImageWarning):
            return shown_before(message, category, *args, **kwargs)
        skipped += 1
        if skipped <= MAX_NAMED:
            warn(message)

    with warnings.catch_warnings():
        warnings.simplefilter("always", data.SkippedImageWarning)
        shown_before = warnings.showwarning
        warnings.showwarning = show
        try:
            yield
        finally:
            if skipped > MAX_NAMED:
                warn(f"skipped {skipped - MAX_NAMED} more unreadable file(s)")


def _warning_on_skips(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with skipped_images_as_warnings():
            return function(*args, **kwargs)

    return wrapper


find_images = _warning_on_skips(data.find_images)
find_labelled_images = _warning_on_skips(data.find_labelled_images)
read_images = _warning_on_skips(data.read_images)
