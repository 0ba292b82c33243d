"""Per-finding AUROC by the values of chosen table columns (sex, view
position, age), with each subgroup's positives and negatives: the fairness
table of a chest X-ray paper.

A column whose non-empty cells are all numbers (`Age`, `Patient Age`) is
binned: by the given edges, bin `[a, b)` named `a-b` (e.g. edges `0, 40,
60, 80, 200` give `0-40`, `40-60`, `60-80`, `80-200`), by default by
decades (`0-10`, `10-20`, ...). Other columns are grouped by their text.
An empty cell is its own subgroup, `(empty)`; a number outside the edges
falls in `(outside the bins)`.

A subgroup whose entries of a finding (weight above 0) lack a positive or
a negative gets no AUROC, with that reason.
"""

import dataclasses
import math
import posixpath

import numpy as np

from densenet_hub.base.text import format_table
from densenet_hub.data.label_tables import FINDING_LABELS_COLUMN
from densenet_hub.data.label_tables import PATH_COLUMNS
from densenet_hub.data.table_files import import_pandas
from densenet_hub.evaluation.inputs import checked_findings
from densenet_hub.evaluation.inputs import checked_matrices
from densenet_hub.evaluation.inputs import import_sklearn

EMPTY = "(empty)"
OUTSIDE = "(outside the bins)"
DECADE = 10


@dataclasses.dataclass
class SubgroupMetrics:
    """One finding's AUROC in one subgroup.

    Attributes:
        column: the table column, e.g. `"Sex"`.
        value: the subgroup: the column's text, or an age bin such as
            `"40-60"`.
        finding: the finding.
        images: the subgroup's images.
        positives: its entries of the finding with target 1 (weight above 0).
        negatives: its entries with target 0.
        auroc: `sklearn.metrics.roc_auc_score` on those entries; NaN when
            undefined.
        reason: why `auroc` is NaN (`"no positive"`, `"no negative"`, `"no
            entries"`), else None.

    Example:
    ```python
    import math
    from densenet_hub.evaluation.subgroups import SubgroupMetrics

    row = SubgroupMetrics("Sex", "Female", "Edema", 3, 0, 3, math.nan, "no positive")
    assert row.to_json()["auroc"] is None and row.to_json()["reason"] == "no positive"
    ```
    """

    column: str
    value: str
    finding: str
    images: int
    positives: int
    negatives: int
    auroc: float
    reason: str | None = None

    def to_json(self):
        """The row as a JSON-able dict (NaN as None)."""
        return {
            "column": self.column,
            "value": self.value,
            "finding": self.finding,
            "images": int(self.images),
            "positives": int(self.positives),
            "negatives": int(self.negatives),
            "auroc": None if math.isnan(self.auroc) else float(self.auroc),
            "reason": self.reason,
        }


def subgroup_aurocs(targets, scores, findings, columns, weights=None, bins=None):
    """Each finding's AUROC in each subgroup of each column.

    Args:
        targets: 0/1 labels, shape `(images, findings)`.
        scores: the model's finite scores, same shape.
        findings: the findings' names, one per column of `scores`.
        columns: `{column name: one cell per image}`, e.g. from
            `table_columns`; cells are text (empty for a missing value).
        weights: None (every entry counts) or an array of the same shape:
            an entry takes part only where its weight is above 0.
        bins: None (decades) or increasing edges for the numeric columns,
            e.g. `[0, 40, 60, 80, 200]`.

    Returns:
        A list of `SubgroupMetrics`: column by column, subgroups in order
        (bins in increasing order, texts sorted, `(empty)` and `(outside
        the bins)` last), findings in order within each.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation.subgroups import subgroup_aurocs

    targets = np.array([[1], [0], [1], [0], [1]])
    scores = np.array([[0.9], [0.2], [0.4], [0.6], [0.7]])
    columns = {"Sex": ["F", "F", "M", "M", "M"], "Age": ["35", "38", "61", "70", "66"]}
    rows = subgroup_aurocs(targets, scores, ["Edema"], columns, bins=[0, 40, 60, 100])
    assert [(r.column, r.value, r.auroc) for r in rows] == [
        ("Sex", "F", 1.0), ("Sex", "M", 0.5), ("Age", "0-40", 1.0), ("Age", "60-100", 0.5)
    ]
    ```
    """
    owner = "subgroup_aurocs"
    targets, scores, mask = checked_matrices(owner, targets, scores, weights)
    findings = checked_findings(owner, findings, scores.shape[1])
    edges = _checked_edges(owner, bins)
    metrics = import_sklearn("sklearn.metrics", "Subgroup AUROC")
    rows = []
    for name, cells in columns.items():
        cells = [("" if cell is None else str(cell)).strip() for cell in cells]
        if len(cells) != scores.shape[0]:
            raise ValueError(
                f"{owner}: column {name!r} has {len(cells)} cells, but there are "
                f"{scores.shape[0]} images; pass one cell per image."
            )
        values = np.asarray(subgroup_values(cells, edges), dtype=object)
        for value in _ordered(set(values), edges):
            members = values == value
            for column, finding in enumerate(findings):
                counted = members & mask[:, column]
                truth, score = targets[counted, column], scores[counted, column]
                positives = int(truth.sum())
                negatives = int(truth.size - positives)
                reason = (
                    "no entries" if not truth.size
                    else "no positive" if not positives
                    else "no negative" if not negatives
                    else None
                )  # fmt: skip
                auroc = math.nan if reason else float(metrics.roc_auc_score(truth, score))
                rows.append(SubgroupMetrics(
                    name, value, finding, int(members.sum()), positives, negatives, auroc, reason
                ))  # fmt: skip
    return rows


