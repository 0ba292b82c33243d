"""Multi-label tables: which findings each image shows, read from the three
layouts public chest X-ray datasets ship.

- `"columns"` (CheXpert's `train.csv` and `valid.csv`): a CSV with a header,
  an image path column and one column per finding holding `1` (positive),
  `0` (negative), `-1` (uncertain) or nothing (not mentioned); `1.0`, `0.0`
  and `-1.0` too.
- `"finding_labels"` (ChestX-ray14's `Data_Entry_2017.csv`): a CSV whose
  `Finding Labels` column joins an image's findings with `|`, or says
  `No Finding`.
- `"split_file"` (the split lists of a widely used CheXNet
  reimplementation): no header; each line an image file name and then one
  `0`/`1` value per finding, separated by spaces.

The layout is read off the file: a first line holding a comma is a CSV
header, `"finding_labels"` when it names a `Finding Labels` column and
`"columns"` otherwise; any other file is a split file. CSV tables are read
with pandas (the `medical` extra).

Uncertain and unmentioned entries become targets by a policy: `"ones"`
(positive), `"zeros"` (negative) or `"ignore"` (target 0 with weight 0: left
out of that finding's loss and metrics).
"""

import dataclasses
import itertools
import pathlib
import re

import numpy as np

from densenet_hub.base.validation import check_choice
from densenet_hub.data.image_paths import ImagePaths
from densenet_hub.data.image_paths import check_unique
from densenet_hub.data.image_paths import image_paths
from densenet_hub.data.image_paths import located_paths
from densenet_hub.data.row_filters import parse_filters
from densenet_hub.data.table_files import check_rows
from densenet_hub.data.table_files import first_line
from densenet_hub.data.table_files import import_pandas
from densenet_hub.data.table_files import listing
from densenet_hub.data.table_files import read_csv_table
from densenet_hub.data.table_files import read_table_bytes
from densenet_hub.base.choices import UNCERTAINTY_POLICIES

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
LABELS = (POSITIVE, NEGATIVE, UNCERTAIN)
# (target, weight) of an uncertain or unmentioned entry under each policy.
POLICY_ENTRIES = {"ignore": (0.0, 0.0), "ones": (1.0, 1.0), "zeros": (0.0, 1.0)}
COLUMNS_CELLS = (
    "1 (positive), 0 (negative), -1 (uncertain) or an empty cell (not "
    "mentioned); 1.0, 0.0 and -1.0 too"
)
# The cells of the public tables, looked up without parsing.
CELL_VALUES = {
    "1.0": POSITIVE,
    "0.0": NEGATIVE,
    "-1.0": UNCERTAIN,
    "1": POSITIVE,
    "0": NEGATIVE,
    "-1": UNCERTAIN,
    "": np.nan,
}


@dataclasses.dataclass(eq=False)
class LabelTable:
    """The images of a label table and their findings, one row per image.

    Attributes:
        paths: the absolute `pathlib.Path` of each row's image, as an
            `ImagePaths` sequence (`list(table.paths)` for a list).
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

    paths: ImagePaths
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
            paths=self.paths.take(rows),
            targets=self.targets[rows],
            weights=self.weights[rows],
            groups=None if self.groups is None else self.groups[rows],
            uncertain=self.uncertain[rows],
            unmentioned=self.unmentioned[rows],
        )

    def select(self, findings):
        """A `LabelTable` of the finding columns `findings` (each one of
        `self.findings`), in that order: e.g. a table's findings in a
        model's output order.

        Example:
        ```python
        import pathlib
        import tempfile
        from densenet_hub.data import read_label_table

        table_file = pathlib.Path(tempfile.mkdtemp()) / "list.txt"
        table_file.write_text("a.png 1 0\\nb.png 0 1\\n")
        table = read_label_table(table_file, findings=["Mass", "Nodule"], check_files=False)
        assert table.select(["Nodule"]).targets.tolist() == [[0], [1]]
        ```
        """
        position = {name: index for index, name in enumerate(self.findings)}
        unknown = [name for name in findings if name not in position]
        if unknown:
            raise ValueError(
                f"LabelTable.select: {listing(unknown)} not among the table's "
                f"findings ({listing(self.findings)}); choose among them."
            )
        columns = [position[name] for name in findings]
        return dataclasses.replace(
            self,
            findings=list(findings),
            targets=self.targets[:, columns],
            weights=self.weights[:, columns],
            uncertain=self.uncertain[:, columns],
            unmentioned=self.unmentioned[:, columns],
        )


@dataclasses.dataclass
class _Parsed:
    """A table's rows as read, before paths are joined and policies applied."""

    cells: np.ndarray  # the image path of each row, as written (stripped)
    line_of: object  # a function of a row index giving its line in the file
    findings: list
    values: np.ndarray  # float32 1, 0, -1, or NaN for an empty cell
    groups: object = None
    kept: object = None  # bool per row: which rows the `where` filters keep


