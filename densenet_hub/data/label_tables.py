"""Multi-label tables: which findings each image shows, read from the three
layouts public chest X-ray datasets ship.

- `"columns"` (CheXpert's `train.csv`): a CSV with a header, an image path
  column and one column per finding holding `1` (positive), `0` (negative),
  `-1` (uncertain) or nothing (not mentioned); `1.0`, `0.0` and `-1.0` too.
- `"finding_labels"` (ChestX-ray14's `Data_Entry_2017.csv`): a CSV whose
  `Finding Labels` column joins an image's findings with `|`, or says
  `No Finding`.
- `"split_file"` (the split lists of a widely used CheXNet
  reimplementation): no header; each line an image file name and then one
  `0`/`1` value per finding, separated by spaces.

The layout is read off the file: a first line holding a comma is a CSV
header, `"finding_labels"` when it names a `Finding Labels` column and
`"columns"` otherwise; any other file is a split file.

Uncertain and unmentioned entries become targets by a policy: `"ones"`
(positive), `"zeros"` (negative) or `"ignore"` (target 0 with weight 0: left
out of that finding's loss and metrics).
"""

import csv
import dataclasses
import io
import os
import pathlib

import numpy as np

from densenet_hub.base.validation import check_choice

UNCERTAINTY_POLICIES = ("ignore", "ones", "zeros")
# CheXNet's output order.
CHESTXRAY14_FINDINGS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
LAYOUTS = ("columns", "finding_labels", "split_file")
PATH_COLUMNS = ("Path", "path", "Image Index", "image", "filename")
FINDING_LABELS_COLUMN = "Finding Labels"
NO_FINDING = "No Finding"
POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0
# (target, weight) of an uncertain or unmentioned entry under each policy.
POLICY_ENTRIES = {"ignore": (0.0, 0.0), "ones": (1.0, 1.0), "zeros": (0.0, 1.0)}
COLUMNS_CELLS = (
    "1 (positive), 0 (negative), -1 (uncertain) or an empty cell (not "
    "mentioned); 1.0, 0.0 and -1.0 too"
)
# The cells of the public tables, read without parsing (a table can hold
# millions).
CELL_VALUES = {
    "1.0": POSITIVE,
    "0.0": NEGATIVE,
    "-1.0": UNCERTAIN,
    "1": POSITIVE,
    "0": NEGATIVE,
    "-1": UNCERTAIN,
    "": np.nan,
}
MISSING_SHOWN = 5


@dataclasses.dataclass(eq=False)
class LabelTable:
    """The images of a label table and their findings, one row per image.

    Attributes:
        paths: the `pathlib.Path` of each row's image, absolute.
        findings: the finding names, in column order.
        targets: float32 `[rows, findings]`, 0 or 1 after the policies.
        weights: float32 `[rows, findings]`, 1, or 0 for an entry left out
            (policy `"ignore"`).
        groups: the group (patient) id of each row as a str array, or None.
        layout: `"columns"`, `"finding_labels"` or `"split_file"`.
        source: the table file.
        uncertain: bool `[rows, findings]`, the entries that were -1.
        unmentioned: bool `[rows, findings]`, the entries that were empty.

    Example:
    ```python
    import pathlib
    import tempfile
    from densenet_hub.data import read_label_table

    table_file = pathlib.Path(tempfile.mkdtemp()) / "list.txt"
    table_file.write_text("a.png 1 0\\nb.png 0 0\\nc.png 1 1\\n")
    table = read_label_table(table_file, findings=["Mass", "Nodule"], check_files=False)
    assert table.positives().tolist() == [2, 1] and table.negatives().tolist() == [1, 2]
    assert [path.name for path in table.subset([2, 0]).paths] == ["c.png", "a.png"]
    ```
    """

    paths: list
    findings: list
    targets: np.ndarray
    weights: np.ndarray
    groups: object
    layout: str
    source: pathlib.Path
    uncertain: np.ndarray
    unmentioned: np.ndarray

    def __len__(self):
        return len(self.paths)

    def positives(self):
        """Per finding, how many entries count (weight above 0) with target 1."""
        return ((self.targets == 1) & (self.weights > 0)).sum(axis=0)

    def negatives(self):
        """Per finding, how many entries count (weight above 0) with target 0."""
        return ((self.targets == 0) & (self.weights > 0)).sum(axis=0)

    def subset(self, rows):
        """A `LabelTable` of the rows at the indices `rows`, in that order."""
        rows = np.asarray(rows, "int64")
        return dataclasses.replace(
            self,
            paths=[self.paths[row] for row in rows],
            targets=self.targets[rows],
            weights=self.weights[rows],
            groups=None if self.groups is None else self.groups[rows],
            uncertain=self.uncertain[rows],
            unmentioned=self.unmentioned[rows],
        )


