"""The pictures of `densenet_hub.evaluation.plots`: PNGs of the stated size
with a curve, in its own colour, for each finding that has one, and a
confusion matrix."""

import io

import numpy as np
import PIL.Image
import pytest

from densenet_hub.evaluation import multilabel_report
from densenet_hub.evaluation import reliability_curves
from densenet_hub.evaluation import single_label_report
from densenet_hub.evaluation.plots import CURVES_FIGURE_PIXELS
from densenet_hub.evaluation.plots import draw_confusion_matrix
from densenet_hub.evaluation.plots import draw_pr_curves
from densenet_hub.evaluation.plots import draw_reliability_diagram
from densenet_hub.evaluation.plots import draw_roc_curves

# matplotlib's tab20, which the curves use in the findings' order.
FIRST, SECOND, THIRD = (31, 119, 180), (174, 199, 232), (255, 127, 14)


def colour_pixels(image, colour):
    return int((np.asarray(image)[..., :3] == colour).all(axis=-1).sum())


def test_roc_curves_png_has_one_curve_per_defined_finding(tmp_path, rng):
    targets = rng.integers(0, 2, (300, 3))
    targets[:, 1] = 0  # Cardiomegaly: no positive, no curve.
    scores = 1 / (1 + np.exp(-(targets + rng.normal(size=(300, 3)))))
    report = multilabel_report(
        targets, scores, ["Atelectasis", "Cardiomegaly", "Effusion"], thresholds=[0.5] * 3
    )
    path = tmp_path / "roc.png"
    draw_roc_curves(path, report)
    with PIL.Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == CURVES_FIGURE_PIXELS == (900, 640)
        image.load()
        # A curve's colour covers many pixels (lines and legend); the
        # finding without a curve has its legend name only.
        assert colour_pixels(image, FIRST) > 200
        assert colour_pixels(image, THIRD) > 200
        assert colour_pixels(image, SECOND) == 0


def three_findings(rng):
    """Three findings; the second has no positive, so no curve."""
    targets = rng.integers(0, 2, (300, 3))
    targets[:, 1] = 0
    scores = 1 / (1 + np.exp(-(targets + rng.normal(size=(300, 3)))))
    return targets, scores, ["Atelectasis", "Cardiomegaly", "Effusion"]


def picture(draw, *arguments):
    """The PNG `draw` writes, read back from memory."""
    data = io.BytesIO()
    draw(data, *arguments)
    data.seek(0)
    with PIL.Image.open(data) as image:
        assert image.format == "PNG"
        image.load()
        return image.convert("RGB")


@pytest.mark.parametrize("draw", [draw_roc_curves, draw_pr_curves])
def test_curves_of_a_report_into_a_file_object(rng, draw):
    image = picture(draw, multilabel_report(*three_findings(rng)))
    assert image.size == CURVES_FIGURE_PIXELS
    assert colour_pixels(image, FIRST) > 200 and colour_pixels(image, THIRD) > 200
    assert colour_pixels(image, SECOND) == 0


def test_reliability_diagram_has_one_curve_per_finding_with_entries(rng):
    targets, scores, findings = three_findings(rng)
    targets[:, 1] = rng.integers(0, 2, 300)
    weights = np.ones_like(scores)
    weights[:, 1] = 0  # Cardiomegaly: no entries, no curve.
    curves = reliability_curves(targets, scores, findings, weights)
    image = picture(draw_reliability_diagram, curves)
    assert image.size == CURVES_FIGURE_PIXELS
    assert colour_pixels(image, FIRST) > 200 and colour_pixels(image, THIRD) > 200
    assert colour_pixels(image, SECOND) == 0


def test_confusion_matrix_with_an_other_column_and_many_classes(rng):
    probabilities = rng.random((60, 3))
    report = single_label_report(rng.integers(0, 2, 60), probabilities, ["cat", "dog"])
    assert report.predicted_names[-1] == "(other)"
    small = picture(draw_confusion_matrix, report)
    labels = rng.integers(0, 40, 400)
    many = single_label_report(labels, rng.random((400, 40)), [f"c{i}" for i in range(40)])
    large = picture(draw_confusion_matrix, many)
    # The figure grows with the classes, up to its cap.
    assert large.width > small.width and large.height > small.height