def read_label_table(
    path,
    *,
    images=None,
    findings=None,
    path_column=None,
    group_column=None,
    group_from_path=None,
    where=None,
    uncertainty="ignore",
    unmentioned="ignore",
    check_files=True,
):
    """Read a multi-label table in any of the three layouts (see the module).

    The whole table is checked (every cell, no image listed twice); the
    `where` filters then choose the rows returned, and only their images
    need to exist.

    Args:
        path: the table file.
        images: the folder image paths are relative to; by default the
            table's own folder. Absolute paths are kept. A bare file name not
            found directly in the folder is looked up by name in its
            sub-folders (ChestX-ray14 ships `images_001/images/` to
            `images_012/images/`).
        findings: the finding names, in the order of the model's outputs.
            `"columns"`: exactly these columns; by default every column
            (other than the path and group columns) whose cells are mostly
            1, 0, -1 (1.0, 0.0, -1.0) or empty, with at least one value:
            `Sex`, `Age`, `Frontal/Lateral` and `AP/PA` stay out, and any
            other cell in a finding column is an error. `"finding_labels"`:
            every name in the table must be one of them (a row reading `No
            Finding` is negative for all, and positive for `No Finding`
            when it is named); by default ChestX-ray14's 14 when the table
            names no others, else the sorted names found. `"split_file"`:
            one name per value on a line; by default ChestX-ray14's 14 when
            lines hold 14 values.
        path_column: the image path column; by default the first of `Path`,
            `path`, `Image Index`, `image` and `filename` in the header.
        group_column: a column of group ids (e.g. `"Patient ID"`) whose rows
            a split keeps together; not for split files.
        group_from_path: a regular expression that finds each row's group
            in its image path as the table writes it, e.g. `r"patient\\d+"`
            for CheXpert (`train/patient00001/study1/view1_frontal.jpg`):
            the first match, or its first group when the pattern has one.
            Instead of `group_column`.
        where: row filters, e.g. `["Frontal/Lateral=Frontal",
            "Patient Age<=100"]` (one filter may be given as text): all must
            hold for a row to be kept. `=` and `!=` compare a cell's text,
            `<`, `<=`, `>` and `>=` compare numbers (an empty cell matches
            none); see `densenet_hub.data.row_filters`. Not for split files.
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
        "Path,Sex,Frontal/Lateral,Edema,Cardiomegaly\\n"
        "train/patient00001/study1/view1_frontal.jpg,Female,Frontal,1.0,-1.0\\n"
        "train/patient00001/study1/view2_lateral.jpg,Female,Lateral,1.0,-1.0\\n"
        "train/patient00002/study1/view1_frontal.jpg,Male,Frontal,0.0,\\n"
    )
    table = read_label_table(
        folder / "train.csv",
        where=["Frontal/Lateral=Frontal"],
        group_from_path=r"patient\\d+",
        uncertainty="ones",
        check_files=False,
    )
    assert table.layout == "columns" and table.findings == ["Edema", "Cardiomegaly"]
    assert table.targets.tolist() == [[1, 1], [0, 0]]
    assert table.weights.tolist() == [[1, 1], [1, 0]]  # the empty cell is ignored
    assert table.groups.tolist() == ["patient00001", "patient00002"]
    ```
    """
    owner = "read_label_table"
    check_choice(owner, "uncertainty", uncertainty, UNCERTAINTY_POLICIES)
    check_choice(owner, "unmentioned", unmentioned, UNCERTAINTY_POLICIES)
    findings = _check_findings(findings)
    filters = parse_filters(where)
    pattern = _group_pattern(group_from_path)
    if group_column is not None and pattern is not None:
        raise ValueError(
            f"{owner}: `group_column`={group_column!r} and "
            f"`group_from_path`={group_from_path!r} both say where a row's "
            "group is; give one of them."
        )
    source = pathlib.Path(path).expanduser().resolve()
    if not source.is_file():
        raise FileNotFoundError(
            f"{owner}: no label table at {source}; expected a CSV table or a "
            "split file."
        )
    data = read_table_bytes(source)
    if "," in first_line(data):
        layout, parsed = _read_csv_layout(
            source, data, findings, path_column, group_column, filters
        )
    else:
        layout = "split_file"
        named = (
            ("group_column", group_column), ("path_column", path_column), ("where", where or None)
        )  # fmt: skip
        for name, value in named:
            if value is not None:
                raise ValueError(
                    f"{owner}: `{name}`={value!r} needs a CSV table with a "
                    f"header, but {source} is a split file (an image name and "
                    "0/1 values per line, no named columns); leave "
                    f"`{name}` out."
                )
        parsed = _split_file(source, data, findings)
    root = source.parent
    if images is not None:
        root = pathlib.Path(images).expanduser().resolve()
    paths = image_paths(root, parsed.cells)
    check_unique(source, paths, parsed.line_of)
    groups = parsed.groups
    if pattern is not None:
        groups = _groups_from_paths(source, pattern, parsed.cells, parsed.line_of)
    rows = np.arange(len(paths))
    cells, values = parsed.cells, parsed.values
    if parsed.kept is not None:
        rows = np.flatnonzero(parsed.kept)
        paths, cells, values = paths.take(rows), cells[rows], values[rows]
        groups = None if groups is None else groups[rows]
    if check_files:
        paths = located_paths(
            source, root, paths, cells, lambda row: parsed.line_of(rows[row])
        )
    targets, weights, uncertain, empty = _apply_policies(values, uncertainty, unmentioned)
    return LabelTable(
        paths=paths,
        findings=list(parsed.findings),
        targets=targets,
        weights=weights,
        groups=groups,
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
            f"read_label_table: `findings` names {listing(repeated)} more "
            "than once; name each finding once."
        )
    return findings


