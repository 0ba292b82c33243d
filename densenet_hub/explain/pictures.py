"""The picture of a Grad-CAM explanation, drawn with matplotlib (the
`plots` extra) as a PNG: the image beside its heat map.

The figure is built with matplotlib's object interface and its Agg
renderer, never `pyplot`: no display is needed, and no global figure state
is touched in a process that explains images from Python.
"""

import sys

import numpy as np

from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional

DPI = 100
# Grad-CAM's usual colour ramp: blue (no relevance) to red (the most).
HEAT_COLOURS = "jet"


def draw_explanation(path, image, heat, class_name, probability, opacity=0.5):
    """Writes a Grad-CAM explanation as a PNG: the input as the model sees
    it, beside the heat map laid over it with `opacity`, a colour bar, and
    the class with its probability.

    Args:
        path: the PNG file to write, or a binary file object.
        image: the image, `(height, width, 3)`: uint8, or float levels in
            [0, 255] (DICOM, 16-bit images); e.g. `Explanation.image`.
        heat: the heat map, values in [0, 1], any resolution (it is
            stretched over the image); e.g. `Explanation.heat`.
        class_name: the explained class, for the title.
        probability: its probability, for the title.
        opacity: the heat map's opacity where it is strongest, 0 to 1.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.explain import draw_explanation

    path = pathlib.Path(tempfile.mkdtemp()) / "explanation.png"
    image = np.zeros((32, 32, 3), "uint8")
    draw_explanation(path, image, np.eye(4), "cat", 0.93, opacity=0.5)
    assert PIL.Image.open(path).format == "PNG"
    ```
    """
    figure_class = import_optional(
        "matplotlib.figure", extra_fix("plots"), "Drawing the Grad-CAM explanation"
    ).Figure
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


def _fading(matplotlib, ramp, opacity):
    """`ramp` with an opacity that grows with the value up to `opacity`: the
    image shows through where the model does not look, instead of lying
    under a uniform tint."""
    colours = ramp(np.linspace(0, 1, ramp.N))
    colours[:, 3] = opacity * np.linspace(0, 1, ramp.N) ** 0.5
    return matplotlib.colors.ListedColormap(colours)