def subgroup_table(rows):
    """`subgroup_aurocs` rows as a text table: one line per subgroup and
    finding, with the counts, and the reason where AUROC is n/a.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation.subgroups import subgroup_aurocs, subgroup_table

    rows = subgroup_aurocs(np.array([[1], [0], [1]]), np.array([[0.9], [0.2], [0.4]]),
                           ["Edema"], {"Sex": ["F", "F", "M"]})
    lines = subgroup_table(rows).splitlines()
    assert lines[2].split() == ["Sex", "F", "Edema", "2", "1", "1", "1.0000"]
    assert lines[3].split()[-3:] == ["n/a:", "no", "negative"]
    ```
    """
    header = ["column", "subgroup", "finding", "images", "positives", "negatives", "AUROC"]
    return format_table(header, [
        [row.column, row.value, row.finding, row.images, row.positives, row.negatives,
         f"n/a: {row.reason}" if row.reason else f"{row.auroc:.4f}"]
        for row in rows
    ])  # fmt: skip


def subgroup_values(cells, edges=None):
    """Each cell's subgroup: the bin of a number when every non-empty cell
    is a number, else the text; `(empty)` for an empty cell.

    Args:
        cells: the column's cells as text.
        edges: None (decades) or increasing bin edges.

    Example:
    ```python
    from densenet_hub.evaluation.subgroups import subgroup_values

    assert subgroup_values(["34", "", "71"]) == ["30-40", "(empty)", "70-80"]
    assert subgroup_values(["34", "200"], [0, 50, 100]) == ["0-50", "(outside the bins)"]
    assert subgroup_values(["PA", "AP", ""]) == ["PA", "AP", "(empty)"]
    ```
    """
    numbers = [_number(cell) for cell in cells]
    numeric = any(cell for cell in cells) and all(
        number is not None for cell, number in zip(cells, numbers) if cell
    )
    if not numeric:
        return [cell if cell else EMPTY for cell in cells]
    return [
        EMPTY if not cell else _bin(number, edges) for cell, number in zip(cells, numbers)
    ]


