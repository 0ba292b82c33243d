"""ImageNet-1k class names and a top-k decoder for classifier outputs.

`IMAGENET_CLASSES` holds the 1000 short names in class-index order, as
torchvision publishes them (`_IMAGENET_CATEGORIES` in
`torchvision/models/_meta.py`, torchvision 0.29.1, BSD-3-Clause). They are
stored in `densenet_hub/data/imagenet_class_names.json`. torchvision made the
names unique, e.g. index 134 is "crane bird" and 517 "crane", 638 "maillot"
and 639 "maillot tank suit".
"""

import json
import numbers
from importlib import resources

import keras
import numpy as np

CLASS_NAMES_FILE = "imagenet_class_names.json"


def _load_class_names():
    text = resources.files("densenet_hub").joinpath("data", CLASS_NAMES_FILE)
    return tuple(json.loads(text.read_text(encoding="utf-8")))


IMAGENET_CLASSES = _load_class_names()


def decode_predictions(scores, top=5, class_names=None):
    """The `top` best classes of each image, best first.

    Scores are ranked as given: logits (a classifier's default output) and
    probabilities rank the same, and no softmax is applied, so the returned
    scores are on the scale that was passed in. Equal scores keep class-index
    order (lower index first).

    Args:
        scores: `(batch, num_classes)` scores, as a NumPy array, a backend
            tensor or nested lists. NaN scores are rejected.
        top: how many classes to return per image, at least 1; a value larger
            than the number of classes returns every class.
        class_names: names for the class indices; defaults to
            `IMAGENET_CLASSES`. Must have one name per score column.

    Returns:
        One list per image of `(index, name, score)` tuples, sorted by score,
        with a Python `int` index and `float` score.

    Example:
    ```python
    import numpy as np
    from densenet_hub import imagenet

    logits = np.zeros((1, 1000), dtype="float32")
    logits[0, 1] = 5.0  # goldfish
    logits[0, 0] = 3.0  # tench
    assert imagenet.decode_predictions(logits, top=2) == [[(1, "goldfish", 5.0), (0, "tench", 3.0)]]
    ```
    """
    scores = _scores_array(scores)
    names = _class_names(class_names)
    _check_top(top)
    if scores.shape[1] != len(names):
        raise ValueError(
            f"decode_predictions: `scores` has {scores.shape[1]} classes per "
            f"image but there are {len(names)} class names. Pass scores from "
            f"a {len(names)}-class head, or `class_names` with one name per "
            "score column."
        )
    count = min(int(top), scores.shape[1])
    results = []
    for row in scores:
        # A stable sort of the negated scores puts ties in index order.
        order = np.argsort(-row, kind="stable")[:count]
        results.append([(int(i), names[i], float(row[i])) for i in order])
    return results


def _scores_array(scores):
    try:
        array = np.asarray(keras.ops.convert_to_numpy(scores))
        dtype = keras.backend.standardize_dtype(array.dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(
            "decode_predictions: `scores` must be a numeric (batch, "
            f"num_classes) array or tensor, got {type(scores).__name__} "
            f"({error}). Pass the classifier's output."
        ) from None
    if not dtype.startswith(("int", "uint", "float", "bfloat")):
        raise ValueError(
            f"decode_predictions: `scores` must be numeric, got dtype {dtype}. "
            "Pass the classifier's float output."
        )
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(
            "decode_predictions: `scores` must have shape (batch, num_classes) "
            f"with both at least 1, got shape {array.shape}. For one image "
            "pass `scores[None]`."
        )
    # NumPy cannot sort bfloat16 (an ml_dtypes extension type) reliably.
    array = array.astype("float64")
    bad = np.flatnonzero(np.isnan(array).any(axis=1))
    if bad.size:
        raise ValueError(
            f"decode_predictions: `scores` contains NaN for image(s) "
            f"{bad.tolist()}; NaN cannot be ranked. Check the model's inputs "
            "and weights."
        )
    return array


def _class_names(class_names):
    if class_names is None:
        return IMAGENET_CLASSES
    names = () if isinstance(class_names, (str, bytes)) else tuple(class_names)
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError(
            "decode_predictions: `class_names` must be a non-empty sequence "
            f"of strings, got {class_names!r:.100}. Pass e.g. ['cat', 'dog']."
        )
    return names


def _check_top(top):
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
        raise ValueError(
            f"decode_predictions: `top` must be an integer >= 1, got {top!r}. "
            "Pass e.g. top=5."
        )
