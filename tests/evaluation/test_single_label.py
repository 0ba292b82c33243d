"""`densenet_hub.evaluation.single_label_report`: accuracy, top-k accuracy,
per-class precision and recall and the confusion matrix equal
scikit-learn's on the same predictions, with classes that are a subset of
the outputs; the text and the JSON; bad input named."""

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score
from sklearn.metrics import confusion_matrix
from sklearn.metrics import precision_score
from sklearn.metrics import recall_score
from sklearn.metrics import top_k_accuracy_score

from densenet_hub.evaluation import single_label_report
from densenet_hub.evaluation.single_label import OTHER_CLASSES

NAMES = ["cat", "dog", "fox", "owl"]


def predictions(rng, images=200, outputs=4):
    labels = rng.integers(0, outputs, images)
    logits = rng.normal(size=(images, outputs))
    logits[np.arange(images), labels] += 1.5  # Right more often than not.
    return labels, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_every_class_is_an_output_in_order_as_scikit_learn_counts(rng):
    labels, probabilities = predictions(rng)
    predicted = probabilities.argmax(axis=1)
    report = single_label_report(labels, probabilities, NAMES, top_k=2)
    assert report.images == 200 and report.top_k == 2
    assert report.accuracy == pytest.approx(accuracy_score(labels, predicted), abs=1e-12)
    expected = top_k_accuracy_score(labels, probabilities, k=2, labels=range(4))
    assert report.top_k_accuracy == pytest.approx(expected, abs=1e-12)
    np.testing.assert_array_equal(report.confusion_matrix, confusion_matrix(labels, predicted))
    assert report.class_names == report.predicted_names == NAMES
    precisions = precision_score(labels, predicted, average=None)
    recalls = recall_score(labels, predicted, average=None)
    for index, metrics in enumerate(report.classes):
        assert metrics.name == NAMES[index]
        assert metrics.precision == pytest.approx(precisions[index], abs=1e-12)
        assert metrics.recall == pytest.approx(recalls[index], abs=1e-12)
        assert metrics.images == np.sum(labels == index)


def test_classes_mapped_to_some_outputs_count_other_predictions_apart(rng):
    # Two evaluated classes of a 4-output classifier, as outputs 3 and 1;
    # a prediction of output 0 or 2 is a miss in the "(other)" column.
    labels = rng.integers(0, 2, 150)
    outputs = np.array([3, 1])
    _, probabilities = predictions(rng, 150)
    probabilities[np.arange(150), outputs[labels]] += 0.3
    truth, predicted = outputs[labels], probabilities.argmax(axis=1)
    report = single_label_report(labels, probabilities, ["owl", "dog"], outputs=outputs)
    assert report.accuracy == pytest.approx(accuracy_score(truth, predicted), abs=1e-12)
    full = confusion_matrix(truth, predicted, labels=[3, 1, 0, 2])[:2]
    expected = np.column_stack([full[:, :2], full[:, 2:].sum(axis=1)])
    assert full[:, 2:].sum() > 0  # The extra column really is used.
    np.testing.assert_array_equal(report.confusion_matrix, expected)
    assert report.predicted_names == ["owl", "dog", OTHER_CLASSES]
    precisions = precision_score(truth, predicted, labels=[3, 1], average=None)
    recalls = recall_score(truth, predicted, labels=[3, 1], average=None)
    assert [c.precision for c in report.classes] == pytest.approx(precisions, abs=1e-12)
    assert [c.recall for c in report.classes] == pytest.approx(recalls, abs=1e-12)
    # Top-k counts an image right when its class's output is among its k best.
    expected = top_k_accuracy_score(truth, probabilities, k=3, labels=range(4))
    assert report.top_k_accuracy == pytest.approx(expected, abs=1e-12)
    # Without any "other" prediction the column is left out.
    probabilities[:, [0, 2]] = 0
    assert single_label_report(labels, probabilities, ["owl", "dog"], outputs).predicted_names == [
        "owl", "dog"
    ]  # fmt: skip


def test_top_k_is_clipped_and_undefined_shares_are_none():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2]])
    report = single_label_report([0, 0], probabilities, ["cat", "dog"])
    assert report.top_k == 2 and report.top_k_accuracy == 1.0
    dog = report.classes[1]
    assert (dog.precision, dog.recall, dog.images) == (None, None, 0)


def test_table_and_json(rng):
    labels, probabilities = predictions(rng, 40)
    report = single_label_report(labels, probabilities, NAMES)
    lines = report.table().splitlines()
    assert lines[:4] == [
        "images: 40", f"accuracy: {report.accuracy:.4f}",
        f"top-4 accuracy: {report.top_k_accuracy:.4f}", "",
    ]  # fmt: skip
    assert lines[4].split() == ["class", "precision", "recall", "images"]
    assert lines[6].split()[0] == "cat" and len(lines) == 6 + len(NAMES)
    document = json.loads(json.dumps(report.to_json()))
    assert list(document) == ["images", "accuracy", "top_k", "top_k_accuracy", "classes"]
    assert list(document["classes"]) == NAMES
    assert document["classes"]["fox"]["images"] == report.classes[2].images


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(probabilities=np.ones(3)), r"`probabilities` must have shape \(images, outputs\)"),
        (dict(probabilities=[[np.nan, 1], [0, 1], [1, 0]]), "must be finite, got nan at row 0"),
        (dict(labels=[0, 1]), r"`labels` must hold one class index from 0 to 1 per image \(3\)"),
        (dict(labels=[0, 2, 1]), "`labels` must hold one class index from 0 to 1"),
        (dict(labels=[0.0, 1.0, 1.0]), "got float64 values"),
        (dict(outputs=[1, 1]), r"`outputs` must name a distinct output .* got \[1, 1\]"),
        (dict(outputs=[0, 2]), "a distinct output from 0 to 1"),
        (dict(class_names=[]), "`class_names` is empty"),
        (dict(top_k=0), "`top_k` must be a whole number above 0"),
    ],
)
def test_bad_input_names_the_argument_and_the_values(change, message):
    arguments = dict(
        labels=[0, 1, 1], probabilities=[[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]],
        class_names=["cat", "dog"],
    )  # fmt: skip
    with pytest.raises(ValueError, match=message):
        single_label_report(**{**arguments, **change})
