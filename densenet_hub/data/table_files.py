"""Reading a label table's file: the text checks every layout shares
(UTF-8, not empty), and a CSV table read into a pandas frame whose rows
know the line they came from.

A file without quote characters (the public chest X-ray tables) is parsed
by pandas in one pass, and the line of a row is worked out only when a
message names it. A file with quotes (a cell may hold a comma or a line
break) is read row by row with the `csv` module, which knows each row's
line as it goes.
"""

import csv
import dataclasses
import io
import itertools
import pathlib
import re
import warnings

from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional

UTF8_BOM = b"\xef\xbb\xbf"
# The rows that tell a column of text from one of numbers.
SAMPLE_ROWS = 100


def import_pandas():
    """pandas, or `MissingOptionalPackageError` with the pip command."""
    return import_optional("pandas", extra_fix("medical"), "Reading label tables")


def read_table_bytes(source):
    """The bytes of the table file `source`, byte-order mark dropped, after
    checking they are UTF-8 text with something in it.

    Example:
    ```python
    import pathlib
    import tempfile
    from densenet_hub.data.table_files import read_table_bytes

    table_file = pathlib.Path(tempfile.mkdtemp()) / "list.txt"
    table_file.write_bytes(b"\\xef\\xbb\\xbfa.png 1\\n")
    assert read_table_bytes(table_file) == b"a.png 1\\n"
    ```
    """
    data = pathlib.Path(source).read_bytes()
    # Spreadsheet programs write a byte-order mark.
    data = data.removeprefix(UTF8_BOM)
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{source} is not a UTF-8 text file ({error.reason} at byte "
                f"{error.start}); expected a CSV table or a split file."
            ) from None
    if not re.search(rb"\S", data):
        raise ValueError(
            f"{source} is empty; expected a CSV table with a header "
            "(CheXpert or ChestX-ray14 style) or a split file of "
            "`image v1 ... vF` lines."
        )
    return data


def first_line(data):
    """The first line of `data` (bytes, not all white space) holding more
    than white space, as text."""
    return next(_filled_lines(data)).decode("utf-8")


def _filled_lines(data):
    return (match[0] for match in re.finditer(rb"[^\r\n]*\S[^\r\n]*", data))


@dataclasses.dataclass(eq=False)
class CsvTable:
    """A CSV table: its header and its rows as a pandas frame.

    Attributes:
        source: the table file.
        header: the column names, stripped of surrounding spaces.
        frame: one row per table row, indexed by row number (0 for the first
            row after the header); a column asked for as text holds str (NaN
            for an empty cell), another one numbers where every cell of the
            column is one.
    """

    source: pathlib.Path
    header: list
    frame: object
    data: bytes = dataclasses.field(repr=False)
    records_read: list = dataclasses.field(repr=False, default=None)

    def line(self, row):
        """The line of the file row `row` came from (its last line when a
        quoted cell spans several)."""
        return self.records()[row][0]

    def cell(self, row, column):
        """The cell of `row` in the column named `column`, as written."""
        return self.records()[row][1][self.header.index(column)]

    def is_empty(self, row):
        """Whether every cell of `row` is empty (spaces count as empty)."""
        return not "".join(self.records()[row][1]).strip()

    def records(self):
        """`(line, fields)` of every row after the header, blank lines left
        out and rows of empty cells kept, as pandas counts rows."""
        if self.records_read is None:
            lines = self.data.decode("utf-8").split("\n")
            self.records_read = [
                (number, line.rstrip("\r").split(","))
                for number, line in enumerate(lines, start=1)
                if line.strip()
            ][1:]
        return self.records_read


