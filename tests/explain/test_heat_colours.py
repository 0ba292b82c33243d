"""`heat_colours`, the pictures' and the server's heat colours computed
without matplotlib, are matplotlib's colormap `HEAT_COLOURS` (its colour bar)."""

import matplotlib
import numpy as np

from densenet_hub.explain.pictures import HEAT_COLOURS
from densenet_hub.explain.pictures import heat_colours


def test_heat_colours_are_the_colour_bars(rng):
    ramp = matplotlib.colormaps[HEAT_COLOURS]
    # Every entry of the table, each side of its edges, in float64 and float32.
    values = np.concatenate([np.linspace(0, 1, 256 * 16 + 1), rng.random(10_000)])
    np.testing.assert_allclose(heat_colours(values), ramp(values)[:, :3], atol=1e-12)
    single = values.astype("float32")
    np.testing.assert_allclose(heat_colours(single), ramp(single)[:, :3], atol=1e-12)
    # Out-of-range heat takes the ends' colours.
    np.testing.assert_allclose(heat_colours([-0.5, 1.5]), ramp([0.0, 1.0])[:, :3], atol=1e-12)
