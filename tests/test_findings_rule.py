"""One findings rule (`densenet_hub.presets.class_labels.at_or_above`): a
finding is positive when its probability is at or above its threshold,
compared exactly. Predict and the server (`ClassLabels.ranked_findings`),
batch jobs' columns and explain call the same findings, also for a float32
probability just under a threshold that rounds to it in float32."""

import numpy as np
import pyarrow as pa
from helpers.models import build_tiny_classifier

from densenet_hub.batch.runners import POSITIVE_SUFFIX
from densenet_hub.batch.runners import Findings
from densenet_hub.explain import explain_image
from densenet_hub.presets.class_labels import ClassLabels

NAMES = ["Edema", "Effusion", "Atelectasis"]


def just_above(probabilities):
    """The next float64 above each float32 probability: the same in float32."""
    probabilities = np.asarray(probabilities, "float32")
    above = np.nextafter(probabilities.astype("float64"), 1.0)
    assert np.array_equal(above.astype("float32"), probabilities)
    return above.tolist()


def test_batch_columns_decide_as_predict_does():
    scores = np.float32([[0.3, 0.6, 0.05], [0.7, 0.2, 0.5]])
    # At the first, just over the second's 0.6, at the third's 0.5.
    thresholds = [float(scores[0, 0]), just_above(scores[0, 1]), float(scores[1, 2])]
    labels = ClassLabels(NAMES, thresholds)
    columns = Findings(NAMES, thresholds).columns(pa, {0: scores[0], 2: scores[1]}, 3)
    decisions = [columns[name + POSITIVE_SUFFIX].to_pylist() for name in NAMES]

    expected = [[True, False, False], [True, False, True]]
    assert np.transpose(decisions).tolist() == [expected[0], [None] * 3, expected[1]]
    assert labels.decisions(scores).tolist() == expected
    for row, image_scores in zip(expected, scores):
        ranked = labels.ranked_findings(image_scores)
        assert {found["index"]: found["positive"] for found in ranked} == dict(enumerate(row))


def test_explain_draws_the_findings_predict_calls_positive(rng):
    classifier = build_tiny_classifier(num_classes=3, activation="sigmoid")
    image = rng.integers(0, 256, (32, 32, 3), dtype="uint8")
    probabilities = np.float32(
        [explain_image(classifier, image, class_index=i)[0].probability for i in range(3)]
    )
    order = np.argsort(-probabilities, kind="stable")

    # A threshold equal to the probability: every finding, most probable first.
    at = explain_image(classifier, image, thresholds=probabilities.tolist())
    assert [e.class_index for e in at] == order.tolist()
    # Just above each (as a preset's JSON holds it): none, so the most
    # probable one alone, as predict's ranked findings say.
    over = just_above(probabilities)
    (top,) = explain_image(classifier, image, thresholds=over)
    assert top.class_index == order[0]
    ranked = ClassLabels(NAMES, over).ranked_findings(probabilities)
    assert [found["positive"] for found in ranked] == [False] * 3