def read_csv_table(source, data, text_columns):
    """The table in `data` (the bytes of `source`) as a `CsvTable`.

    A row with another number of cells than the header has columns is an
    error naming its line, and so is a header without rows.

    Args:
        source: the table file, for messages.
        data: its bytes, from `read_table_bytes`.
        text_columns: a function of the header (a list of names) giving the
            columns to read as text, as a dict: name -> `str` (a column of
            distinct cells, such as image paths) or `"category"` (a column
            of few distinct cells, kept once each; `str` when its first rows
            are numbers). Any other column whose first rows hold text is
            read as `"category"` too; the rest are read as numbers where
            every cell of the column is one.

    Returns:
        A `CsvTable`.

    Example:
    ```python
    import pathlib
    from densenet_hub.data.table_files import read_csv_table

    data = b"Path , Age\\na.png,68\\n\\nb.png,\\n"
    table = read_csv_table(pathlib.Path("t.csv"), data, lambda header: {"Path": str})
    assert table.header == ["Path", "Age"] and table.frame["Path"].tolist() == ["a.png", "b.png"]
    assert table.frame["Age"].isna().tolist() == [False, True]
    assert [table.line(row) for row in table.frame.index] == [2, 4]
    ```
    """
    pd = import_pandas()
    # Without quotes every line is a row and every comma a separator, so
    # the commas of the file tell whether each row has its cells; `\r` alone
    # also ends a line for pandas, not for a count of `\n`.
    if b'"' in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
        return _csv_table_by_rows(pd, source, data, text_columns)
    header_line, *first_row = itertools.islice(_filled_lines(data), 2)
    header = _header(source, header_line.decode("utf-8").split(","))
    table = CsvTable(source, header, None, data)
    options = dict(
        header=0, names=header, index_col=False, keep_default_na=False, na_values=[""]
    )
    # pandas cuts a first row with too many cells to the header's length
    # (with a warning) and refuses later ones.
    if first_row and first_row[0].count(b",") != len(header) - 1:
        _check_field_counts(source, header, table.records())
    # A text column read as categories holds each distinct cell once (a
    # column of `Female` and `Male` costs a byte a row, not a string).
    try:
        # pandas turns categories that all read as numbers into numbers, so
        # a column of numbers asked for as text is read as `str`.
        sample = pd.read_csv(io.BytesIO(data), nrows=SAMPLE_ROWS, **options)
        textual = [
            name for name, cells in sample.items() if not pd.api.types.is_numeric_dtype(cells)
        ]
        dtypes = dict.fromkeys(textual, "category")
        for name, dtype in text_columns(header).items():
            dtypes[name] = dtype if name in textual else str
        with warnings.catch_warnings():
            # A column of numbers in one chunk of the file and text in
            # another comes back mixed; its cells are judged one by one
            # later, so pandas' warning would only puzzle the user.
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            table.frame = pd.read_csv(io.BytesIO(data), dtype=dtypes, **options)
    except pd.errors.ParserError as error:
        # pandas refuses a row with too many cells.
        _check_field_counts(source, header, table.records())
        raise ValueError(f"{source}: not a valid CSV table ({error}).") from None
    # With no row holding too many cells, the header and every row hold one
    # comma fewer than the header has columns unless a row has too few.
    if data.count(b",") != (len(header) - 1) * (len(table.frame) + 1):
        _check_field_counts(source, header, table.records())
    check_rows(table)
    return table


def _csv_table_by_rows(pd, source, data, text_columns):
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    records = []
    try:
        for fields in reader:
            # As pandas does: a line of white space is no row, a row of
            # empty cells is.
            if len(fields) > 1 or (fields and fields[0].strip()):
                records.append((reader.line_num, fields))
    except csv.Error as error:
        raise ValueError(
            f"{source}, line {reader.line_num}: not a valid CSV row ({error})."
        ) from None
    header = _header(source, records[0][1])
    text_columns = text_columns(header)
    records = records[1:]
    _check_field_counts(source, header, records)
    frame = pd.DataFrame([fields for _, fields in records], columns=header, dtype=object)
    # Cells as pandas parses them: an empty one missing (NaN), a column of
    # numbers as numbers.
    for name in header:
        cells = frame[name].where(frame[name].str.strip() != "")
        if name not in text_columns:
            numbers = pd.to_numeric(cells, errors="coerce")
            if numbers.notna().sum() == cells.notna().sum():
                cells = numbers
        frame[name] = cells
    table = CsvTable(source, header, frame, data, records)
    check_rows(table)
    return table


def _header(source, names):
    header = [name.strip() for name in names]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ValueError(
            f"{source}: the header names {listing(repeated)} more than once; "
            "every column needs its own name."
        )
    return header


def _check_field_counts(source, header, records):
    for line, fields in records:
        if len(fields) != len(header):
            raise ValueError(
                f"{source}, line {line}: {len(fields)} fields but the header "
                f"has {len(header)} columns; every row needs one value per "
                "column (quote values that hold a comma)."
            )


def check_rows(table):
    """Raise `ValueError` when `table.frame` has no row left."""
    if table.frame.empty:
        raise ValueError(
            f"{table.source} has a header but no rows; expected one row per image."
        )


def listing(names):
    """`'a', 'b'`: names quoted and joined, for messages."""
    return ", ".join(map(repr, names))