def _group_pattern(group_from_path):
    if group_from_path is None:
        return None
    try:
        return re.compile(group_from_path)
    except (re.error, TypeError) as error:
        raise ValueError(
            f"read_label_table: `group_from_path`={group_from_path!r} is not a "
            f"regular expression ({error}); write one that finds the patient "
            r"in a path, e.g. 'patient\d+'."
        ) from None


def _groups_from_paths(source, pattern, cells, line_of):
    group = 1 if pattern.groups else 0
    found = [match and match[group] for match in map(pattern.search, cells)]
    for row, value in enumerate(found):
        if not value:
            raise ValueError(
                f"{source}, line {line_of(row)}: the path {cells[row]!r} does "
                f"not match `group_from_path` '{pattern.pattern}', so its "
                "group (patient) is unknown; write a pattern every path "
                "matches, or name a group column instead."
            )
    return np.asarray(found, dtype=str)


def _read_csv_layout(source, data, findings, path_column, group_column, filters):
    """The layout and the `_Parsed` rows of a CSV table."""
    chosen = {}

    def text_columns(header):
        layout = "finding_labels" if FINDING_LABELS_COLUMN in header else "columns"
        candidates = ("Image Index",) if layout == "finding_labels" else PATH_COLUMNS
        chosen.update(
            layout=layout, path=_path_column(source, header, path_column, candidates)
        )
        named = [(group_column, "`group_column`")] + [
            (condition.column, f"`where` filter {condition.text!r}")
            for condition in filters
        ]
        for name, argument in named:
            if name is not None:
                _check_column(source, header, name, argument)
        # Paths differ row by row; the others repeat.
        text = {condition.column: "category" for condition in filters}
        if group_column is not None:
            text[group_column] = "category"
        if layout == "finding_labels":
            text[FINDING_LABELS_COLUMN] = "category"
        text[chosen["path"]] = str
        return text

    table = read_csv_table(source, data, text_columns)
    frame = table.frame
    path_name = chosen["path"]
    cells = _stripped(frame[path_name])
    if not all(cells):
        empty = [row for row, cell in zip(frame.index, cells) if not cell and table.is_empty(row)]
        table.frame = frame = frame.drop(index=empty)
        check_rows(table)
        cells = _stripped(frame[path_name])
        _check_filled(table, path_name, cells)
    index = frame.index

    def line_of(row):
        return table.line(index[row])

    if chosen["layout"] == "finding_labels":
        found, values = _finding_labels(table, findings)
    else:
        taken = {path_name, group_column}
        found, values = _columns(table, findings, taken)
    parsed = _Parsed(
        cells=cells,
        line_of=line_of,
        findings=found,
        values=values,
    )
    if group_column is not None:
        groups = _stripped(frame[group_column])
        _check_filled(table, group_column, groups)
        parsed.groups = np.asarray(groups.tolist(), dtype=str)
    if filters:
        parsed.kept = _filtered(table, filters)
    return chosen["layout"], parsed


def _check_column(source, header, name, argument):
    if name not in header:
        raise ValueError(
            f"{source}: no column {name!r} (named by {argument}); the header "
            f"has {listing(header)}."
        )


