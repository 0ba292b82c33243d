"""Explanations of one image: which classes to explain (the most probable
one, a chosen one, or every finding at or above its threshold), their
probabilities, their Grad-CAM heat maps, and the image as the model sees
it, ready to draw."""

import dataclasses

import numpy as np

from densenet_hub.explain.heat_maps import grad_cam
from densenet_hub.inference.batches import iterate_batches
from densenet_hub.inference.scoring import to_probabilities
from densenet_hub.presets.class_labels import at_or_above
from densenet_hub.presets.class_labels import most_probable_first

# Images read at a time by `explain_files`; each is explained on its own.
FILES_BATCH_SIZE = 8


@dataclasses.dataclass
class Explanation:
    """The Grad-CAM explanation of one class in one image.

    Attributes:
        class_index: the explained output of the classifier.
        probability: its probability for the image.
        heat: the Grad-CAM map, values in [0, 1], at the resolution of the
            backbone's output feature map (see `grad_cam`).
        image: the part of the image the model sees: its centred window
            when the preprocessor crops to its aspect ratio, else all of it.

    Example:
    ```python
    import numpy as np
    from densenet_hub.explain import Explanation

    explanation = Explanation(2, 0.9, np.zeros((4, 4)), np.zeros((32, 32, 3), "uint8"))
    assert explanation.class_index == 2
    ```
    """

    class_index: int
    probability: float
    heat: np.ndarray = dataclasses.field(repr=False)
    image: np.ndarray = dataclasses.field(repr=False)


def explain_image(classifier, image, class_index=None, thresholds=None):
    """Grad-CAM explanations of one image's prediction.

    Which classes are explained: `class_index` when given; else, with
    `thresholds` (a multi-label classifier), each class whose probability is
    at or above its threshold, most probable first, or the most probable
    class when none is; else the most probable class.

    Args:
        classifier: an `ImageClassifier`, with the preprocessor that resizes
            and scales its images (or none when `image` needs neither).
        image: one image, `(height, width, 3)`: uint8, or float levels in
            [0, 255], e.g. from `densenet_hub.data.read_image`.
        class_index: None, or the output to explain.
        thresholds: None, or one decision threshold per output (e.g. a
            preset's `ClassLabels.thresholds`).

    Returns:
        A list of `Explanation`, one per explained class, in that order.

    Example:
    ```python
    import numpy as np
    import densenet_hub
    from densenet_hub.explain import explain_image

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3, activation="sigmoid",
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    image = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype="uint8")
    (top,) = explain_image(classifier, image)
    # The converter crops to its square aspect ratio: the image is the centre.
    assert top.heat.shape == (4, 4) and top.image.shape == (40, 40, 3)
    findings = explain_image(classifier, image, thresholds=[0.0, 0.0, 1.0])
    assert sorted(e.class_index for e in findings) == [0, 1]
    ```
    """
    num_classes = classifier.num_classes
    if class_index is not None and not (
        isinstance(class_index, (int, np.integer))
        and not isinstance(class_index, bool)
        and 0 <= class_index < num_classes
    ):
        raise ValueError(
            f"explain_image: `class_index` must be None or an int from 0 to "
            f"{num_classes - 1}, got {class_index!r}."
        )
    if thresholds is not None and len(thresholds) != num_classes:
        raise ValueError(
            f"explain_image: `thresholds` must hold one threshold per output "
            f"({num_classes}), got {len(thresholds)}."
        )
    preprocessor = classifier.preprocessor
    x = np.asarray([image]) if preprocessor is None else preprocessor([image])
    probabilities = to_probabilities(classifier, classifier(x, training=False))[0]
    if class_index is not None:
        indices = [int(class_index)]
    elif thresholds is not None:
        indices = _positive_classes(probabilities, thresholds)
    else:
        indices = [int(np.argmax(probabilities))]
    view = _model_view(image, None if preprocessor is None else preprocessor.image_converter)
    return [
        Explanation(
            index,
            float(probabilities[index]),
            grad_cam(classifier, x, index, preprocessed=True)[0],
            view,
        )
        for index in indices
    ]


def explain_files(classifier, paths, class_index=None, on_error="skip", on_batch=None):
    """The Grad-CAM explanation of one class in each of many image files:
    `class_index`, else the image's most probable class (or finding).

    Args:
        classifier: as for `explain_image`.
        paths: image file paths.
        class_index: None, or the output to explain in every image.
        on_error: `"skip"` leaves unreadable files out (with a
            `densenet_hub.data.SkippedImageWarning`); `"fail"` raises.
        on_batch: `None`, or a function called with the number of paths of
            each batch once it is done (a progress bar).

    Returns:
        A list of `(path, Explanation)`, in the order of `paths`, without
        the unreadable files.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.explain import explain_files

    folder = pathlib.Path(tempfile.mkdtemp())
    paths = [folder / f"{i}.png" for i in range(3)]
    for i, path in enumerate(paths):
        PIL.Image.fromarray(np.full((32, 32, 3), 60 * i, "uint8")).save(path)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    explained = explain_files(classifier, paths, class_index=2)
    assert [path for path, _ in explained] == paths
    assert all(explanation.class_index == 2 for _, explanation in explained)
    ```
    """
    explained = []
    for batch in iterate_batches(paths, FILES_BATCH_SIZE, on_error):
        for row, image in zip(batch.rows, batch.images):
            (explanation,) = explain_image(classifier, image, class_index)
            explained.append((paths[row], explanation))
        if on_batch is not None:
            on_batch(batch.size)
    if not explained:
        raise ValueError(
            f"none of the {len(paths)} image(s) could be decoded; see the warnings above."
        )
    return explained


def _positive_classes(probabilities, thresholds):
    """The classes at or above their thresholds (`at_or_above`, as predict
    decides), most probable first; the most probable one when none is."""
    order = most_probable_first(probabilities)
    positive = [int(i) for i in order[at_or_above(probabilities, thresholds)[order]]]
    return positive or [int(order[0])]


def _model_view(image, converter):
    """The part of `image` the model sees: its centred window with the
    converter's aspect ratio when the converter crops, else all of it."""
    if converter is None or converter.image_size is None or not converter.crop_to_aspect_ratio:
        return image
    target_height, target_width = converter.image_size
    height, width = image.shape[:2]
    crop_height = min(height, round(width * target_height / target_width))
    crop_width = min(width, round(height * target_width / target_height))
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return image[top : top + crop_height, left : left + crop_width]
