"""Helpers shared by the CLI test modules."""

import numpy as np
import PIL.Image


def error_line(capsys):
    """The one `densenet-hub: error:` line a failed command printed, with no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("densenet-hub: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def write_graded_noise_images(root, classes, images_per_class):
    """`root/<class>/<i>.png`: 32x32 noise, darkest for the first class, brightest for the last."""
    rng = np.random.default_rng(5)
    for level, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(images_per_class):
            pixels = rng.integers(0, 80, size=(32, 32, 3)) + 80 * level
            PIL.Image.fromarray(pixels.astype("uint8")).save(root / name / f"{i}.png")
    return root
