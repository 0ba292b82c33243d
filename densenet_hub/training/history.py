"""A training run's per-epoch history as files: `history.csv` (one row per
epoch: epoch, loss and every metric Keras logged, validation ones included,
and the learning rate) and `history.png` (loss and validation metric
curves, with matplotlib, an optional package)."""

import csv
import io
import math

HISTORY_CSV = "history.csv"
HISTORY_PNG = "history.png"
PNG_PIXELS = (960, 400)
DPI = 100


def history_columns(epochs):
    """The CSV columns of `epochs` (`FinetuneResult.epochs`): `epoch`, the
    logged metrics in the order Keras logged them, then `learning_rate`.

    Example:
    ```python
    from densenet_hub.training.history import history_columns

    epochs = [{"epoch": 1, "auroc": 0.7, "loss": 0.5, "learning_rate": 0.001}]
    assert history_columns(epochs) == ["epoch", "auroc", "loss", "learning_rate"]
    ```
    """
    columns = ["epoch"]
    for record in epochs:
        columns += [name for name in record if name not in columns and name != "learning_rate"]
    return columns + ["learning_rate"]


def history_csv(epochs):
    """`epochs` (`FinetuneResult.epochs`) as CSV bytes, one row per epoch;
    a metric an epoch did not log is an empty cell.

    Example:
    ```python
    from densenet_hub.training.history import history_csv

    epochs = [{"epoch": 1, "loss": 0.5, "val_loss": 0.6, "learning_rate": 0.001}]
    assert history_csv(epochs).decode().splitlines() == [
        "epoch,loss,val_loss,learning_rate", "1,0.5,0.6,0.001"
    ]
    ```
    """
    columns = history_columns(epochs)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for record in epochs:
        writer.writerow([_cell(record.get(name)) for name in columns])
    return text.getvalue().encode("utf-8")


def history_png(epochs):
    """The history's curves as PNG bytes: loss and validation loss on the
    left, the other metrics (e.g. validation AUROC or accuracy) on the
    right, the learning rate dashed on a second axis; `None` without
    matplotlib (`pip install 'densenet-hub[plots]'`).

    Example:
    ```python
    from densenet_hub.training.history import history_png

    epochs = [{"epoch": e, "loss": 1 / e, "val_loss": 1.1 / e, "val_auroc": 0.5 + e / 10,
               "learning_rate": 0.001 / e} for e in (1, 2, 3)]
    picture = history_png(epochs)
    assert picture is None or picture.startswith(b"\\x89PNG")
    ```
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None

    numbers = [record["epoch"] for record in epochs]
    figure = Figure(figsize=(PNG_PIXELS[0] / DPI, PNG_PIXELS[1] / DPI), dpi=DPI,
                    layout="constrained")  # fmt: skip
    losses, metrics = figure.subplots(1, 2)
    names = history_columns(epochs)[1:-1]
    for name in names:
        axes = losses if name.endswith("loss") else metrics
        values = [record.get(name, math.nan) for record in epochs]
        axes.plot(numbers, values, marker="o", label=name)
    rates = metrics.twinx()
    rates.plot(numbers, [record["learning_rate"] for record in epochs], "k--",
               label="learning rate")  # fmt: skip
    rates.set_ylabel("learning rate")
    for axes, title in ((losses, "loss"), (metrics, "metrics")):
        axes.set_xlabel("epoch")
        axes.set_title(title)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")
    output = io.BytesIO()
    figure.savefig(output, format="png")
    return output.getvalue()


def history_files(epochs):
    """`{file name: bytes}` of the history to save beside a preset:
    `history.csv`, and `history.png` when matplotlib is installed.

    Example:
    ```python
    from densenet_hub.training.history import history_files

    files = history_files([{"epoch": 1, "loss": 0.5, "learning_rate": 0.001}])
    assert files["history.csv"].startswith(b"epoch,loss,learning_rate")
    ```
    """
    files = {HISTORY_CSV: history_csv(epochs)}
    picture = history_png(epochs) if epochs else None
    if picture is not None:
        files[HISTORY_PNG] = picture
    return files


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
