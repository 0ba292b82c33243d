"""A classifier answers good images after any sequence of rejected bad
batches, on every backend: a failed call must not leave it unusable (on JAX,
Keras detaches the variables' values during a loop and a raising batch used
to leave them detached)."""

import itertools

import numpy as np
import pytest

import densenet_hub

BAD_BATCHES = {
    "one channel": np.zeros((2, 40, 40, 1), "uint8"),
    "four channels": np.zeros((2, 40, 40, 4), "uint8"),
    "non-finite": np.full((2, 40, 40, 3), np.nan, "float32"),
}


def _classifier():
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    return densenet_hub.models.DenseNetImageClassifier(
        backbone,
        num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )


GOOD = np.random.default_rng(0).integers(0, 256, size=(4, 40, 48, 3), dtype="uint8")


@pytest.mark.parametrize("order", list(itertools.permutations(BAD_BATCHES, 2)), ids=" then ".join)
def test_predict_answers_after_two_rejected_batches(order):
    classifier = _classifier()
    expected = classifier.predict(GOOD, verbose=0)
    for name in order:
        with pytest.raises(ValueError):
            classifier.predict(BAD_BATCHES[name], verbose=0)
    np.testing.assert_array_equal(classifier.predict(GOOD, verbose=0), expected)


def test_evaluate_and_fit_answer_after_rejected_batches():
    classifier = _classifier()
    classifier.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    labels = np.array([0, 1, 2, 0])
    expected = classifier.predict(GOOD, verbose=0)
    for call in (classifier.evaluate, classifier.fit):
        with pytest.raises(ValueError):
            call(BAD_BATCHES["four channels"], np.array([0, 1]), verbose=0)
    np.testing.assert_array_equal(classifier.predict(GOOD, verbose=0), expected)
    history = classifier.fit(GOOD, labels, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(classifier.predict(GOOD, verbose=0), expected)


@pytest.mark.parametrize("channels", [1, 4])
def test_a_wrong_channel_count_is_named_with_the_fix(channels):
    with pytest.raises(ValueError, match=rf"takes images with 3 channels, got a batch with {channels}.*np.repeat"):
        _classifier().predict(np.zeros((2, 40, 40, channels), "uint8"), verbose=0)
