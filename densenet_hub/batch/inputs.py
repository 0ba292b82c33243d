"""The image list of a batch job (`batch_predict`, `batch_embed`): a folder,
a glob pattern, a list of paths or a label table, each turned into one path
per output row, in a fixed order (the order a rerun must find again)."""

import hashlib
import os
import pathlib

from densenet_hub.data.image_paths import ImagePaths
from densenet_hub.data.images import find_images
from densenet_hub.data.label_tables import LabelTable
from densenet_hub.data.label_tables import read_label_table

TABLE_SUFFIXES = (".csv", ".txt", ".tsv")


def job_paths(inputs, *, images=None, path_column=None, where=None):
    """The image paths a batch job runs over, one per output row.

    Args:
        inputs: a folder (searched recursively) or a glob pattern such as
            `"scans/**/*.png"` (files whose header is not an image's are
            left out with a `SkippedImageWarning`, as `find_images` does);
            a label table file (`.csv`, `.tsv`, or a `.txt` split file;
            read by `read_label_table`) or a `LabelTable`; or a list of
            image paths, taken as given, so that a file that cannot be
            read gets its row with the reason.
        images: for a table file, the folder its paths are relative to.
        path_column: for a table file, its image path column.
        where: for a table file, its row filters (`["View=Frontal"]`).

    Returns:
        A list of `pathlib.Path`, or the table's `ImagePaths`; never empty.

    Example:
    ```python
    import pathlib
    import tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.batch.inputs import job_paths

    folder = pathlib.Path(tempfile.mkdtemp())
    for name in ("b.png", "a.png"):
        PIL.Image.fromarray(np.zeros((4, 4, 3), "uint8")).save(folder / name)
    assert [path.name for path in job_paths(folder)] == ["a.png", "b.png"]
    assert job_paths([folder / "b.png", "missing.png"])[1] == pathlib.Path("missing.png")
    ```
    """
    if isinstance(inputs, LabelTable):
        paths = inputs.paths
    elif isinstance(inputs, ImagePaths):
        paths = inputs
    elif isinstance(inputs, (str, os.PathLike)):
        path = pathlib.Path(inputs)
        if path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
            paths = read_label_table(
                path, images=images, path_column=path_column, where=where
            ).paths
        else:
            paths = find_images([inputs])
    elif isinstance(inputs, (list, tuple)):
        paths = [pathlib.Path(path) for path in inputs]
    else:
        raise TypeError(
            f"`inputs` must be a folder, a glob pattern, a label table (file or "
            f"LabelTable) or a list of image paths, got {type(inputs).__name__}."
        )
    if len(paths) == 0:
        raise ValueError(
            f"`inputs` {inputs!r} names no images; pass a folder, pattern, table "
            "or list with at least one image."
        )
    return paths


def paths_digest(paths):
    """A SHA-256 of the path list, in order: what a rerun compares to tell
    the same inputs from others."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.fsencode(str(path)) + b"\0")
    return digest.hexdigest()
