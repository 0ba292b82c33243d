"""The served Grad-CAM overlay is drawn as the command line draws it: the
colour bar's colours (matplotlib's colormap) at a fixed opacity over the
image in grey."""

import base64
import io

import matplotlib
import numpy as np
import PIL.Image

from densenet_hub.explain.pictures import HEAT_COLOURS
from densenet_hub.explain.pictures import LUMA
from densenet_hub.serving.results import overlay_png

RAMP = matplotlib.colormaps[HEAT_COLOURS]


def decoded(url):
    data = base64.b64decode(url.removeprefix("data:image/png;base64,"))
    return np.asarray(PIL.Image.open(io.BytesIO(data)).convert("RGB"), dtype="float64")


def test_an_overlay_pixel_is_the_colour_bars_colour_over_the_grey_image():
    heat, opacity = 0.7, 0.4
    red = np.zeros((16, 16, 3), "uint8")
    red[..., 0] = 255
    pixels = decoded(overlay_png(red, np.full((2, 2), heat), opacity=opacity))
    grey = 255 * LUMA[0]
    expected = opacity * 255 * np.asarray(RAMP(heat)[:3]) + (1 - opacity) * grey
    assert np.abs(pixels - expected).max() <= 0.5


def test_an_overlay_pixel_tells_its_heat_whatever_the_images_colour():
    # Pure red and a green of the same grey level (0.299 * 255 = 0.587 * g).
    red = np.zeros((16, 16, 3), "uint8")
    red[..., 0] = 255
    green = np.zeros((16, 16, 3), "uint8")
    green[..., 1] = round(LUMA[0] * 255 / LUMA[1])
    heat = np.full((2, 2), 0.75)
    over_red = decoded(overlay_png(red, heat, opacity=0.4))
    over_green = decoded(overlay_png(green, heat, opacity=0.4))
    assert np.abs(over_red - over_green).max() <= 1


def test_a_map_of_several_cells_is_stretched_over_the_shrunk_image():
    image = np.full((600, 300, 3), 128, "uint8")
    pixels = decoded(overlay_png(image, np.array([[0.0], [1.0]]), opacity=1.0, max_side=200))
    # Shrunk to 200 pixels high; the ends are the bar's ends at full opacity.
    assert pixels.shape == (200, 100, 3)
    assert np.abs(pixels[0, 0] - 255 * np.asarray(RAMP(0.0)[:3])).max() <= 0.5
    assert np.abs(pixels[-1, -1] - 255 * np.asarray(RAMP(1.0)[:3])).max() <= 0.5