@dataclasses.dataclass
class _Parsed:
    cells: list  # the image path of each row, as written
    lines: list  # the line number of each row in the file
    findings: list
    values: np.ndarray  # 1, 0, -1, or NaN for an empty cell
    groups: object


def read_label_table(
    path,
    *,
    images=None,
    findings=None,
    path_column=None,
    group_column=None,
    uncertainty="ignore",
    unmentioned="ignore",
    check_files=True,
):
    """Read a multi-label table in any of the three layouts (see the module).

    Args:
        path: the table file.
        images: the folder image paths are relative to; by default the
            table's own folder. Absolute paths are kept. A bare file name not
            found directly in the folder is looked up by name in its
            sub-folders (ChestX-ray14 ships `images_001/images/` to
            `images_012/images/`).
        findings: the finding names, in the order of the model's outputs.
            `"columns"`: exactly these columns; by default every column
            (other than the path and group columns) with at least one value
            and only 1, 0, -1 or empty cells, which leaves `Sex`, `Age`,
            `Frontal/Lateral` and `AP/PA` out. `"finding_labels"`: every
            name in the table must be one of them; by default ChestX-ray14's
            14 when the table names no others, else the sorted names found.
            `"split_file"`: one name per value on a line; by default
            ChestX-ray14's 14 when lines hold 14 values.
        path_column: the image path column; by default the first of `Path`,
            `path`, `Image Index`, `image` and `filename` in the header.
        group_column: a column of group ids (e.g. `"Patient ID"`) whose rows
            a split keeps together; not for split files.
        uncertainty: the policy for -1 entries: `"ignore"`, `"ones"` or
            `"zeros"`.
        unmentioned: the policy for empty entries, the same choices.
        check_files: whether to check that every image exists (and look bare
            file names up in sub-folders); with False, paths are joined to
            the folder without touching the disk.

    Returns:
        A `LabelTable`.

    Example:
    ```python
    import pathlib
    import tempfile
    from densenet_hub.data import read_label_table

    folder = pathlib.Path(tempfile.mkdtemp())
    (folder / "train.csv").write_text(
        "Path,Sex,Edema,Cardiomegaly\\n"
        "p1/study1/view1_frontal.jpg,Female,1.0,-1.0\\n"
        "p2/study1/view1_frontal.jpg,Male,0.0,\\n"
    )
    table = read_label_table(folder / "train.csv", uncertainty="ones", check_files=False)
    assert table.layout == "columns" and table.findings == ["Edema", "Cardiomegaly"]
    assert table.targets.tolist() == [[1, 1], [0, 0]]
    assert table.weights.tolist() == [[1, 1], [1, 0]]  # the empty cell is ignored
    ```
    """
    owner = "read_label_table"
    check_choice(owner, "uncertainty", uncertainty, UNCERTAINTY_POLICIES)
    check_choice(owner, "unmentioned", unmentioned, UNCERTAINTY_POLICIES)
    findings = _check_findings(findings)
    source = pathlib.Path(path).expanduser().resolve()
    if not source.is_file():
        raise FileNotFoundError(
            f"{owner}: no label table at {source}; expected a CSV table or a "
            "split file."
        )
    text = _read_text(source)
    first_line = next((line for line in text.splitlines() if line.strip()), None)
    if first_line is None:
        raise ValueError(
            f"{source} is empty; expected a CSV table with a header "
            "(CheXpert or ChestX-ray14 style) or a split file of "
            "`image v1 ... vF` lines."
        )
    if "," in first_line:
        header, body = _read_csv(source, text)
        if FINDING_LABELS_COLUMN in header:
            layout = "finding_labels"
            path_index = _path_column(source, header, path_column, ("Image Index",))
        else:
            layout = "columns"
            path_index = _path_column(source, header, path_column, PATH_COLUMNS)
        group_index = None
        if group_column is not None:
            group_index = _column_index(source, header, group_column, "group_column")
        if layout == "finding_labels":
            parsed = _finding_labels(source, header, body, path_index, findings)
        else:
            parsed = _columns(source, header, body, (path_index, group_index), findings)
        if group_index is not None:
            parsed.groups = _groups(source, body, group_column, group_index)
    else:
        layout = "split_file"
        named = (("group_column", group_column), ("path_column", path_column))
        for name, value in named:
            if value is not None:
                raise ValueError(
                    f"{owner}: `{name}`={value!r} needs a CSV table with a "
                    f"header, but {source} is a split file (an image name and "
                    "0/1 values per line, no named columns); leave "
                    f"`{name}` out."
                )
        parsed = _split_file(source, text, findings)
    root = source.parent
    if images is not None:
        root = pathlib.Path(images).expanduser().resolve()
    paths = [
        pathlib.Path(os.path.normpath(os.path.join(root, cell)))
        for cell in parsed.cells
    ]
    if check_files:
        paths = _locate(source, root, paths, parsed)
    targets, weights, uncertain, empty = _apply_policies(
        parsed.values, uncertainty, unmentioned
    )
    return LabelTable(
        paths=paths,
        findings=list(parsed.findings),
        targets=targets,
        weights=weights,
        groups=parsed.groups,
        layout=layout,
        source=source,
        uncertain=uncertain,
        unmentioned=empty,
    )