def _path_column(source, header, path_column, candidates):
    if path_column is not None:
        _check_column(source, header, path_column, "`path_column`")
        return path_column
    for name in candidates:
        if name in header:
            return name
    raise ValueError(
        f"{source}: no image path column; expected one of {listing(candidates)}, "
        f"and the header has {listing(header)}; name it with `path_column`."
    )


def _stripped(cells):
    """The text cells of a column, surrounding spaces dropped, as an object
    array of str ("" for an empty cell)."""
    texts = cells.to_numpy(dtype=object)
    missing = cells.isna().to_numpy()
    if missing.any():
        texts = np.where(missing, "", texts)
    return np.fromiter(map(str.strip, texts), object, len(texts))


def _check_filled(table, name, cells):
    empty = cells == ""
    if empty.any():
        row = table.frame.index[np.argmax(empty)]
        raise ValueError(
            f"{table.source}, line {table.line(row)}, column {name!r}: empty "
            "cell; every row needs a value there."
        )


def _filtered(table, filters):
    kept = np.ones(len(table.frame), bool)
    for condition in filters:
        cells = table.frame[condition.column]
        matched = condition.matches(
            cells, lambda row: f"{table.source}, line {table.line(row)}"
        )
        if not (kept & matched).any():
            raise condition.nothing_matches(table.source, int(kept.sum()), cells[kept])
        kept &= matched
    return kept


def _entry(cell):
    """The value of a `"columns"` cell, NaN when empty, None when not a label."""
    if isinstance(cell, str):
        if cell in CELL_VALUES:
            return CELL_VALUES[cell]
        cell = cell.strip()
        if not cell:
            return np.nan
        try:
            value = float(cell)
        except ValueError:
            return None
    elif isinstance(cell, (bool, np.bool_)):
        # pandas reads a column of True and False as booleans.
        return None
    else:
        value = float(cell)
    return value if value in LABELS else None


def _label_column(cells):
    """The values of a column's cells (NaN when empty or not a label), and
    which cells are not labels."""
    pd = import_pandas()
    if pd.api.types.is_numeric_dtype(cells) and not pd.api.types.is_bool_dtype(cells):
        values = cells.to_numpy("float64", na_value=np.nan)
        bad = ~(np.isnan(values) | np.isin(values, LABELS))
        return np.where(bad, np.nan, values).astype("float32"), bad
    # A text column holds few distinct cells: each is judged once.
    codes, distinct = pd.factorize(cells)
    entries = [_entry(cell) for cell in distinct]
    # Code -1 (the last entry) is an empty cell.
    values = np.array([np.nan if e is None else e for e in entries] + [np.nan], "float32")
    bad = np.array([e is None for e in entries] + [False])
    return values[codes], bad[codes]


def _columns(table, findings, taken):
    source, frame = table.source, table.frame
    if findings is None:
        candidates = [name for name in table.header if name not in taken]
    else:
        for name in findings:
            _check_column(source, table.header, name, "`findings`")
        candidates = findings
    kept, columns = [], []
    for name in candidates:
        values, bad = _label_column(frame[name])
        if findings is None:
            filled = int((~np.isnan(values)).sum() + bad.sum())
            # A column of text or numbers (Sex, Age) is no finding; a
            # column of labels with a stray cell is a finding with an error.
            if not filled or 2 * int(bad.sum()) >= filled:
                continue
        if bad.any():
            row = frame.index[np.argmax(bad)]
            why = ""
            if findings is None:
                why = (
                    f" Column {name!r} is taken for a finding because most of "
                    "its cells are labels: fix the cell, or name the finding "
                    "columns with `findings` to leave it out."
                )
            raise ValueError(
                f"{source}, line {table.line(row)}, column {name!r}: "
                f"{table.cell(row, name)!r} is not a label; expected "
                f"{COLUMNS_CELLS}.{why}"
            )
        kept.append(name)
        columns.append(values)
    if not kept:
        raise ValueError(
            f"{source}: no finding columns; a finding column holds "
            f"{COLUMNS_CELLS}, with at least one value, and none of "
            f"{listing(candidates)} does. Name the finding columns with `findings`."
        )
    return kept, np.stack(columns, axis=1)


