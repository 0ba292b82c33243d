"""Grad-CAM pictures honest to their colour bar, contact sheets, and heat
maps that show where a trained model looks rather than a near-uniform
tint: the overlay's pixels are the bar's colours blended at the stated
opacity over the image in grey, a sheet's size follows from its grid and
is written whole or not at all, and on a model trained to find a coloured
square the heat sits on the square."""

import keras
import matplotlib
import numpy as np
import PIL.Image
import pytest

import densenet_hub
from densenet_hub.cli.main import main
from densenet_hub.explain import draw_contact_sheet
from densenet_hub.explain import draw_explanation
from densenet_hub.explain import grad_cam
from densenet_hub.explain.pictures import CELL_INCHES
from densenet_hub.explain.pictures import DPI
from densenet_hub.explain.pictures import HEAT_COLOURS
from densenet_hub.explain.pictures import LUMA
from densenet_hub.explain.pictures import overlay_pixels
from helpers.models import save_tiny_classifier_preset

RAMP = matplotlib.colormaps[HEAT_COLOURS]


def levels(rgb):
    """8-bit levels of float RGB in [0, 1], as the PNG stores them."""
    return np.round(np.asarray(rgb)[..., :3] * 255).astype(int)


def test_overlay_is_the_heat_colour_blended_with_the_grey_image(rng):
    image = rng.integers(0, 256, (24, 40, 3), dtype="uint8")
    heat = np.full((3, 5), 0.7)
    colours, overlay = overlay_pixels(image, heat, opacity=0.35)
    grey = (image / 255) @ np.asarray(LUMA)
    np.testing.assert_allclose(colours, np.broadcast_to(RAMP(0.7)[:3], colours.shape), atol=1e-6)
    np.testing.assert_allclose(overlay, 0.35 * colours + 0.65 * grey[..., None], atol=1e-6)
    # A map of several cells is stretched between the cells' centres.
    colours, _ = overlay_pixels(image, np.array([[0.0, 1.0]]), opacity=0.35)
    np.testing.assert_allclose(colours[0, 0], RAMP(0.0)[:3], atol=1e-6)
    np.testing.assert_allclose(colours[0, -1], RAMP(1.0)[:3], atol=1e-6)


def test_picture_pixels_match_the_colour_bar_at_the_stated_opacity(tmp_path):
    grey, heat, opacity = 100, 0.7, 0.4
    image = np.full((32, 32, 3), grey, "uint8")
    path = tmp_path / "why.png"
    draw_explanation(path, image, np.full((4, 4), heat), "cat", 0.9, opacity=opacity)
    pixels = np.asarray(PIL.Image.open(path).convert("RGB")).astype(int)

    def where(colour):
        return np.all(np.abs(pixels - colour) <= 1, axis=-1)

    # The colour bar: its top row is the ramp's 1, its bottom row its 0.
    top_rows, top_columns = np.nonzero(where(levels(RAMP(1.0))))
    bottom_rows, _ = np.nonzero(where(levels(RAMP(0.0))))
    column = int(np.median(top_columns))
    top, bottom = top_rows.min(), bottom_rows.max()
    bar = pixels[top : bottom + 1, column]
    distance = np.abs(bar - levels(RAMP(heat))).max(axis=-1)
    # The bar shows the ramp's colour for `heat` at its height (within 1%).
    assert distance.min() <= 1
    assert abs((bottom - top - distance.argmin()) / (bottom - top) - heat) < 0.01
    # The heat panel shows that colour, the overlay that colour at the
    # stated opacity over the grey image, each over a whole panel.
    panel = 250 * 250
    assert where(levels(RAMP(heat))).sum() > panel
    blended = opacity * np.asarray(RAMP(heat)[:3]) + (1 - opacity) * grey / 255
    assert where(levels(blended)).sum() > panel


@pytest.mark.parametrize("count, columns, grid", [(1, None, (1, 1)), (5, None, (3, 2)),
                                                   (7, 2, (2, 4)), (40, None, (6, 7))])  # fmt: skip