def _check_findings(findings):
    if findings is None:
        return None
    if isinstance(findings, str) or not all(isinstance(name, str) for name in findings):
        raise ValueError(
            "read_label_table: `findings` must be a list of finding names, "
            f"e.g. ['Edema', 'Cardiomegaly'], got {findings!r}."
        )
    findings = list(findings)
    if not findings:
        raise ValueError(
            "read_label_table: `findings` is empty; name at least one finding "
            "or leave it out to take the table's."
        )
    repeated = sorted({name for name in findings if findings.count(name) > 1})
    if repeated:
        raise ValueError(
            f"read_label_table: `findings` names {_listing(repeated)} more "
            "than once; name each finding once."
        )
    return findings


def _read_text(source):
    try:
        # utf-8-sig drops the byte-order mark spreadsheet programs write.
        return source.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{source} is not a UTF-8 text file ({error.reason} at byte "
            f"{error.start}); expected a CSV table or a split file."
        ) from None


def _read_csv(source, text):
    reader = csv.reader(io.StringIO(text))
    rows = []
    try:
        for fields in reader:
            if "".join(fields).strip():
                rows.append((reader.line_num, fields))
    except csv.Error as error:
        raise ValueError(
            f"{source}, line {reader.line_num}: not a valid CSV row ({error})."
        ) from None
    if not rows:
        raise ValueError(f"{source} holds only empty CSV rows; expected a header.")
    header = [name.strip() for name in rows[0][1]]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ValueError(
            f"{source}: the header names {_listing(repeated)} more than once; "
            "every column needs its own name."
        )
    body = rows[1:]
    if not body:
        raise ValueError(
            f"{source} has a header but no rows; expected one row per image."
        )
    for line, fields in body:
        if len(fields) != len(header):
            raise ValueError(
                f"{source}, line {line}: {len(fields)} fields but the header "
                f"has {len(header)} columns; every row needs one value per "
                "column (quote values that hold a comma)."
            )
    return header, body