def table_columns(table, columns, path_column=None):
    """The cells of `columns` of a label table's file, one per row of
    `table` (a `LabelTable` read from a CSV table, filters applied), matched
    to the rows by image path.

    Args:
        table: a `densenet_hub.data.LabelTable`.
        columns: column names of the table's file, e.g. `["Sex", "Age"]`.
        path_column: the image path column, when `read_label_table` was
            given one; by default as it chooses.

    Returns:
        `{column: list of text cells}`, "" for an empty cell.

    Example:
    ```python
    import pathlib, tempfile
    from densenet_hub.data import read_label_table
    from densenet_hub.evaluation.subgroups import table_columns

    folder = pathlib.Path(tempfile.mkdtemp())
    (folder / "valid.csv").write_text(
        "Path,Sex,Frontal/Lateral,Edema\\n"
        "p1/view1_frontal.jpg,Female,Frontal,1.0\\n"
        "p1/view2_lateral.jpg,Female,Lateral,0.0\\n"
        "p2/view1_frontal.jpg,,Frontal,0.0\\n"
    )
    table = read_label_table(folder / "valid.csv", where=["Frontal/Lateral=Frontal"],
                             check_files=False)
    assert table_columns(table, ["Sex"]) == {"Sex": ["Female", ""]}
    ```
    """
    owner = "table_columns"
    if table.layout == "split_file":
        raise ValueError(
            f"{owner}: {table.source} is a split file (no header, no columns); "
            "subgroups need a CSV table with named columns such as 'Patient Gender'."
        )
    pd = import_pandas()
    header = list(pd.read_csv(table.source, nrows=0).columns)
    if path_column is None:
        candidates = ("Image Index",) if FINDING_LABELS_COLUMN in header else PATH_COLUMNS
        path_column = next((name for name in candidates if name in header), None)
    missing = [name for name in [*columns, path_column] if name not in header]
    if missing:
        raise ValueError(
            f"{owner}: {table.source} has no column {missing[0]!r}; its columns are "
            f"{', '.join(map(repr, header))}. Name subgroup columns as the header does."
        )
    frame = pd.read_csv(
        table.source, usecols=[path_column, *columns], dtype=str, keep_default_na=False
    )
    written = [posixpath.normpath(cell.strip().replace("\\", "/")) for cell in frame[path_column]]
    row_of = {cell: row for row, cell in enumerate(written)}
    # Relative paths joined when read are the cells as written: looked up
    # directly, without building a path per row.
    texts = table.paths.texts if table.paths.folder is not None else table.paths.strings()
    rows = []
    for path in texts:
        row = row_of.get(path)
        if row is None:
            row = _row_of_path(path, row_of)
        if row is None:
            raise ValueError(
                f"{owner}: the image {path} matches no path of column "
                f"{path_column!r} in {table.source}; pass the table's path column "
                "(path_column) as it was read."
            )
        rows.append(row)
    rows = np.asarray(rows, "int64")
    return {
        name: [cell.strip() for cell in frame[name].to_numpy(dtype=object)[rows]]
        for name in columns
    }


def parse_bins(text):
    """Bin edges from text such as `"0,40,60,80,200"`, checked.

    Example:
    ```python
    from densenet_hub.evaluation.subgroups import parse_bins

    assert parse_bins("0, 40,60") == [0.0, 40.0, 60.0]
    ```
    """
    try:
        edges = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        edges = None
    return _checked_edges("bins", edges, text)


def _checked_edges(owner, edges, shown=None):
    if edges is None and shown is None:
        return None
    array = None if edges is None else np.asarray(edges, dtype="float64")
    if (
        array is None or array.ndim != 1 or array.size < 2
        or not np.isfinite(array).all() or np.any(np.diff(array) <= 0)
    ):  # fmt: skip
        raise ValueError(
            f"{owner}: bin edges must be at least two increasing numbers, e.g. "
            f"0,40,60,80,200, got {shown if shown is not None else edges!r}."
        )
    return [float(edge) for edge in array]


def _number(cell):
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _edge_text(edge):
    return str(int(edge)) if float(edge).is_integer() else repr(edge)


def _bin(number, edges):
    if edges is None:
        low = math.floor(number / DECADE) * DECADE
        return f"{_edge_text(low)}-{_edge_text(low + DECADE)}"
    if not edges[0] <= number < edges[-1]:
        return OUTSIDE
    index = int(np.searchsorted(edges, number, side="right")) - 1
    return f"{_edge_text(edges[index])}-{_edge_text(edges[index + 1])}"


def _ordered(values, edges):
    """The distinct subgroups: bins by their lower edge, texts sorted, then
    `(empty)` and `(outside the bins)`."""
    distinct = set(values)
    special = [value for value in (EMPTY, OUTSIDE) if value in distinct]
    plain = distinct - set(special)

    def key(value):
        low = _number(value.split("-")[0]) if "-" in value[1:] else None
        return (0, low, "") if low is not None else (1, 0.0, value)

    return sorted(plain, key=key) + special


def _row_of_path(path, row_of):
    """The row whose written path is the longest tail of the absolute
    `path`: relative paths are joined to a folder, and bare names found in
    sub-folders."""
    parts = path.split("/")
    for start in range(1, len(parts)):
        tail = "/".join(parts[start:])
        if tail in row_of:
            return row_of[tail]
    return None
