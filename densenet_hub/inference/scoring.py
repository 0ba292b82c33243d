"""Running a classifier over image files, batch by batch, for class
probabilities whatever its head's activation."""

import keras
import numpy as np

from densenet_hub.base.choices import TTA_CHOICES
from densenet_hub.base.validation import check_choice
from densenet_hub.inference.augmentation import ten_crop_inputs
from densenet_hub.inference.batches import iterate_batches
from densenet_hub.models.head_activation import head_activation
from densenet_hub.models.image_classifier import ImageClassifier
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE


def to_probabilities(classifier, scores):
    """Class probabilities from a classifier's output: a softmax or sigmoid
    head's pass through, logits get a softmax (see `head_activation`)."""
    if head_activation(classifier) == "logits":
        return keras.ops.convert_to_numpy(keras.ops.softmax(scores, axis=-1))
    return keras.ops.convert_to_numpy(scores)


def tta_probabilities(classifier, images, tta="none", predictor=None):
    """Class probabilities of `images`, averaged over the views `tta` names.

    Args:
        classifier: an `ImageClassifier` with its preprocessor.
        images: raw images (e.g. `(height, width, 3)` uint8 arrays of any
            size), as `densenet_hub.inference.iterate_batches` decodes them.
        tta: `"none"`, `"flip"` or `"ten-crop"` (see
            `densenet_hub.inference.augmentation`).
        predictor: what runs a batch of raw images, default the classifier
            itself (e.g. an `AcceleratedModel` of it); `"ten-crop"` crops
            after the classifier's own resizing, so it needs the classifier.

    Returns:
        A `(len(images), num_classes)` float array.

    Example:
    ```python
    import numpy as np
    import densenet_hub
    from densenet_hub.inference import tta_probabilities

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3, activation="sigmoid",
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    images = [np.random.default_rng(0).integers(0, 255, (40, 48, 3)).astype("uint8")]
    probabilities = tta_probabilities(classifier, images, tta="ten-crop")
    assert probabilities.shape == (1, 3)
    ```
    """
    check_choice("tta_probabilities", "tta", tta, TTA_CHOICES)
    predictor = predictor or classifier
    if tta == "none":
        return to_probabilities(classifier, predictor.predict_on_batch(images))
    if tta == "flip":
        mirrored = [np.asarray(image)[:, ::-1] for image in images]
        views = [predictor.predict_on_batch(images), predictor.predict_on_batch(mirrored)]
        return np.mean([to_probabilities(classifier, view) for view in views], axis=0)
    if predictor is not classifier or not isinstance(classifier, ImageClassifier):
        raise ValueError(
            "tta_probabilities: ten-crop crops the classifier's resized images, "
            "so it runs on a Keras ImageClassifier; leave the accelerated model "
            "out (drop --runtime, or pass the preset instead of a quantized "
            "folder), or use tta='flip'."
        )
    crops = ten_crop_inputs(classifier.preprocessor.image_converter, images)
    # The crops are model inputs already: the model runs without its
    # preprocessor, the ten views of the batch at once.
    scores = classifier(crops.reshape(-1, *crops.shape[2:]), training=False)
    probabilities = to_probabilities(classifier, scores)
    return probabilities.reshape(10, len(images), -1).mean(axis=0)



def score_files(
    classifier, paths, batch_size=DEFAULT_BATCH_SIZE, on_error="skip", predictor=None,
    on_batch=None, tta="none",
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
        tta: test-time augmentation, `"none"`, `"flip"` or `"ten-crop"`
            (see `tta_probabilities`).

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
    check_choice("score_files", "tta", tta, TTA_CHOICES)
    batches, kept = [], []
    for batch in iterate_batches(paths, batch_size, on_error):
        if batch.images:
            batches.append(tta_probabilities(classifier, batch.images, tta, predictor))
            kept.extend(batch.rows)
        if on_batch is not None:
            on_batch(batch.size)
    if not batches:
        raise ValueError(
            f"none of the {len(paths)} image(s) could be decoded; see the "
            "warnings above."
        )
    return np.concatenate(batches), kept
