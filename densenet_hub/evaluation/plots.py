"""Pictures of evaluation results, drawn with matplotlib (the `plots`
extra) as PNG files: a single-label confusion matrix, and a multi-label
report's ROC curves, precision-recall curves and reliability diagram.

Each function takes `path`, a file path or a binary file object (an
`io.BytesIO` gives the PNG's bytes, e.g. to embed in a report). Figures are
built with matplotlib's object interface and its Agg renderer, never
`pyplot`: no display is needed, and no global figure state is touched in a
process that runs commands from Python.
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
# Square axes with the legend of up to 20 findings beside them.
CURVES_FIGURE_PIXELS = (900, 640)


def draw_confusion_matrix(path, report):
    """Writes a single-label report's confusion matrix as a PNG: rows are
    true classes, columns predicted ones, cells shaded by their share of the
    row, with a colour bar, the counts and class names when they fit, and
    the accuracy in the title.

    Args:
        path: the PNG file to write, or a binary file object.
        report: a `densenet_hub.evaluation.SingleLabelReport`.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.evaluation import draw_confusion_matrix, single_label_report

    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    report = single_label_report([0, 1, 1], probabilities, ["a", "b"])
    path = pathlib.Path(tempfile.mkdtemp()) / "confusion.png"
    draw_confusion_matrix(path, report)
    assert PIL.Image.open(path).format == "PNG"
    ```
    """
    figure_class = _figure_class("Drawing the confusion matrix")
    matrix = np.asarray(report.confusion_matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = float(np.clip(3 + 0.45 * max(matrix.shape), 5, 16))
    figure = figure_class(figsize=(side + 1.2, side), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    shading = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(shading, ax=axes, shrink=0.8, label="share of the true class's images")
    labelled = max(matrix.shape) <= MAX_LABELLED_CLASSES
    if labelled:
        axes.set_xticks(range(matrix.shape[1]), _short(report.predicted_names), rotation=90)
        axes.set_yticks(range(matrix.shape[0]), _short(report.class_names))
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
        f"Confusion matrix: accuracy {report.accuracy:.1%} on {int(matrix.sum())} images"
    )
    figure.savefig(path, format="png")


def draw_roc_curves(path, report):
    """Writes the ROC curves of a multi-label report as a PNG: one curve per
    finding with its AUROC in the legend, each finding's operating point
    when the report has thresholds, the chance diagonal, and the mean AUROC
    in the title. Findings without a defined AUROC are named in the legend
    without a curve.

    Args:
        path: the PNG file to write, or a binary file object.
        report: a `densenet_hub.evaluation.MultiLabelReport`.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.evaluation import multilabel_report
    from densenet_hub.evaluation.plots import CURVES_FIGURE_PIXELS, draw_roc_curves

    targets = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    scores = np.array([[0.1, 0.8], [0.7, 0.3], [0.6, 0.4], [0.2, 0.5]])
    report = multilabel_report(targets, scores, ["Edema", "Effusion"])
    path = pathlib.Path(tempfile.mkdtemp()) / "roc.png"
    draw_roc_curves(path, report)
    assert PIL.Image.open(path).size == CURVES_FIGURE_PIXELS
    ```
    """
    figure, axes, colours = _curves_figure("Drawing the ROC curves")
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
    defined = sum(finding.roc is not None for finding in report.findings)
    _finish_curves(
        path, figure, axes,
        "false positive rate (1 - specificity)", "true positive rate (sensitivity)",
        "finding (AUROC)",
        f"ROC curves: mean AUROC {report.mean_auroc:.3f} over {defined} findings, "
        f"{report.images} images",
    )  # fmt: skip


def draw_pr_curves(path, report):
    """Writes the precision-recall curves of a multi-label report as a PNG:
    one step curve per finding with its average precision in the legend,
    each finding's prevalence (the precision of a model that ranks at
    random) as a dotted line in its colour, and the mean average precision
    in the title. Findings without a defined AUROC are named in the legend
    without a curve.

    Args:
        path: the PNG file to write, or a binary file object.
        report: a `densenet_hub.evaluation.MultiLabelReport`.

    Example:
    ```python
    import io
    import numpy as np
    import PIL.Image
    from densenet_hub.evaluation import draw_pr_curves, multilabel_report
    from densenet_hub.evaluation.plots import CURVES_FIGURE_PIXELS

    targets = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    scores = np.array([[0.1, 0.8], [0.7, 0.3], [0.6, 0.4], [0.2, 0.5]])
    report = multilabel_report(targets, scores, ["Edema", "Effusion"])
    picture = io.BytesIO()
    draw_pr_curves(picture, report)
    assert PIL.Image.open(picture).size == CURVES_FIGURE_PIXELS
    ```
    """
    figure, axes, colours = _curves_figure("Drawing the precision-recall curves")
    for index, finding in enumerate(report.findings):
        name = _short([finding.name])[0]
        if finding.precision_recall is None:
            axes.plot([], [], linestyle="none", label=f"{name} (AP n/a)")
            continue
        colour = colours[index % len(colours)]
        precisions, recalls = finding.precision_recall
        # Average precision is the area under this step function.
        axes.step(
            recalls, precisions, where="post", color=colour, linewidth=1.5,
            label=f"{name} ({finding.average_precision:.3f})",
        )  # fmt: skip
        prevalence = finding.positives / (finding.positives + finding.negatives)
        axes.axhline(prevalence, color=colour, linestyle=":", linewidth=1)
    defined = sum(finding.precision_recall is not None for finding in report.findings)
    _finish_curves(
        path, figure, axes, "recall (sensitivity)", "precision", "finding (AP)",
        f"Precision-recall curves: mean AP {report.mean_average_precision:.3f} over "
        f"{defined} findings, {report.images} images; dotted: prevalence",
    )  # fmt: skip


def draw_reliability_diagram(path, curves):
    """Writes reliability curves as a PNG: per finding, each non-empty bin's
    share of positives against its mean probability, with the finding's
    expected calibration error (ECE) in the legend, and the diagonal a
    calibrated model lies on. Findings without entries are named in the
    legend without a curve.

    Args:
        path: the PNG file to write, or a binary file object.
        curves: `ReliabilityCurve`s, e.g. from
            `densenet_hub.evaluation.reliability_curves`.

    Example:
    ```python
    import io
    import numpy as np
    import PIL.Image
    from densenet_hub.evaluation import draw_reliability_diagram, reliability_curves

    rng = np.random.default_rng(0)
    probabilities = rng.random((200, 2))
    targets = rng.random((200, 2)) < probabilities
    picture = io.BytesIO()
    draw_reliability_diagram(picture, reliability_curves(targets, probabilities, ["a", "b"]))
    assert PIL.Image.open(picture).format == "PNG"
    ```
    """
    figure, axes, colours = _curves_figure("Drawing the reliability diagram")
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    for index, curve in enumerate(curves):
        name = _short([curve.name])[0]
        filled = curve.counts > 0
        if not filled.any():
            axes.plot([], [], linestyle="none", label=f"{name} (no entries)")
            continue
        axes.plot(
            curve.mean_probabilities[filled], curve.positive_fractions[filled],
            color=colours[index % len(colours)], marker="o", markersize=4, linewidth=1.5,
            label=f"{name} ({curve.expected_calibration_error:.3f})",
        )  # fmt: skip
    bins = len(curves[0].counts) if curves else 0
    _finish_curves(
        path, figure, axes, "mean predicted probability", "share of positives",
        "finding (ECE)", f"Reliability diagram: {len(curves)} findings, {bins} bins",
    )  # fmt: skip


def _curves_figure(purpose):
    """A figure of `CURVES_FIGURE_PIXELS` with one axes, and the colours of
    its curves, one per finding."""
    figure_class = _figure_class(purpose)
    # Loaded with matplotlib.figure, as is its colormaps registry.
    matplotlib = sys.modules["matplotlib"]
    width, height = CURVES_FIGURE_PIXELS
    figure = figure_class(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    # tab20 keeps the 14 findings of ChestX-ray14 apart; beyond 20 colours repeat.
    return figure, axes, matplotlib.colormaps["tab20"].colors


def _finish_curves(path, figure, axes, x_label, y_label, legend_title, title):
    """Unit square axes, labels, the legend beside them and the title; then
    the PNG."""
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_aspect("equal")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    figure.legend(loc="outside right upper", fontsize="small", title=legend_title)
    axes.set_title(title)
    figure.savefig(path, format="png")


def _figure_class(purpose):
    return import_optional("matplotlib.figure", extra_fix("plots"), purpose).Figure


def _short(names):
    return [
        name if len(name) <= MAX_NAME_CHARACTERS else name[: MAX_NAME_CHARACTERS - 1] + "…"
        for name in map(str, names)
    ]