def _column_index(source, header, name, argument):
    if name not in header:
        raise ValueError(
            f"{source}: no column {name!r} (named by `{argument}`); the header "
            f"has {_listing(header)}."
        )
    return header.index(name)


def _path_column(source, header, path_column, candidates):
    if path_column is not None:
        return _column_index(source, header, path_column, "path_column")
    for name in candidates:
        if name in header:
            return header.index(name)
    raise ValueError(
        f"{source}: no image path column; expected one of {_listing(candidates)}, "
        f"and the header has {_listing(header)}; name it with `path_column`."
    )


def _cells(source, body, index, name):
    cells = [fields[index].strip() for _, fields in body]
    for (line, _), cell in zip(body, cells):
        if not cell:
            raise ValueError(
                f"{source}, line {line}, column {name!r}: empty cell; every "
                "row needs a value there."
            )
    return cells


def _groups(source, body, name, index):
    return np.asarray(_cells(source, body, index, name), dtype=str)


def _entry(cell):
    """The value of a `"columns"` cell, NaN when empty, None when not a label."""
    if cell in CELL_VALUES:
        return CELL_VALUES[cell]
    cell = cell.strip()
    if not cell:
        return np.nan
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if value in (POSITIVE, NEGATIVE, UNCERTAIN) else None


def _columns(source, header, body, taken, findings):
    if findings is None:
        candidates = [index for index in range(len(header)) if index not in taken]
    else:
        candidates = [
            _column_index(source, header, name, "findings") for name in findings
        ]
    kept, columns = [], []
    for index in candidates:
        values = [_entry(fields[index]) for _, fields in body]
        if findings is None:
            if None not in values and not np.all(np.isnan(values)):
                kept.append(header[index])
                columns.append(values)
            continue
        if None in values:
            line, fields = body[values.index(None)]
            raise ValueError(
                f"{source}, line {line}, column {header[index]!r}: "
                f"{fields[index]!r} is not a label; expected {COLUMNS_CELLS}."
            )
        kept.append(header[index])
        columns.append(values)
    if not kept:
        others = [header[index] for index in candidates]
        raise ValueError(
            f"{source}: no finding columns; a finding column holds "
            f"{COLUMNS_CELLS}, with at least one value, and none of "
            f"{_listing(others)} does. Name the finding columns with `findings`."
        )
    return _Parsed(
        cells=_cells(source, body, taken[0], header[taken[0]]),
        lines=[line for line, _ in body],
        findings=kept,
        values=np.asarray(columns, "float32").T.reshape(len(body), len(kept)),
        groups=None,
    )


def _finding_labels(source, header, body, path_index, findings):
    label_index = header.index(FINDING_LABELS_COLUMN)
    names_per_row = []
    for line, fields in body:
        cell = fields[label_index].strip()
        names = [name.strip() for name in cell.split("|")]
        if names == [NO_FINDING]:
            names = []
        elif "" in names or NO_FINDING in names:
            raise ValueError(
                f"{source}, line {line}, column {FINDING_LABELS_COLUMN!r}: "
                f"{cell!r} is not a list of findings; expected finding names "
                f"joined by '|' (e.g. 'Effusion|Mass') or {NO_FINDING!r}."
            )
        names_per_row.append(names)
    if findings is None:
        found = {name for names in names_per_row for name in names}
        if found <= set(CHESTXRAY14_FINDINGS):
            findings = list(CHESTXRAY14_FINDINGS)
        else:
            findings = sorted(found)
    columns = {name: column for column, name in enumerate(findings)}
    values = np.zeros((len(body), len(findings)), "float32")
    for row, ((line, _), names) in enumerate(zip(body, names_per_row)):
        for name in names:
            if name not in columns:
                raise ValueError(
                    f"{source}, line {line}, column {FINDING_LABELS_COLUMN!r}: "
                    f"finding {name!r} is not one of `findings` "
                    f"({_listing(findings)}); add it to `findings`, or leave "
                    "`findings` out to take every finding the table names."
                )
            values[row, columns[name]] = POSITIVE
    return _Parsed(
        cells=_cells(source, body, path_index, header[path_index]),
        lines=[line for line, _ in body],
        findings=findings,
        values=values,
        groups=None,
    )


