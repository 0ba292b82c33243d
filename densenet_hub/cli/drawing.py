"""Pictures the commands write, drawn with matplotlib (the `plots` extra): a
confusion matrix, a Grad-CAM explanation and multi-label ROC curves, as PNG
files.

Figures are built with matplotlib's object interface and its Agg renderer,
never `pyplot`: no display is needed, and no global figure state is touched
in a process that runs commands from Python.
"""

import sys

import numpy as np

from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional

DPI = 100
# Cells get their counts and the axes their class names up to this many
# classes; beyond, the text would overlap and only the shading is drawn.
MAX_LABELLED_CLASSES = 30
MAX_NAME_CHARACTERS = 16
# Grad-CAM's usual colour ramp: blue (no relevance) to red (the most).
HEAT_COLOURS = "jet"
# Square axes with the legend of up to 20 findings beside them.
ROC_FIGURE_PIXELS = (900, 640)


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
    # Matplotlib reads float RGB in [0, 1]; DICOM and 16-bit images arrive
    # as float levels in [0, 255].
    shown = image / 255 if image.dtype.kind == "f" else image
    for axes, title in ((source, "input"), (overlay, "where the model looks")):
        axes.imshow(shown, interpolation="nearest")
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


def draw_roc_curves(path, report):
    """Writes the ROC curves of a multi-label report as a PNG: one curve per
    finding with its AUROC in the legend, each finding's operating point
    when the report has thresholds, the chance diagonal, and the mean AUROC
    in the title. Findings without a defined AUROC are named in the legend
    without a curve.

    Args:
        path: the PNG file to write.
        report: a `densenet_hub.evaluation.MultiLabelReport`.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.cli.drawing import ROC_FIGURE_PIXELS, draw_roc_curves
    from densenet_hub.evaluation import multilabel_report

    targets = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    scores = np.array([[0.1, 0.8], [0.7, 0.3], [0.6, 0.4], [0.2, 0.5]])
    report = multilabel_report(targets, scores, ["Edema", "Effusion"])
    path = pathlib.Path(tempfile.mkdtemp()) / "roc.png"
    draw_roc_curves(path, report)
    assert PIL.Image.open(path).size == ROC_FIGURE_PIXELS
    ```
    """
    figure_class = _figure_class("Drawing the ROC curves")
    matplotlib = sys.modules["matplotlib"]
    width, height = ROC_FIGURE_PIXELS
    figure = figure_class(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    # tab20 keeps the 14 findings of ChestX-ray14 apart; beyond 20 colours repeat.
    colours = matplotlib.colormaps["tab20"].colors
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    for index, finding in enumerate(report.findings):
        name = _short([finding.name])[0]
        if finding.roc is None:
            axes.plot([], [], linestyle="none", label=f"{name} (AUROC n/a)")
            continue
        colour = colours[index % len(colours)]
        false_positives, true_positives = finding.roc
        axes.plot(
            false_positives, true_positives, color=colour, linewidth=1.5,
            label=f"{name} ({finding.auroc:.3f})",
        )  # fmt: skip
        if finding.threshold is not None and not np.isnan(finding.sensitivity):
            axes.plot(
                1 - finding.specificity, finding.sensitivity, marker="o", color=colour,
                markeredgecolor="black", markersize=5,
            )  # fmt: skip
    if any(finding.threshold is not None for finding in report.findings):
        axes.plot(
            [], [], linestyle="none", marker="o", color="white", markeredgecolor="black",
            label="at the threshold",
        )  # fmt: skip
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_aspect("equal")
    axes.set_xlabel("false positive rate (1 - specificity)")
    axes.set_ylabel("true positive rate (sensitivity)")
    figure.legend(loc="outside right upper", fontsize="small", title="finding (AUROC)")
    defined = sum(finding.roc is not None for finding in report.findings)
    axes.set_title(
        f"ROC curves: mean AUROC {report.mean_auroc:.3f} over {defined} findings, "
        f"{report.images} images"
    )
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
