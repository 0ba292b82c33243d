"""ImageNet-1k class names and `decode_predictions`."""

import keras
import numpy as np
import pytest

from densenet_hub.imagenet import IMAGENET_CLASSES
from densenet_hub.imagenet import decode_predictions

# keras converts torch and TF tensors with a NumPy-2-deprecated call.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation:DeprecationWarning"
)


def test_there_are_1000_unique_names():
    assert isinstance(IMAGENET_CLASSES, tuple)
    assert len(IMAGENET_CLASSES) == 1000
    assert len(set(IMAGENET_CLASSES)) == 1000
    assert all(isinstance(n, str) and n.strip() == n and n for n in IMAGENET_CLASSES)


def test_known_indices_have_torchvisions_names():
    known = {
        0: "tench",
        1: "goldfish",
        2: "great white shark",
        134: "crane bird",
        207: "golden retriever",
        281: "tabby",
        340: "zebra",
        409: "analog clock",
        517: "crane",
        954: "banana",
        999: "toilet tissue",
    }
    for index, name in known.items():
        assert IMAGENET_CLASSES[index] == name


def test_top_classes_come_best_first_with_their_scores():
    logits = np.zeros((2, 1000), dtype="float32")
    logits[0, [3, 500, 999]] = [2.0, 9.5, -1.0]
    logits[1, [0, 1]] = [-4.0, -8.0]
    first, second = decode_predictions(logits, top=3)
    assert first[:2] == [(500, "cliff dwelling", 9.5), (3, "tiger shark", 2.0)]
    assert first[2][0] == 0  # then the zeros, in index order
    assert [i for i, _, _ in second] == [2, 3, 4]
    index, name, score = first[0]
    assert type(index) is int and type(name) is str and type(score) is float


def test_ties_keep_index_order():
    scores = np.array([[0.1, 0.3, 0.3, 0.2, 0.3]])
    ranked = decode_predictions(scores, top=5, class_names="a b c d e".split())
    assert ranked == [
        [(1, "b", 0.3), (2, "c", 0.3), (4, "e", 0.3), (3, "d", 0.2), (0, "a", 0.1)]
    ]


def test_logits_are_ranked_as_given_without_softmax(rng):
    logits = rng.normal(size=(3, 1000)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    from_logits = decode_predictions(logits)
    from_probabilities = decode_predictions(probabilities)
    for a, b, row in zip(from_logits, from_probabilities, logits):
        assert [i for i, _, _ in a] == [i for i, _, _ in b]
        assert [s for _, _, s in a] == [float(row[i]) for i, _, _ in a]


def test_backend_tensors_and_lists_decode_like_numpy(rng):
    scores = rng.normal(size=(2, 1000)).astype("float32")
    expected = decode_predictions(scores, top=4)
    assert decode_predictions(keras.ops.convert_to_tensor(scores), top=4) == expected
    assert decode_predictions(scores.tolist(), top=4) == expected


def test_bfloat16_scores_decode():
    scores = keras.ops.cast(keras.ops.convert_to_tensor([[0.0, 2.0, 1.0]]), "bfloat16")
    ranked = decode_predictions(scores, top=3, class_names=["a", "b", "c"])
    assert ranked == [[(1, "b", 2.0), (2, "c", 1.0), (0, "a", 0.0)]]


def test_top_larger_than_the_class_count_returns_every_class():
    scores = np.array([[1.0, 3.0, 2.0]])
    ranked = decode_predictions(scores, top=10, class_names=list("xyz"))
    assert [name for _, name, _ in ranked[0]] == ["y", "z", "x"]


def test_custom_class_names():
    scores = np.array([[0.2, 0.8]])
    ranked = decode_predictions(scores, top=1, class_names=["cat", "dog"])
    assert ranked == [[(1, "dog", 0.8)]]


@pytest.mark.parametrize(
    "scores, kwargs, words",
    [
        (np.zeros(1000), {}, ["(batch, num_classes)", "(1000,)", "scores[None]"]),
        (np.zeros((1, 2, 1000)), {}, ["(1, 2, 1000)"]),
        (np.zeros((0, 1000)), {}, ["(0, 1000)"]),
        (np.zeros((2, 10)), {}, ["10 classes", "1000 class names"]),
        (np.zeros((1, 3)), dict(class_names=["a", "b"]), ["3 classes", "2 class"]),
        (np.zeros((1, 1000)), dict(top=0), ["top", ">= 1", "0"]),
        (np.zeros((1, 1000)), dict(top=-3), ["top", "-3"]),
        (np.zeros((1, 1000)), dict(top=2.5), ["top", "2.5"]),
        (np.zeros((1, 1000)), dict(top=True), ["top", "True"]),
        (
            np.array([[0.0, np.nan], [np.nan, 1.0], [0, 1]]),
            dict(class_names=["a", "b"]),
            ["NaN", "[0, 1]"],
        ),
        (np.full((1, 2), "a"), dict(class_names=["a", "b"]), ["numeric"]),
        (np.zeros((1, 2), bool), dict(class_names=["a", "b"]), ["numeric", "bool"]),
        (np.zeros((1, 2)), dict(class_names=[1, 2]), ["class_names", "strings"]),
        (np.zeros((1, 2)), dict(class_names=[]), ["class_names", "non-empty"]),
        (np.zeros((1, 2)), dict(class_names="ab"), ["class_names", "'ab'"]),
    ],
)
def test_bad_arguments_are_rejected(scores, kwargs, words):
    with pytest.raises(ValueError) as error:
        decode_predictions(scores, **kwargs)
    for word in words:
        assert word in str(error.value)
