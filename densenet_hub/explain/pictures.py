"""Pictures of Grad-CAM explanations, drawn with matplotlib (the `plots`
extra) as PNG files: one image's explanation (`draw_explanation`), and a
contact sheet of many (`draw_contact_sheet`).

The heat's colours are honest to the colour bar: the heat map is drawn on
its own with the bar's colormap, and laid over the image as
`alpha * colour + (1 - alpha) * grey`, with a fixed `alpha`, over the
image turned to grey (`overlay_pixels`), so that no colour of the image
mixes into the heat's. The figure is built with matplotlib's object
interface and its Agg renderer, never `pyplot`: no display is needed, and
no global figure state is touched in a process that explains images from
Python. Files are written atomically (complete or absent).
"""

import io
import math
import pathlib
import sys

import numpy as np
import PIL.Image

from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file

DPI = 100
# Grad-CAM's usual colour ramp: blue (no relevance) to red (the most).
HEAT_COLOURS = "jet"
# Matplotlib's "jet" as it defines it, (position, value) per channel, and its
# table's size: `heat_colours` draws the bar's colours without matplotlib,
# which the server (whose extra leaves it out) needs for its overlays.
_JET_SEGMENTS = (
    ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
)
_COLOUR_LEVELS = 256
# ITU-R BT.601 luma weights: the grey an RGB image is shown in under the heat.
LUMA = (0.299, 0.587, 0.114)
# A contact sheet's cell, in inches, and its columns when not given.
CELL_INCHES = 2.4
MAX_COLUMNS = 6


def heat_colours(heat):
    """The RGB colours, in [0, 1], of heat values in [0, 1]: those of
    matplotlib's `HEAT_COLOURS` colormap (its 256-entry table), computed
    without matplotlib.

    Example:
    ```python
    from densenet_hub.explain.pictures import heat_colours

    assert heat_colours([0.0, 1.0]).tolist() == [[0.0, 0.0, 0.5], [0.5, 0.0, 0.0]]
    ```
    """
    steps = np.linspace(0, 1, _COLOUR_LEVELS)
    table = np.stack(
        [np.interp(steps, *zip(*segments)) for segments in _JET_SEGMENTS], axis=-1
    )
    # As matplotlib indexes its table: the value times its size, truncated,
    # and 1 in the last entry.
    heat = np.clip(np.asarray(heat), 0, 1)
    return table[np.minimum((heat * _COLOUR_LEVELS).astype(int), _COLOUR_LEVELS - 1)]


def overlay_pixels(image, heat, opacity=0.5):
    """The RGB pixels of a heat map over an image, as the pictures draw them.

    The heat is stretched over the image (bilinear, between its cells'
    centres), coloured with `HEAT_COLOURS` (`heat_colours`, so no
    matplotlib is needed) and blended with the image in grey:
    `opacity * colour(heat) + (1 - opacity) * grey`, the same `opacity`
    everywhere, so a pixel's colour tells its heat for a known grey.

    Args:
        image: `(height, width, 3)` or `(height, width)`: uint8, or float
            levels in [0, 255].
        heat: the heat map, values in [0, 1], any resolution.
        opacity: the heat's opacity, 0 to 1.

    Returns:
        `(colours, overlay)`: float arrays `(height, width, 3)` in [0, 1]:
        the heat's colours alone, and blended over the grey image.

    Example:
    ```python
    import numpy as np
    from densenet_hub.explain.pictures import overlay_pixels

    image = np.full((8, 8, 3), 100, "uint8")
    colours, overlay = overlay_pixels(image, np.full((2, 2), 0.7), opacity=0.4)
    np.testing.assert_allclose(overlay, 0.4 * colours + 0.6 * 100 / 255, atol=1e-6)
    ```
    """
    _check_opacity(opacity)
    height, width = image.shape[:2]
    heat = np.clip(np.asarray(heat, dtype="float32"), 0, 1)
    stretched = np.asarray(
        PIL.Image.fromarray(heat).resize((width, height), PIL.Image.BILINEAR)
    )
    colours = heat_colours(stretched)
    grey = _grey(image)[..., None]
    return colours, opacity * colours + (1 - opacity) * grey


def _grey(image):
    """The image's grey levels in [0, 1]."""
    levels = np.asarray(image, dtype="float64") / 255
    return levels @ np.asarray(LUMA) if levels.ndim == 3 else levels


