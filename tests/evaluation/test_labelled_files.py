"""`densenet_hub.evaluation.evaluate_folder`: class folders matched to the
classifier's outputs by name, or by order with a warning when the outputs
are unnamed; unreadable images left out with their labels; a folder that is
no output named."""

import numpy as np
import PIL.Image
import pytest

from densenet_hub.data import SkippedImageWarning
from densenet_hub.evaluation import evaluate_folder
from densenet_hub.evaluation import single_label_report
from densenet_hub.inference import score_files


@pytest.fixture
def folder(tmp_path, rng):
    """Class folders `b` and `a` (sorted: a, b), three images each."""
    root = tmp_path / "data"
    for name in ("b", "a"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype="uint8")
            PIL.Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_folders_matched_by_name_and_unreadable_images_left_out(tiny_classifier, folder):
    (folder / "a" / "broken.png").write_bytes(b"not a PNG")
    outputs = ["x", "a", "y", "b", "z"]
    with pytest.warns(SkippedImageWarning, match="broken.png"):
        report = evaluate_folder(tiny_classifier, folder, outputs, batch_size=2)
    readable = sorted(folder.glob("a/[0-9].png")) + sorted(folder.glob("b/*.png"))
    probabilities, _ = score_files(tiny_classifier, readable)
    expected = single_label_report([0, 0, 0, 1, 1, 1], probabilities, ["a", "b"], [1, 3])
    assert report.images == 6 and report.class_names == ["a", "b"]
    assert report.accuracy == expected.accuracy
    np.testing.assert_array_equal(report.confusion_matrix, expected.confusion_matrix)
    assert report.predicted_names == expected.predicted_names


def test_unnamed_outputs_are_taken_in_order_with_a_warning(tiny_classifier, folder):
    with pytest.warns(UserWarning, match="matching the class folders to class indices 0, 1"):
        report = evaluate_folder(tiny_classifier, folder)
    named = evaluate_folder(tiny_classifier, folder, ["a", "b", "c", "d", "e"])
    np.testing.assert_array_equal(report.confusion_matrix, named.confusion_matrix)


def test_a_folder_that_is_no_output_is_named(tiny_classifier, folder):
    with pytest.raises(ValueError, match=r"class folder\(s\) 'b' are not classes of the preset"):
        evaluate_folder(tiny_classifier, folder, ["a", "c", "d", "e", "f"])
