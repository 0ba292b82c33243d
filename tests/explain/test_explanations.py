"""`densenet_hub.explain.explain_image`: which classes it explains (the
chosen one, the findings at their thresholds most probable first, or the top
class), their probabilities and Grad-CAM maps, and the image as the model
sees it; and the picture of one."""

import io

import numpy as np
import PIL.Image
import pytest
from helpers.models import build_tiny_classifier
from helpers.models import build_tiny_preprocessor

from densenet_hub.explain import draw_explanation
from densenet_hub.explain import explain_image
from densenet_hub.explain import grad_cam


def test_the_chosen_class_the_top_class_and_the_findings_at_their_thresholds(rng):
    classifier = build_tiny_classifier(num_classes=4, activation="sigmoid")
    image = rng.integers(0, 256, (32, 32, 3), dtype="uint8")
    probabilities = classifier.predict(image[None], verbose=0)[0]
    order = np.argsort(-probabilities, kind="stable")
    (top,) = explain_image(classifier, image)
    assert top.class_index == order[0]
    assert top.probability == pytest.approx(float(probabilities[order[0]]), abs=1e-6)
    np.testing.assert_allclose(top.heat, grad_cam(classifier, [image], int(order[0]))[0],
                               atol=1e-6)  # fmt: skip
    (chosen,) = explain_image(classifier, image, class_index=int(order[2]))
    assert chosen.class_index == order[2]
    # Every finding at or above its threshold, most probable first.
    thresholds = np.where(np.isin(np.arange(4), order[[1, 3]]), 0.0, 1.0)
    findings = explain_image(classifier, image, thresholds=thresholds)
    assert [e.class_index for e in findings] == [order[1], order[3]]
    # None at its threshold: the most probable one.
    (fallback,) = explain_image(classifier, image, thresholds=[1.0] * 4)
    assert fallback.class_index == order[0]


def test_the_image_is_the_centred_window_a_cropping_converter_keeps(rng):
    classifier = build_tiny_classifier(
        preprocessor=build_tiny_preprocessor(crop_to_aspect_ratio=True)
    )
    wide = rng.integers(0, 256, (32, 48, 3), dtype="uint8")
    (explanation,) = explain_image(classifier, wide)
    np.testing.assert_array_equal(explanation.image, wide[:, 8:40])
    tall = rng.integers(0, 256, (50, 32, 3), dtype="uint8")
    np.testing.assert_array_equal(explain_image(classifier, tall)[0].image, tall[9:41])


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(class_index=5), "`class_index` must be None or an int from 0 to 4, got 5"),
        (dict(class_index=1.0), "got 1.0"),
        (dict(thresholds=[0.5] * 3), r"one threshold per output \(5\), got 3"),
    ],
)
def test_bad_arguments_are_named(rng, arguments, message):
    image = rng.integers(0, 256, (32, 32, 3), dtype="uint8")
    with pytest.raises(ValueError, match=message):
        explain_image(build_tiny_classifier(), image, **arguments)


def test_the_picture_of_a_float_image_into_a_file_object(rng):
    # DICOM and 16-bit images arrive as float levels in [0, 255].
    image = rng.uniform(0, 255, (40, 48, 3)).astype("float32")
    data = io.BytesIO()
    draw_explanation(data, image, rng.random((4, 4)), "Edema", 0.81)
    data.seek(0)
    with PIL.Image.open(data) as picture:
        assert picture.format == "PNG" and picture.width > 1.5 * picture.height
