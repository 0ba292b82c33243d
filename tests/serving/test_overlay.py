"""The served Grad-CAM overlay is drawn as the command line draws it: the
heat's colours at a fixed opacity over the image in grey."""

import base64
import io

import numpy as np
import PIL.Image

from densenet_hub.serving.results import overlay_png


def decoded(url):
    data = base64.b64decode(url.removeprefix("data:image/png;base64,"))
    return np.asarray(PIL.Image.open(io.BytesIO(data)).convert("RGB"), dtype="float64")


def test_an_overlay_pixel_tells_its_heat_whatever_the_images_colour():
    # Pure red and a green of the same grey level (0.299 * 255 = 0.587 * g).
    red = np.zeros((16, 16, 3), "uint8")
    red[..., 0] = 255
    green = np.zeros((16, 16, 3), "uint8")
    green[..., 1] = round(0.299 * 255 / 0.587)
    heat = np.full((2, 2), 0.75)
    over_red = decoded(overlay_png(red, heat, opacity=0.4))
    over_green = decoded(overlay_png(green, heat, opacity=0.4))
    assert np.abs(over_red - over_green).max() <= 1
    # jet at 0.75: red 1, green 0.5 (1.5 - |3 - 2|), blue 0 (1.5 - |3 - 0|).
    expected = 0.4 * 255 * np.array([1.0, 0.5, 0.0]) + 0.6 * 0.299 * 255
    assert np.abs(over_red - expected).max() <= 1
