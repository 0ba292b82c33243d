"""Row filters of a label table, written as text: `"Frontal/Lateral=Frontal"`
keeps the rows whose cell in that column reads `Frontal`,
`"Patient Age<=100"` those whose cell is a number up to 100.

`=` and `!=` compare a cell's text (spaces around it ignored; an empty cell
reads as ``); `<`, `<=`, `>` and `>=` compare numbers, and an empty cell
matches none of them.
"""

import dataclasses
import operator
import re

import numpy as np

from densenet_hub.data.table_files import import_pandas
from densenet_hub.data.table_files import listing

TEXT_OPERATORS = {"=": operator.eq, "==": operator.eq, "!=": operator.ne}
NUMBER_OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
# The first operator in the text ends the column name; two-character
# operators are tried before their one-character starts.
FILTER = re.compile(r"^(.*?)(<=|>=|!=|==|=|<|>)(.*)$", re.DOTALL)
FORMS = "COLUMN=VALUE, COLUMN!=VALUE, or COLUMN<NUMBER (also <=, >, >=)"
VALUES_SHOWN = 8


@dataclasses.dataclass(frozen=True)
class RowFilter:
    """One `where` condition: a column, an operator and a value.

    Attributes:
        column: the column name, spaces around it dropped.
        operator: `=`, `!=`, `<`, `<=`, `>` or `>=` (`==` reads as `=`).
        value: the text after the operator, spaces around it dropped.
        text: the condition as written.

    Example:
    ```python
    from densenet_hub.data.row_filters import RowFilter

    condition = RowFilter.parse("Patient Age <= 100")
    assert (condition.column, condition.operator, condition.value) == ("Patient Age", "<=", "100")
    ```
    """

    column: str
    operator: str
    value: str
    text: str

    @classmethod
    def parse(cls, text):
        """The `RowFilter` written as `text`, e.g. `"Frontal/Lateral=Frontal"`."""
        if not isinstance(text, str):
            raise ValueError(
                f"a `where` filter is text such as 'Frontal/Lateral=Frontal', "
                f"got {text!r}."
            )
        match = FILTER.match(text)
        if match is None or not match[1].strip():
            raise ValueError(
                f"`where` filter {text!r} is not a comparison; write {FORMS}, "
                "e.g. 'Frontal/Lateral=Frontal' or 'Patient Age<=100'."
            )
        column, symbol, value = match[1].strip(), match[2], match[3].strip()
        if symbol in NUMBER_OPERATORS and _number(value) is None:
            raise ValueError(
                f"`where` filter {text!r}: {value!r} is not a number, and "
                f"{symbol} compares numbers; write a number (e.g. "
                f"'{column}{symbol}100'), or compare text with = or !=."
            )
        return cls(column, "=" if symbol == "==" else symbol, value, text)

    def matches(self, cells, describe):
        """A bool array: which of `cells` (a pandas Series of text, NaN for
        an empty cell) the filter keeps.

        Args:
            cells: the column's cells.
            describe: a function of a row label giving where it is, e.g.
                `"table.csv, line 3"`, for messages.
        """
        pd = import_pandas()
        # A column holds few distinct cells (Frontal/Lateral two, Age about
        # a hundred): each is compared once. Code -1, an empty cell, is the
        # last.
        codes, distinct = pd.factorize(cells)
        texts = [str(cell).strip() for cell in distinct] + [""]
        if self.operator in TEXT_OPERATORS:
            compare = TEXT_OPERATORS[self.operator]
            return np.array([compare(text, self.value) for text in texts])[codes]
        numbers = [_number(text) if text else np.nan for text in texts]
        wrong = [code for code, number in enumerate(numbers) if number is None]
        if wrong:
            position = np.flatnonzero(np.isin(codes, wrong))[0]
            raise ValueError(
                f"{describe(cells.index[position])}, column {self.column!r}: "
                f"{texts[codes[position]]!r} is not a number, and `where` "
                f"filter {self.text!r} compares numbers; fix or empty that "
                "cell (an empty cell matches no number), or compare text "
                "with = or !=."
            )
        # NaN (an empty cell) compares False.
        compare = NUMBER_OPERATORS[self.operator]
        return compare(np.array(numbers, "float64"), _number(self.value))[codes]

    def nothing_matches(self, source, before, cells):
        """The `ValueError` for a filter that left no row of `before`."""
        pd = import_pandas()
        values = [
            "" if pd.isna(cell) else str(cell).strip() for cell in pd.unique(cells)
        ]
        shown = listing(values[:VALUES_SHOWN]) + (", ..." if len(values) > VALUES_SHOWN else "")
        return ValueError(
            f"{source}: `where` filter {self.text!r} keeps none of the {before} "
            f"rows left; column {self.column!r} holds {shown}. Check the "
            "column and the value as the table spells them."
        )


def parse_filters(where):
    """The `RowFilter`s of `where`: None, one filter as text, or a list of
    them.

    Example:
    ```python
    from densenet_hub.data.row_filters import parse_filters

    assert [f.column for f in parse_filters(["Sex=Male", "Age>=18"])] == ["Sex", "Age"]
    assert parse_filters(None) == []
    ```
    """
    if where is None:
        return []
    if isinstance(where, str):
        where = [where]
    return [RowFilter.parse(text) for text in where]


def _number(text):
    """The number `text` writes, or None (NaN is no number to compare)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return None if np.isnan(value) else value
