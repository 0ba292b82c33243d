"""Pictures the commands write, drawn with matplotlib (the `plots` extra): a
confusion matrix and a Grad-CAM explanation, as PNG files.

Figures are built with matplotlib's object interface and its Agg renderer,
never `pyplot`: no display is needed, and no global figure state is touched
in a process that runs commands from Python.
"""

import sys

import numpy as np

from densenet_hub.optional import extra_fix
from densenet_hub.optional import import_optional

DPI = 100
# Cells get their counts and the axes their class names up to this many
# classes; beyond, the text would overlap and only the shading is drawn.
MAX_LABELLED_CLASSES = 30
MAX_NAME_CHARACTERS = 16
# Grad-CAM's usual colour ramp: blue (no relevance) to red (the most).
HEAT_COLOURS = "jet"


def save_confusion_matrix(path, matrix, row_names, column_names, accuracy):
    """Writes a confusion matrix as a PNG: rows are true classes, columns
    predicted ones, cells shaded by their share of the row, with a colour
    bar, the counts and class names when they fit, and the accuracy in the
    title.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.cli.drawing import save_confusion_matrix

    path = pathlib.Path(tempfile.mkdtemp()) / "confusion.png"
    save_confusion_matrix(path, np.array([[5, 1], [0, 4]]), ["a", "b"], ["a", "b"], 0.9)
    assert PIL.Image.open(path).format == "PNG"
    ```
    """
    figure_class = _figure_class("Drawing the confusion matrix")
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = float(np.clip(3 + 0.45 * max(matrix.shape), 5, 16))
    figure = figure_class(figsize=(side + 1.2, side), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    shading = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(shading, ax=axes, shrink=0.8, label="share of the true class's images")
    labelled = max(matrix.shape) <= MAX_LABELLED_CLASSES
    if labelled:
        axes.set_xticks(range(matrix.shape[1]), _short(column_names), rotation=90)
        axes.set_yticks(range(matrix.shape[0]), _short(row_names))
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if shares[row, column] > 0.5 else "black"
                axes.text(column, row, str(int(count)), ha="center", va="center", color=colour)
    else:
        axes.set_xticks([])
        axes.set_yticks([])
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(
        f"Confusion matrix: accuracy {accuracy:.1%} on {int(matrix.sum())} images"
    )
    figure.savefig(path, format="png")


def save_explanation(path, image, heat, class_name, probability, opacity):
    """Writes a Grad-CAM explanation as a PNG: the input as the model sees
    it, beside the heat map (values in [0, 1], any resolution) laid over it
    with `opacity`, a colour bar, and the class with its probability.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.cli.drawing import save_explanation

    path = pathlib.Path(tempfile.mkdtemp()) / "explanation.png"
    image = np.zeros((32, 32, 3), "uint8")
    save_explanation(path, image, np.eye(4), "cat", 0.93, opacity=0.5)
    assert PIL.Image.open(path).format == "PNG"
    ```
    """
    figure_class = _figure_class("Drawing the Grad-CAM explanation")
    # Loaded with matplotlib.figure, as are its `cm` and `colors` modules.
    matplotlib = sys.modules["matplotlib"]
    figure = figure_class(figsize=(8.4, 4.4), dpi=DPI, layout="constrained")
    source, overlay = figure.subplots(1, 2)
    height, width = image.shape[:2]
    for axes, title in ((source, "input"), (overlay, "where the model looks")):
        axes.imshow(image, interpolation="nearest")
        axes.set_title(title)
        axes.set_axis_off()
    ramp = matplotlib.colormaps[HEAT_COLOURS]
    overlay.imshow(
        np.asarray(heat, dtype="float32"), cmap=_fading(matplotlib, ramp, opacity),
        vmin=0, vmax=1, interpolation="bilinear",
        # The map covers the whole picture whatever its resolution, and is
        # interpolated between its cells' centres rather than shown as blocks.
        extent=(-0.5, width - 0.5, height - 0.5, -0.5),
    )  # fmt: skip
    # The bar shows the ramp at full strength, whatever the opacity.
    scale = matplotlib.cm.ScalarMappable(cmap=ramp)
    scale.set_clim(0, 1)
    figure.colorbar(scale, ax=overlay, shrink=0.85, label="Grad-CAM relevance (1: most)")
    figure.suptitle(f"class {class_name}: probability {probability:.1%}", fontsize="x-large")
    figure.savefig(path, format="png")


def _fading(matplotlib, ramp, opacity):
    """`ramp` with an opacity that grows with the value up to `opacity`: the
    image shows through where the model does not look, instead of lying
    under a uniform tint."""
    colours = ramp(np.linspace(0, 1, ramp.N))
    colours[:, 3] = opacity * np.linspace(0, 1, ramp.N) ** 0.5
    return matplotlib.colors.ListedColormap(colours)


def _figure_class(purpose):
    return import_optional("matplotlib.figure", extra_fix("plots"), purpose).Figure


def _short(names):
    return [
        name if len(name) <= MAX_NAME_CHARACTERS else name[: MAX_NAME_CHARACTERS - 1] + "…"
        for name in map(str, names)
    ]
