"""Printing for the command line: errors and warnings on stderr, and
plain-text tables."""

import shutil
import sys
import textwrap

PROGRAM = "densenet-hub"
MAX_NAMED = 10


def warn(message):
    """Prints `message` as one warning line on stderr."""
    print(f"{PROGRAM}: warning: {one_line(message)}", file=sys.stderr)


def print_error(error):
    """Prints `error` as the command's error message on stderr: one line for
    scripts and logs, wrapped to the width of a terminal for people."""
    message = f"{PROGRAM}: error: {one_line(error)}"
    if sys.stderr.isatty():
        width = shutil.get_terminal_size().columns
        message = textwrap.fill(message, width=width, subsequent_indent="  ")
    print(message, file=sys.stderr)


def one_line(text):
    """`text` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(str(text).split())


def format_table(header, rows):
    """A left-aligned text table with a header line and a rule under it.

    Example:
    ```python
    from densenet_hub.cli.console import format_table

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