def test_contact_sheet_size_follows_its_grid(tmp_path, rng, count, columns, grid):
    path = tmp_path / "sheet.png"
    image = rng.integers(0, 256, (32, 32, 3), dtype="uint8")
    entries = [(image, rng.random((4, 4)), f"{i}.png\ncat 90.0%") for i in range(count)]
    draw_contact_sheet(path, entries, columns=columns)
    wide, high = grid
    cell = CELL_INCHES * DPI
    assert PIL.Image.open(path).size == (round((wide + 0.5) * cell), round((high + 0.25) * cell))


def test_a_failed_sheet_leaves_the_old_one_and_nothing_else(tmp_path, rng):
    path = tmp_path / "sheet.png"
    image = rng.integers(0, 256, (32, 32, 3), dtype="uint8")
    draw_contact_sheet(path, [(image, rng.random((4, 4)), "a.png")])
    before = path.read_bytes()
    # Matplotlib parses a caption's maths only when drawing, mid-save.
    with pytest.raises(ValueError):
        draw_contact_sheet(path, [(image, rng.random((4, 4)), r"$\frac{$")])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]
    with pytest.raises(ValueError, match="`entries` is empty"):
        draw_contact_sheet(tmp_path / "none.png", [])
    assert not (tmp_path / "none.png").exists()


@pytest.mark.slow
def test_explain_a_folder_writes_one_contact_sheet(tmp_path, rng, capsys):
    preset = save_tiny_classifier_preset(tmp_path / "preset")
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        pixels = rng.integers(0, 256, (32, 40, 3), dtype="uint8")
        PIL.Image.fromarray(pixels).save(folder / f"{i}.png")
    out = tmp_path / "out" / "sheet.png"
    out.parent.mkdir()
    assert main(["explain", str(preset), str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"contact sheet of 5 image(s) written to {out}" in printed
    assert printed.count("class 'class_") == 5
    assert [p.name for p in out.parent.iterdir()] == ["sheet.png"]
    cell = CELL_INCHES * DPI
    assert PIL.Image.open(out).size == (round(3.5 * cell), round(2.25 * cell))
    # Several files name the images of one sheet too.
    paths = sorted(map(str, folder.iterdir()))[:2]
    assert main(["explain", str(preset), *paths, "--out", str(out), "--class", "3",
                 "--overwrite"]) == 0  # fmt: skip
    assert capsys.readouterr().out.count("class 'class_3'") == 2
    assert PIL.Image.open(out).size == (round(2.5 * cell), round(1.25 * cell))


def squares(count, rng):
    """Dark noise with an 8x8 square at a random place: red for class 0,
    green for class 1. Both classes need the square: its colour decides."""
    images = rng.integers(0, 60, (count, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 2, count)
    corners = rng.integers(0, 24, (count, 2))
    for image, label, (row, column) in zip(images, labels, corners):
        image[row : row + 8, column : column + 8] = 40
        image[row : row + 8, column : column + 8, label] = 240
    return images, labels, corners


@pytest.mark.slow
def test_a_trained_model_heat_sits_on_what_decides_the_class():
    # The digits demo's architecture (three blocks at 32x32: a final map of
    # 2x2 cells), trained to tell a red square from a green one.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=2,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )  # fmt: skip
    classifier.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    images, labels, _ = squares(160, rng)
    classifier.fit(images, labels, epochs=3, batch_size=32, verbose=0)
    images, labels, corners = squares(16, np.random.default_rng(1))
    assert np.mean(classifier.predict(images, verbose=0).argmax(-1) == labels) >= 0.9
    heat = grad_cam(classifier, images, class_index=labels)
    # The final 2x2 map is too coarse to point at a square: the 4x4 level is used.
    assert heat.shape == (16, 4, 4)
    assert heat.std(axis=(1, 2)).min() > 0.15
    for one, (row, column) in zip(heat, corners):
        stretched = np.asarray(
            PIL.Image.fromarray(one.astype("float32")).resize((32, 32), PIL.Image.BILINEAR)
        )
        inside = stretched[row : row + 8, column : column + 8].mean()
        outside = (stretched.sum() - stretched[row : row + 8, column : column + 8].sum()) / (
            32 * 32 - 64
        )
        assert inside > 2 * outside
