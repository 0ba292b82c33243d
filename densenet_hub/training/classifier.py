"""The classifier a training run starts from, and saving it with its class
labels."""

import keras

from densenet_hub.base import file_names as names
from densenet_hub.base.json_files import read_json
from densenet_hub.base.publish import check_output_folder
from densenet_hub.inference.loading import ensure_preprocessor
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import ImageClassifier
from densenet_hub.presets.builtin import find_builtin
from densenet_hub.presets.class_labels import class_labels_of
from densenet_hub.presets.class_labels import default_class_names
from densenet_hub.presets.resolver import local_folder
from densenet_hub.presets.saver import save_preset


def classifier_for_training(
    preset, num_classes, pretrained=True, image_size=None, class_names=None, multi_label=False
):
    """A classifier with a new `num_classes` head on `preset`'s backbone, with
    a sigmoid per class when `multi_label`.

    A multi-label classifier preset whose head already has `class_names`
    (or as many unnamed classes, such as a converted CheXNet checkpoint) keeps
    its head, so that training continues it. With `pretrained=False` the
    weights are fresh; a built-in name is then built from the `presets`
    table, with no download.

    Args:
        preset: a built-in name, handle or preset folder.
        num_classes: the classes (findings) of the new head.
        pretrained: load the preset's weights; `False`: fresh weights, with
            BatchNorm statistics that follow a short run
            (`use_from_scratch_batchnorm`).
        image_size: `None` or the `(height, width)` to train at.
        class_names: the classes' names, to recognise a head to continue.
        multi_label: a sigmoid per class (e.g. `objective.multi_label`).

    Example:
    ```python
    import tempfile
    import densenet_hub
    from densenet_hub.training.classifier import classifier_for_training

    folder = f"{tempfile.mkdtemp()}/base"
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    densenet_hub.models.DenseNetImageClassifier(
        densenet_hub.models.DenseNetBackbone(stackwise_num_repeats=[2, 2], growth_rate=4),
        num_classes=5,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    ).save_to_preset(folder)
    classifier = classifier_for_training(folder, 3, multi_label=True)  # a new 3-class head
    assert classifier.num_classes == 3 and classifier.multi_label
    assert classifier.preprocessor.image_size == (32, 32)
    ```
    """
    activation = "sigmoid" if multi_label else None
    builtin = find_builtin(preset)
    continued = multi_label and pretrained
    classifier = _continued_head(preset, num_classes, class_names) if continued else None
    if classifier is None and builtin is not None and not pretrained:
        backbone = DenseNetBackbone(**builtin.config, **builtin.overrides)
        classifier = DenseNetImageClassifier(
            backbone, num_classes=num_classes, activation=activation
        )
    elif classifier is None:
        classifier = ImageClassifier.from_preset(
            preset, num_classes=num_classes, load_weights=pretrained, activation=activation
        )
    if not pretrained:
        use_from_scratch_batchnorm(classifier)
    ensure_preprocessor(classifier, image_size)
    return classifier


def _continued_head(preset, num_classes, class_names):
    """`preset`'s classifier with a sigmoid head when its classes are
    `class_names` (or `num_classes` unnamed ones), else `None`."""
    folder = local_folder(preset)
    if folder is None or not (folder / names.TASK_FILE).is_file():
        return None
    # Read from task.json, so that a head that does not fit costs no load.
    if read_json(folder / names.TASK_FILE).get("config", {}).get("num_classes") != num_classes:
        return None
    preset_names = class_labels_of(preset, num_classes).names
    unnamed = preset_names == default_class_names(num_classes)
    if not (unnamed or class_names is not None and preset_names == list(class_names)):
        return None
    shown = "unnamed classes, taken in the table's order" if unnamed else "the same findings"
    print(f"continuing the preset's {num_classes}-class head ({shown})")
    return ImageClassifier.from_preset(preset, activation="sigmoid")


def save_classifier(classifier, labels, out, overwrite=False, extra_files=None):
    """Saves `classifier` as a preset folder with its `ClassLabels` files, in
    one atomic save: `out` ends up complete or unchanged.

    Args:
        classifier: the trained `ImageClassifier`.
        labels: its `ClassLabels`, e.g. `objective.class_labels(result)`.
        out: the preset folder to write.
        overwrite: replace a non-empty `out`.
        extra_files: more `{file name: bytes}` to save in the folder, e.g.
            the training history (`densenet_hub.training.history.history_files`).

    Raises:
        FileExistsError: `out` is a file, or not empty without `overwrite`.

    Example:
    ```python
    import json, tempfile
    import densenet_hub
    from densenet_hub.presets.class_labels import ClassLabels
    from densenet_hub.training.classifier import save_classifier

    classifier = densenet_hub.models.DenseNetImageClassifier(
        densenet_hub.models.DenseNetBackbone(stackwise_num_repeats=[2, 2], growth_rate=4),
        num_classes=2,
    )
    out = f"{tempfile.mkdtemp()}/preset"
    save_classifier(classifier, ClassLabels(["cat", "dog"]), out)
    assert json.load(open(f"{out}/class_names.json")) == ["cat", "dog"]
    ```
    """
    check_output_folder(out, overwrite)
    files = {**labels.files(), **(extra_files or {})}
    save_preset(classifier, out, overwrite=overwrite, extra_files=files)


# Keras' default BatchNormalization momentum, 0.99, suits long runs and
# pretrained statistics: the moving averages forget a step's batch
# statistics over about 100 steps. A backbone trained from scratch starts
# them at mean 0 and variance 1 while its activations drift fast, so after a
# few dozen steps the averages still mostly hold the initial values and
# validation (which uses them) scores near chance while training accuracy
# climbs. 0.9, torchvision's default (its momentum=0.1) and DenseNet's
# original setting, forgets over about 10 steps.
FROM_SCRATCH_BATCHNORM_MOMENTUM = 0.9


def use_from_scratch_batchnorm(model, momentum=FROM_SCRATCH_BATCHNORM_MOMENTUM):
    """Sets every BatchNormalization layer of `model` to `momentum`, for
    training fresh weights in few steps; pretrained models keep Keras'
    default. The setting is not saved with the model (a preset stores the
    architecture's config, not the layers' momentum).

    Example:
    ```python
    import keras
    import densenet_hub
    from densenet_hub.training.classifier import use_from_scratch_batchnorm

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    use_from_scratch_batchnorm(backbone)
    layers = [l for l in backbone._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    assert layers and all(layer.momentum == 0.9 for layer in layers)
    ```
    """
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
