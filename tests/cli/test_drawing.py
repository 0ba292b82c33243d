"""The ROC picture of `densenet_hub.cli.drawing`: a PNG of the stated size
with a curve, in its own colour, for each finding whose AUROC is defined."""

import numpy as np
import PIL.Image

from densenet_hub.cli.drawing import ROC_FIGURE_PIXELS
from densenet_hub.cli.drawing import draw_roc_curves
from densenet_hub.evaluation import multilabel_report

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
        assert image.size == ROC_FIGURE_PIXELS == (900, 640)
        image.load()
        # A curve's colour covers many pixels (lines and legend); the
        # finding without a curve has its legend name only.
        assert colour_pixels(image, FIRST) > 200
        assert colour_pixels(image, THIRD) > 200
        assert colour_pixels(image, SECOND) == 0
