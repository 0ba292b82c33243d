"""Plain-text tables, as the library's reports and the command line print
them."""


def format_table(header, rows):
    """A left-aligned text table with a header line and a rule under it.

    Args:
        header: the column titles.
        rows: one sequence of cells per row, as many as `header`; cells are
            shown with `str`.

    Example:
    ```python
    from densenet_hub.base.text import format_table

    table = format_table(["label", "score"], [["cat", "0.91"], ["dog", "0.07"]])
    assert table.splitlines() == ["label  score", "-----  -----", "cat    0.91", "dog    0.07"]
    ```
    """
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row):
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])
