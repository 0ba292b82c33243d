"""Pictures the commands write, drawn with Pillow: a confusion matrix and a
heat-map overlay."""

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

MAX_MATRIX_PIXELS = 800
MIN_CELL, MAX_CELL = 4, 48
MIN_CELL_FOR_COUNTS = 22
MIN_CELL_FOR_NAMES = 10
MAX_NAME_CHARACTERS = 16
MARGIN = 8
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
# Cells shade from white to this blue as their share of the row grows.
FULL_CELL = np.array([8, 48, 107], dtype="float64")
# Anchors of a "jet"-like ramp: blue (0) through cyan, yellow, to red (1).
HEAT_ANCHORS = np.array(
    [[0, 0, 128], [0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0], [128, 0, 0]],
    dtype="float64",
)


def confusion_matrix_image(matrix, row_names, column_names):
    """A picture of a confusion matrix: rows are true classes, columns
    predicted ones; cells shaded by their share of the row, with counts and
    class names when the cells are large enough.

    Args:
        matrix: `(rows, columns)` int counts.
        row_names, column_names: the class names along each axis.

    Returns:
        A `PIL.Image.Image` (RGB).

    Example:
    ```python
    import numpy as np
    from densenet_hub.cli.drawing import confusion_matrix_image

    image = confusion_matrix_image(np.array([[5, 1], [0, 4]]), ["a", "b"], ["a", "b"])
    image.save("/tmp/confusion.png")
    ```
    """
    matrix = np.asarray(matrix)
    font = PIL.ImageFont.load_default()
    cell = int(np.clip(MAX_MATRIX_PIXELS // max(matrix.shape), MIN_CELL, MAX_CELL))
    show_names = cell >= MIN_CELL_FOR_NAMES
    row_labels = _labels(font, row_names) if show_names else []
    column_labels = _labels(font, column_names) if show_names else []
    left = MARGIN + max((label.width for label in row_labels), default=0) + MARGIN
    top = 2 * MARGIN + _line_height(font) + max((label.width for label in column_labels), default=0)
    width = left + cell * matrix.shape[1] + MARGIN
    height = top + cell * matrix.shape[0] + MARGIN
    image = PIL.Image.new("RGB", (width, height), WHITE)
    draw = PIL.ImageDraw.Draw(image)
    draw.text((MARGIN, MARGIN), "true (rows) vs predicted (columns)", fill=BLACK, font=font)
    _draw_cells(draw, font, matrix, left, top, cell)
    for row, label in enumerate(row_labels):
        y = top + row * cell + (cell - label.height) // 2
        image.paste(label, (left - MARGIN - label.width, y))
    for column, label in enumerate(column_labels):
        vertical = label.rotate(90, expand=True)
        x = left + column * cell + (cell - vertical.width) // 2
        image.paste(vertical, (x, top - MARGIN - vertical.height))
    return image


def _draw_cells(draw, font, matrix, left, top, cell):
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    shares = matrix / totals
    for (row, column), count in np.ndenumerate(matrix):
        share = shares[row, column]
        colour = tuple(int(c) for c in np.round(255 + (FULL_CELL - 255) * share))
        x, y = left + column * cell, top + row * cell
        draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=colour, outline=(200, 200, 200))
        if cell >= MIN_CELL_FOR_COUNTS and count:
            text = str(int(count))
            box = draw.textbbox((0, 0), text, font=font)
            draw.text(
                (x + (cell - box[2]) // 2, y + (cell - box[3]) // 2),
                text,
                fill=WHITE if share > 0.5 else BLACK,
                font=font,
            )


def _labels(font, names):
    """Each name as a small black-on-white picture."""
    pictures = []
    for name in names:
        text = str(name)[:MAX_NAME_CHARACTERS]
        box = font.getbbox(text)
        picture = PIL.Image.new("RGB", (max(box[2], 1), _line_height(font)), WHITE)
        PIL.ImageDraw.Draw(picture).text((0, 0), text, fill=BLACK, font=font)
        pictures.append(picture)
    return pictures


def _line_height(font):
    return font.getbbox("Ag")[3] + 2


def heat_colours(values):
    """RGB uint8 colours for `values` in [0, 1] on a blue-to-red ramp."""
    positions = np.clip(values, 0.0, 1.0) * (len(HEAT_ANCHORS) - 1)
    lower = np.minimum(np.floor(positions).astype("int64"), len(HEAT_ANCHORS) - 2)
    weight = (positions - lower)[..., None]
    colours = HEAT_ANCHORS[lower] * (1 - weight) + HEAT_ANCHORS[lower + 1] * weight
    return np.round(colours).astype("uint8")


def heat_overlay(image, heat, opacity=0.5):
    """`image` (uint8 RGB) with the heat map (values in [0, 1], any size)
    stretched over it and blended in with `opacity`."""
    height, width = image.shape[:2]
    heat_picture = PIL.Image.fromarray(np.asarray(heat, dtype="float32"))
    stretched = np.asarray(heat_picture.resize((width, height), PIL.Image.BILINEAR))
    blended = (1 - opacity) * image + opacity * heat_colours(stretched)
    return PIL.Image.fromarray(np.round(blended).astype("uint8"))
