"""`densenet_hub.training.LabelledBatches`: evaluation batches padded to a
multiple of the replicas and masked, so that validation covers every image
once and gives the one-device loss and accuracy on any device count."""

import numpy as np
import pytest
from helpers.cli import write_graded_noise_images
from helpers.models import build_tiny_classifier

from densenet_hub.data import find_labelled_images
from densenet_hub.training import LabelledBatches


@pytest.fixture
def labelled(tmp_path):
    # 7 images: batches of 4 leave a last batch of 3.
    root = write_graded_noise_images(tmp_path / "data", ["a", "b", "c", "d", "e", "f", "g"], 1)
    paths, labels, _ = find_labelled_images(root)
    return paths, np.asarray(labels)


def _batches(labelled, classifier, **kwargs):
    paths, labels = labelled
    return LabelledBatches(paths, labels, 4, classifier.preprocessor, **kwargs)


@pytest.mark.parametrize("replicas", [2, 4])
def test_padded_masked_evaluation_equals_one_device(labelled, replicas):
    classifier = build_tiny_classifier(num_classes=7)
    one_device = _batches(labelled, classifier)
    padded = _batches(labelled, classifier, replicas=replicas, cover_every_row=True)
    cut = _batches(labelled, classifier, replicas=replicas)

    # Every batch splits evenly over the replicas; the padding weighs nothing.
    for index in range(len(padded)):
        x, y, weights = padded[index]
        assert len(x) % replicas == 0 and len(x) == len(y) == len(weights)
    assert sum(int(np.count_nonzero(padded[i][2])) for i in range(len(padded))) == 7
    assert sum(len(cut[i][0]) for i in range(len(cut))) < 7  # what cutting lost

    # `finetune` compiles its accuracy as a weighted metric, as here.
    classifier.compile(metrics=[], weighted_metrics=["sparse_categorical_accuracy"])
    preprocessor, classifier.preprocessor = classifier.preprocessor, None
    expected = classifier.evaluate(one_device, return_dict=True, verbose=0)
    found = classifier.evaluate(padded, return_dict=True, verbose=0)
    classifier.preprocessor = preprocessor
    assert found["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert found["sparse_categorical_accuracy"] == pytest.approx(
        expected["sparse_categorical_accuracy"], abs=1e-7
    )


def test_training_batches_still_cut_to_the_replicas(labelled):
    classifier = build_tiny_classifier(num_classes=7)
    batches = _batches(labelled, classifier, replicas=2)
    assert [len(batches[i][0]) for i in range(len(batches))] == [4, 2]
    assert len(batches[0]) == 2  # (images, labels): no weights
