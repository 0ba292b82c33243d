"""A progress bar on stderr, so that stdout keeps only the results."""

import sys
import time

BAR_WIDTH = 30


class ProgressBar:
    """Counts items done out of a total, on stderr.

    On a terminal the bar redraws in place; otherwise (a log file, a pipe)
    only the final line is written, so logs do not fill up with redraws.
    Nothing is shown for runs of a single step.

    Args:
        total: the number of items.
        label: a word for the items, e.g. `"images"`.
        enabled: `False` to show nothing (`--quiet`).
        stream: where to write; stderr by default.

    Example:
    ```python
    from densenet_hub.cli.progress import ProgressBar

    bar = ProgressBar(total=64, label="images")
    for _ in range(4):
        bar.advance(16)
    bar.close()
    ```
    """

    def __init__(self, total, label, enabled=True, stream=None):
        self.total = total
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()
        self.steps = 0

    def advance(self, count):
        """Records `count` more items done."""
        self.done += count
        self.steps += 1
        if self.enabled and self.interactive:
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def close(self):
        """Writes the final line (when more than one step was shown)."""
        if not self.enabled or self.steps <= 1:
            return
        prefix = "\r" if self.interactive else ""
        self.stream.write(prefix + self._line() + "\n")
        self.stream.flush()

    def _line(self):
        fraction = self.done / self.total if self.total else 1.0
        filled = round(BAR_WIDTH * fraction)
        elapsed = time.monotonic() - self.started
        return (
            f"[{'=' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{self.done}/{self.total} {self.label} {elapsed:.1f}s"
        )