def _split_file(source, text, findings):
    rows = [
        (line, text_line.split())
        for line, text_line in enumerate(text.splitlines(), start=1)
        if text_line.strip()
    ]
    first_line, first = rows[0]
    count = len(first) - 1
    if count < 1:
        raise ValueError(
            f"{source}, line {first_line}: {' '.join(first)!r} holds no values; "
            "a split file line is an image name followed by one 0/1 value per "
            "finding, and a CSV table needs a header with commas between its "
            "columns."
        )
    if findings is None:
        if count != len(CHESTXRAY14_FINDINGS):
            raise ValueError(
                f"{source}: lines hold {count} values, not ChestX-ray14's "
                f"{len(CHESTXRAY14_FINDINGS)}; name the {count} findings in "
                "column order with `findings`."
            )
        findings = list(CHESTXRAY14_FINDINGS)
    elif len(findings) != count:
        raise ValueError(
            f"{source}: lines hold {count} values but `findings` names "
            f"{len(findings)} ({_listing(findings)}); name one finding per "
            "value, in column order."
        )
    values = np.zeros((len(rows), count), "float32")
    for row, (line, fields) in enumerate(rows):
        if len(fields) != count + 1:
            raise ValueError(
                f"{source}, line {line}: {len(fields) - 1} values after the "
                f"image name, but line {first_line} has {count}; every line "
                "needs an image name and one 0/1 value per finding."
            )
        for column, cell in enumerate(fields[1:]):
            value = _entry(cell)
            if value not in (POSITIVE, NEGATIVE):
                raise ValueError(
                    f"{source}, line {line}, value {column + 1} "
                    f"({findings[column]!r}): {cell!r} is not a label; "
                    "expected 1 (positive) or 0 (negative)."
                )
            values[row, column] = value
    return _Parsed(
        cells=[fields[0] for _, fields in rows],
        lines=[line for line, _ in rows],
        findings=findings,
        values=values,
        groups=None,
    )


def _locate(source, root, paths, parsed):
    by_name = None
    located, missing = [], []
    for path, cell, line in zip(paths, parsed.cells, parsed.lines):
        if not path.is_file() and len(pathlib.PurePath(cell).parts) == 1:
            if by_name is None:
                by_name = _files_by_name(root)
            places = by_name.get(cell, [])
            if len(places) > 1:
                raise ValueError(
                    f"{source}, line {line}: image {cell!r} is in several "
                    f"sub-folders of {root} ({places[0]} and {places[1]}); "
                    "write the path relative to the folder in the table."
                )
            if places:
                path = places[0]
        if not path.is_file():
            missing.append((line, cell))
        located.append(path)
    if missing:
        shown = ", ".join(
            f"line {line}: {cell!r}" for line, cell in missing[:MISSING_SHOWN]
        )
        more = ", ..." if len(missing) > MISSING_SHOWN else ""
        raise FileNotFoundError(
            f"{len(missing)} of {len(paths)} images named in {source} were not "
            f"found under {root} (bare file names were looked for in its "
            f"sub-folders too): {shown}{more}. Pass the folder that holds them "
            "with `images=` (`--images` on the command line)."
        )
    return located


def _files_by_name(root):
    by_name = {}
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            by_name.setdefault(name, []).append(pathlib.Path(folder) / name)
    return by_name


def _apply_policies(values, uncertainty, unmentioned):
    uncertain = values == UNCERTAIN
    empty = np.isnan(values)
    targets = (values == POSITIVE).astype("float32")
    weights = np.ones_like(targets)
    for mask, policy in ((uncertain, uncertainty), (empty, unmentioned)):
        targets[mask], weights[mask] = POLICY_ENTRIES[policy]
    return targets, weights, uncertain, empty


def _listing(names):
    return ", ".join(map(repr, names))
