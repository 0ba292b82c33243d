"""Running a classifier over image files, batch by batch, for class
probabilities whatever its head's activation."""

import keras
import numpy as np

from densenet_hub.inference.batches import iterate_batches
from densenet_hub.models.head_activation import head_activation
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE


def to_probabilities(classifier, scores):
    """Class probabilities from a classifier's output: a softmax or sigmoid
    head's pass through, logits get a softmax (see `head_activation`)."""
    if head_activation(classifier) == "logits":
        return keras.ops.convert_to_numpy(keras.ops.softmax(scores, axis=-1))
    return keras.ops.convert_to_numpy(scores)


def score_files(
    classifier, paths, batch_size=DEFAULT_BATCH_SIZE, on_error="skip", predictor=None,
    on_batch=None,
):  # fmt: skip
    """Class probabilities of the images at `paths`, read batch by batch so
    that only one batch of images is in memory (`iterate_batches`: a path
    listed twice is scored twice, as two rows).

    Args:
        classifier: an `ImageClassifier` with its preprocessor.
        paths: image file paths.
        batch_size: images per batch.
        on_error: `"skip"` leaves unreadable files out (with a
            `densenet_hub.data.SkippedImageWarning`); `"fail"` raises.
        predictor: what runs each batch, default the classifier itself,
            e.g. an `AcceleratedModel` of it.
        on_batch: `None`, or a function called with the number of paths
            of each batch once it is done (a progress bar).

    Returns:
        `(probabilities, kept)`: a `(len(kept), num_classes)` array and the
        row indices into `paths` of the images that could be read.

    Raises:
        ValueError: when no image could be read.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.inference import score_files

    path = f"{tempfile.mkdtemp()}/a.png"
    PIL.Image.fromarray(np.zeros((32, 32, 3), "uint8")).save(path)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3, activation="sigmoid",
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    probabilities, kept = score_files(classifier, [path])
    assert probabilities.shape == (1, 3) and kept == [0]
    ```
    """
    predictor = predictor or classifier
    batches, kept = [], []
    for batch in iterate_batches(paths, batch_size, on_error):
        if batch.images:
            batches.append(to_probabilities(classifier, predictor.predict_on_batch(batch.images)))
            kept.extend(batch.rows)
        if on_batch is not None:
            on_batch(batch.size)
    if not batches:
        raise ValueError(
            f"none of the {len(paths)} image(s) could be decoded; see the "
            "warnings above."
        )
    return np.concatenate(batches), kept
