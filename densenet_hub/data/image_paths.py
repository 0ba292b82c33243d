"""The image paths of a label table's rows: joined to the images folder,
checked for an image listed twice, bare file names found in sub-folders,
and handed out as `pathlib.Path`s."""

import collections.abc
import os
import pathlib

import numpy as np

from densenet_hub.data.table_files import import_pandas

MISSING_SHOWN = 5
SLASH, DOT, NEWLINE = b"/.\n"
# Bounds the memory a check of the paths takes.
CELLS_PER_CHECK = 20_000


class ImagePaths(collections.abc.Sequence):
    """The image paths of a table's rows, held as text and handed out as
    `pathlib.Path`s when read (making 200,000 `Path`s takes longer than
    reading the table).

    It compares equal to a list of the same paths; `list(paths)` gives one.

    Args:
        texts: each path as str: absolute, or (with `folder`) relative to
            `folder` and normal (no `.` or `..` parts, no doubled or
            trailing separators), as `image_paths` makes them.
        folder: the folder of relative `texts`, joined to them when a path
            is read; None when every text is absolute.

    Example:
    ```python
    import pathlib
    from densenet_hub.data import ImagePaths

    paths = ImagePaths(["a.png", "p1/b.png"], folder="/data")
    assert paths[1] == pathlib.Path("/data/p1/b.png") and len(paths) == 2
    assert paths == [pathlib.Path("/data/a.png"), pathlib.Path("/data/p1/b.png")]
    assert paths.take([1]).strings().tolist() == ["/data/p1/b.png"]
    ```
    """

    def __init__(self, texts, folder=None):
        self.texts = np.asarray(texts, dtype=object).reshape(-1)
        self.folder = folder
        self._prefix = "" if folder is None else os.path.join(os.fspath(folder), "")

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ImagePaths(self.texts[index], self.folder)
        return pathlib.Path(self._prefix + self.texts[index])

    def __iter__(self):
        return (pathlib.Path(self._prefix + text) for text in self.texts)

    def __eq__(self, other):
        if isinstance(other, ImagePaths):
            return np.array_equal(self.strings(), other.strings())
        if isinstance(other, collections.abc.Sequence) and not isinstance(other, str):
            return len(other) == len(self) and all(
                mine == pathlib.Path(theirs) for mine, theirs in zip(self, other)
            )
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        shown = ", ".join(repr(str(path)) for path in self[:3])
        more = ", ..." if len(self) > 3 else ""
        return f"ImagePaths([{shown}{more}], {len(self)} paths)"

    def strings(self):
        """The absolute paths as an object array of str."""
        if self.folder is None:
            return self.texts
        return np.asarray([self._prefix + text for text in self.texts], dtype=object)

    def take(self, rows):
        """The `ImagePaths` of the rows at the indices `rows`, in that order."""
        return ImagePaths(self.texts[np.asarray(rows, "int64")], self.folder)


def image_paths(root, cells):
    """The `ImagePaths` of `cells` (paths as a table writes them, without
    surrounding spaces) in the folder `root`: each
    `os.path.normpath(os.path.join(root, cell))`, an absolute cell itself.

    Example:
    ```python
    from densenet_hub.data.image_paths import image_paths

    assert image_paths("/data", ["p1/a.png", "./b.png", "/c.png"]).strings().tolist() == [
        "/data/p1/a.png", "/data/b.png", "/c.png"
    ]
    assert image_paths("/data", ["p1/a.png"]).texts.tolist() == ["p1/a.png"]
    ```
    """
    if _already_normal(cells):
        # The cells themselves, joined when read: 200,000 joins cost more
        # than reading the table.
        return ImagePaths(cells, folder=root)
    root = os.fspath(root)
    return ImagePaths([os.path.normpath(os.path.join(root, cell)) for cell in cells])


def _already_normal(cells):
    """Whether every cell is a relative POSIX path without `.` or `..`
    parts, doubled or trailing separators, which normpath leaves as it is."""
    if os.sep != "/" or os.altsep is not None:
        return False
    # Looked at in chunks, as bytes of one text with a line per cell: a
    # separator or a line start followed by `.` or `/`, or a separator
    # ending a line, is what normpath would change (an absolute path starts
    # with `/`).
    for start in range(0, len(cells), CELLS_PER_CHECK):
        chunk = "\n".join(cells[start : start + CELLS_PER_CHECK])
        text = np.frombuffer(f"\n{chunk}\n".encode("utf-8"), np.uint8)
        follows = np.flatnonzero((text[:-1] == SLASH) | (text[:-1] == NEWLINE)) + 1
        after = text[follows]
        ends = (after == NEWLINE) & (text[follows - 1] == SLASH)
        if np.any((after == DOT) | (after == SLASH) | ends):
            return False
    return True


def check_unique(source, paths, line_of):
    """Raise `ValueError` naming both lines when two rows name one image.

    Args:
        source: the table file, for the message.
        paths: the `ImagePaths` of the rows.
        line_of: a function of a row index giving its line in the file.
    """
    texts = paths.texts
    if len(set(texts)) == len(texts):
        return
    pd = import_pandas()
    second = int(np.argmax(pd.Index(texts).duplicated()))
    first = int(np.flatnonzero(texts == texts[second])[0])
    raise ValueError(
        f"{source}, lines {line_of(first)} and {line_of(second)}: both rows "
        f"name the image {paths[second]}; a table needs one row per image "
        "(an image listed twice can land in training and validation both). "
        "Remove one of the rows."
    )


def located_paths(source, root, paths, cells, line_of):
    """`paths` as absolute `ImagePaths`, each missing bare file name found in
    a sub-folder of `root`; `FileNotFoundError` listing the images not found.

    Args:
        source: the table file, for messages.
        root: the folder the paths were joined to.
        paths: the `ImagePaths` of the rows.
        cells: each row's path as written.
        line_of: a function of a row index giving its line in the file.
    """
    by_name = None
    located = paths.strings().copy()
    missing = []
    for row in np.flatnonzero([not os.path.isfile(path) for path in located]):
        cell = cells[row]
        if len(pathlib.PurePath(cell).parts) == 1:
            if by_name is None:
                by_name = _files_by_name(root)
            places = by_name.get(cell, [])
            if len(places) > 1:
                raise ValueError(
                    f"{source}, line {line_of(row)}: image {cell!r} is in several "
                    f"sub-folders of {root} ({places[0]} and {places[1]}); "
                    "write the path relative to the folder in the table."
                )
            if places:
                located[row] = places[0]
                continue
        missing.append((line_of(row), cell))
    if missing:
        shown = ", ".join(
            f"line {line}: {cell!r}" for line, cell in missing[:MISSING_SHOWN]
        )
        more = ", ..." if len(missing) > MISSING_SHOWN else ""
        raise FileNotFoundError(
            f"{len(missing)} of {len(located)} images named in {source} were not "
            f"found under {root} (bare file names were looked for in its "
            f"sub-folders too): {shown}{more}. Pass the folder that holds them "
            "with `images=` (`--images` on the command line)."
        )
    return ImagePaths(located)


def _files_by_name(root):
    by_name = {}
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            by_name.setdefault(name, []).append(os.path.join(folder, name))
    return by_name