def _finding_labels(table, findings):
    pd = import_pandas()
    source, frame = table.source, table.frame
    # A few hundred distinct cells in ChestX-ray14's 112,120 rows: each is
    # read once. Code -1, an empty cell, is the last.
    codes, distinct = pd.factorize(frame[FINDING_LABELS_COLUMN])
    cells = [cell.strip() for cell in distinct] + [""]
    names = [[name.strip() for name in cell.split("|")] for cell in cells]

    def first_row(wrong):
        """The first row, in table order, of a cell `wrong` says."""
        wrong_codes = [code for code, is_wrong in enumerate(wrong) if is_wrong]
        positions = np.flatnonzero(np.isin(codes % len(cells), wrong_codes))
        return frame.index[positions[0]] if len(positions) else None

    row = first_row(
        ["" in cell_names or (NO_FINDING in cell_names and len(cell_names) > 1)
         for cell_names in names]
    )  # fmt: skip
    if row is not None:
        raise ValueError(
            f"{source}, line {table.line(row)}, column {FINDING_LABELS_COLUMN!r}: "
            f"{cells[codes[frame.index.get_loc(row)]]!r} is not a list of "
            f"findings; expected finding names joined by '|' (e.g. "
            f"'Effusion|Mass') or {NO_FINDING!r}."
        )
    if findings is None:
        # Every cell but the empty one (an error above) is in the table.
        found = {name for cell_names in names[:-1] for name in cell_names} - {NO_FINDING}
        if found <= set(CHESTXRAY14_FINDINGS):
            findings = list(CHESTXRAY14_FINDINGS)
        else:
            findings = sorted(found)
    known = set(findings) | {NO_FINDING}
    row = first_row([not set(cell_names) <= known for cell_names in names])
    if row is not None:
        cell_names = names[codes[frame.index.get_loc(row)]]
        name = next(name for name in cell_names if name not in known)
        raise ValueError(
            f"{source}, line {table.line(row)}, column {FINDING_LABELS_COLUMN!r}: "
            f"finding {name!r} is not one of `findings` ({listing(findings)}); "
            "add it to `findings`, or leave `findings` out to take every "
            "finding the table names."
        )
    # `No Finding` is positive for itself when named, negative for all else.
    column = {name: index for index, name in enumerate(findings)}
    per_cell = np.zeros((len(cells), len(findings)), "float32")
    for code, cell_names in enumerate(names):
        for name in cell_names:
            if name in column:
                per_cell[code, column[name]] = POSITIVE
    return findings, per_cell[codes]


def _split_file(source, data, findings):
    pd = import_pandas()
    rows = [
        (line, text_line.split())
        for line, text_line in enumerate(data.decode("utf-8").splitlines(), start=1)
        if text_line.strip()
    ]
    first_line_number, first = rows[0]
    count = len(first) - 1
    if count < 1:
        raise ValueError(
            f"{source}, line {first_line_number}: {' '.join(first)!r} holds no "
            "values; a split file line is an image name followed by one 0/1 "
            "value per finding, and a CSV table needs a header with commas "
            "between its columns."
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
            f"{len(findings)} ({listing(findings)}); name one finding per "
            "value, in column order."
        )
    for line, fields in rows:
        if len(fields) != count + 1:
            raise ValueError(
                f"{source}, line {line}: {len(fields) - 1} values after the "
                f"image name, but line {first_line_number} has {count}; every "
                "line needs an image name and one 0/1 value per finding."
            )
    # Few distinct cells: each is judged once.
    cells = itertools.chain.from_iterable(fields[1:] for _, fields in rows)
    codes, distinct = pd.factorize(np.fromiter(cells, object, len(rows) * count))
    entries = np.array([_entry(cell) for cell in distinct], dtype=object)
    good = np.array([entry in (POSITIVE, NEGATIVE) for entry in entries])
    wrong = ~good[codes]
    if wrong.any():
        row, column = divmod(int(np.argmax(wrong)), count)
        raise ValueError(
            f"{source}, line {rows[row][0]}, value {column + 1} "
            f"({findings[column]!r}): {rows[row][1][column + 1]!r} is not a "
            "label; expected 1 (positive) or 0 (negative)."
        )
    values = entries[codes].astype("float32").reshape(len(rows), count)
    return _Parsed(
        cells=np.array([fields[0] for _, fields in rows], dtype=object),
        line_of=lambda row: rows[row][0],
        findings=findings,
        values=values,
    )


def _apply_policies(values, uncertainty, unmentioned):
    uncertain = values == UNCERTAIN
    empty = np.isnan(values)
    # In bool arrays, cast once: assigning through a mask is far slower.
    targets = values == POSITIVE
    weights = np.ones(values.shape, bool)
    for mask, policy in ((uncertain, uncertainty), (empty, unmentioned)):
        target, weight = POLICY_ENTRIES[policy]
        if target:
            targets |= mask
        if not weight:
            weights &= ~mask
    return targets.astype("float32"), weights.astype("float32"), uncertain, empty