def draw_explanation(path, image, heat, class_name, probability, opacity=0.5):
    """Writes a Grad-CAM explanation as a PNG: the input as the model sees
    it, the heat map on its own with its colour bar, and the heat laid over
    the input in grey with a fixed `opacity` (`overlay_pixels`), under a
    title with the class and its probability.

    Args:
        path: the PNG file to write (atomically), or a binary file object.
        image: the image, `(height, width, 3)`: uint8, or float levels in
            [0, 255] (DICOM, 16-bit images); e.g. `Explanation.image`.
        heat: the heat map, values in [0, 1], any resolution (it is
            stretched over the image); e.g. `Explanation.heat`.
        class_name: the explained class, for the title.
        probability: its probability, for the title.
        opacity: the heat's opacity over the image, 0 to 1.

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
    colours, overlay = overlay_pixels(image, heat, opacity)
    matplotlib = _matplotlib()
    figure = matplotlib.figure.Figure(figsize=(12, 4.4), dpi=DPI, layout="constrained")
    source, alone, laid = figure.subplots(1, 3)
    # Matplotlib reads float RGB in [0, 1]; DICOM and 16-bit images arrive
    # as float levels in [0, 255].
    shown = image / 255 if image.dtype.kind == "f" else image
    panels = (
        (source, shown, "input"),
        (alone, colours, "Grad-CAM heat"),
        (laid, overlay, f"heat at opacity {opacity:g} over the input in grey"),
    )
    for axes, pixels, title in panels:
        axes.imshow(pixels, interpolation="nearest")
        axes.set_title(title)
        axes.set_axis_off()
    scale = matplotlib.cm.ScalarMappable(cmap=matplotlib.colormaps[HEAT_COLOURS])
    scale.set_clim(0, 1)
    figure.colorbar(scale, ax=alone, shrink=0.85, label="Grad-CAM relevance (1: most)")
    figure.suptitle(f"class {class_name}: probability {probability:.1%}", fontsize="x-large")
    _save(figure, path)


def draw_contact_sheet(path, entries, opacity=0.5, columns=None):
    """Writes many Grad-CAM explanations as one PNG: a grid of heat maps
    laid over their images (`overlay_pixels`), a caption under each, and a
    legend of the overlay's colours (heat up, the grey under it across).

    Args:
        path: the PNG file to write (atomically), or a binary file object.
        entries: `(image, heat, caption)` triples, in reading order: the
            image as `draw_explanation` takes it, its heat map, and the
            text under it (e.g. the file name, the class and probability).
        opacity: the heat's opacity over the images, 0 to 1.
        columns: cells a row; default the square root of the count, at
            most `MAX_COLUMNS`.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.explain.pictures import draw_contact_sheet

    path = pathlib.Path(tempfile.mkdtemp()) / "sheet.png"
    image = np.zeros((32, 32, 3), "uint8")
    draw_contact_sheet(path, [(image, np.eye(4), f"{i}.png: cat 93%") for i in range(5)])
    assert PIL.Image.open(path).size == (3 * 240 + 120, 2 * 240 + 60)
    ```
    """
    entries = list(entries)
    if not entries:
        raise ValueError("draw_contact_sheet: `entries` is empty; pass at least one image.")
    if columns is None:
        columns = min(MAX_COLUMNS, math.ceil(math.sqrt(len(entries))))
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"draw_contact_sheet: `columns` must be a positive int, got {columns!r}.")
    columns = min(columns, len(entries))
    rows = math.ceil(len(entries) / columns)
    _check_opacity(opacity)
    matplotlib = _matplotlib()
    # Fixed cells plus a legend column half a cell wide and a title band a
    # quarter of a cell high, so the sheet's size follows from its grid.
    figure = matplotlib.figure.Figure(
        figsize=((columns + 0.5) * CELL_INCHES, (rows + 0.25) * CELL_INCHES), dpi=DPI
    )
    grid = figure.add_gridspec(
        rows, columns + 1, width_ratios=[1] * columns + [0.5],
        left=0.01, right=0.93, top=1 - 0.3 / (rows + 0.25), bottom=0.15 / (rows + 0.25),
        hspace=0.3,
    )  # fmt: skip
    for index, (image, heat, caption) in enumerate(entries):
        axes = figure.add_subplot(grid[index // columns, index % columns])
        axes.imshow(overlay_pixels(image, heat, opacity)[1], interpolation="nearest")
        axes.set_axis_off()
        axes.set_title(caption, fontsize="small", y=-0.16, wrap=True)
    legend = figure.add_subplot(grid[: min(rows, 2), columns])
    heat_levels = np.linspace(1, 0, 64)[:, None]
    greys = np.linspace(0, 1, 16)[None, :, None]
    colours = matplotlib.colormaps[HEAT_COLOURS](heat_levels)[..., :3]
    legend.imshow(opacity * colours + (1 - opacity) * greys, aspect="auto",
                  extent=(0, 1, 0, 1), interpolation="nearest")  # fmt: skip
    legend.yaxis.tick_right()
    legend.yaxis.set_label_position("right")
    legend.set_ylabel("Grad-CAM relevance (1: most)")
    legend.set_xlabel("grey under the heat")
    legend.set_xticks([0, 1], ["0", "255"])
    figure.suptitle(f"Grad-CAM, heat at opacity {opacity:g} over each image in grey")
    _save(figure, path)


def _save(figure, path):
    """Writes the figure as a PNG to a file object, or atomically to `path`."""
    if hasattr(path, "write"):
        figure.savefig(path, format="png")
        return
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    with published(pathlib.Path(path), overwrite=True) as staging:
        write_file(staging, buffer.getvalue())


def _check_opacity(opacity):
    if isinstance(opacity, bool) or not isinstance(opacity, (int, float)) or not 0 <= opacity <= 1:
        raise ValueError(f"`opacity` (--opacity) must be a number from 0 to 1, got {opacity!r}.")


def _matplotlib():
    """matplotlib, with its `figure`, `cm` and `colors` modules loaded."""
    import_optional("matplotlib.figure", extra_fix("plots"), "Drawing Grad-CAM pictures")
    return sys.modules["matplotlib"]
