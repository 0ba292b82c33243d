"""The one loop over image files that inference runs on: files decoded a
batch at a time, each image tied to its row, the position of its path in the
list. Scoring (`score_files`), embedding (`embed_files`) and evaluation use
it, so that all treat an unreadable file and a path listed twice alike."""

import dataclasses

from densenet_hub.base.validation import check_choice
from densenet_hub.base.validation import check_positive_int
from densenet_hub.data.images import ON_ERROR_CHOICES
from densenet_hub.data.images import read_images
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE


@dataclasses.dataclass(frozen=True)
class ImageBatch:
    """The decoded images of one slice of the path list, `paths[start:stop]`.

    Attributes:
        images: the decoded images (raw pixels, e.g. `(height, width, 3)`
            uint8 arrays of any size), one per entry of `rows`.
        rows: the row (index into the path list) of each image, ascending.
        skipped: the rows of the slice whose file could not be read.
        start: the first row of the slice.
        stop: one past its last row.
    """

    images: list
    rows: list
    skipped: list
    start: int
    stop: int

    @property
    def size(self):
        """How many paths the slice covers, read or not (for progress)."""
        return self.stop - self.start


def iterate_batches(paths, batch_size=DEFAULT_BATCH_SIZE, on_error="skip"):
    """Yields the images at `paths` batch by batch, so that only one batch
    of decoded images is in memory.

    Each path is its own row: a path listed twice is read twice and gives
    two rows. Every slice of `batch_size` paths gives one `ImageBatch`, also
    when none of its files could be read (then `images` is empty), so a
    caller can account for every row (a progress bar, a NaN row).

    Args:
        paths: image file paths (a sequence).
        batch_size: paths per batch, a positive int.
        on_error: `"skip"` leaves an unreadable file out of `images` (listed
            in `skipped`, with a `densenet_hub.data.SkippedImageWarning`);
            `"fail"` raises its `ValueError`.

    Yields:
        `ImageBatch`es in the order of `paths`.

    Example:
    ```python
    import pathlib
    import tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.inference import iterate_batches

    folder = pathlib.Path(tempfile.mkdtemp())
    PIL.Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not a picture")
    paths = [folder / "a.png", folder / "b.png", folder / "a.png"]
    batches = list(iterate_batches(paths, batch_size=2))
    assert [batch.rows for batch in batches] == [[0], [2]]
    assert batches[0].skipped == [1] and batches[0].images[0].shape == (8, 8, 3)
    ```
    """
    # Checked here, not when the first batch is asked for.
    check_choice("iterate_batches", "on_error", on_error, ON_ERROR_CHOICES)
    check_positive_int("iterate_batches", "batch_size", batch_size)
    return _batches(paths, batch_size, on_error)


def _batches(paths, batch_size, on_error):
    for start in range(0, len(paths), batch_size):
        stop = min(start + batch_size, len(paths))
        images, rows, skipped = [], [], []
        for row in range(start, stop):
            # One path at a time: a result tied to its row, never to a path
            # that may be listed twice.
            decoded, _ = read_images([paths[row]], on_error)
            if decoded:
                images.extend(decoded)
                rows.append(row)
            else:
                skipped.append(row)
        yield ImageBatch(images, rows, skipped, start, stop)
