"""A preset from anywhere, saved as a self-contained local folder: for a
machine with network access to fetch what an offline machine then loads."""

import shutil

from densenet_hub.base.publish import check_output_folder
from densenet_hub.base.publish import published
from densenet_hub.models import Backbone
from densenet_hub.models import ImageClassifier
from densenet_hub.presets.inspection import inspect
from densenet_hub.presets.saver import save_preset


def save_offline_copy(preset, folder, overwrite=False):
    """Fetches `preset` and saves it in `folder`, which then loads anywhere
    with `from_preset(folder)` and no network.

    What the preset's source only implies is written out: a built-in preset's
    overrides (torch's `"symmetric"` stem padding, which KerasHub's files do
    not state), a timm checkpoint's conversion, and the class names (ImageNet's
    for the built-in presets) and decision thresholds saved beside a
    classifier. The folder holds KerasHub's file set, so KerasHub reads it
    too. A folder `densenet_hub.runtime.AcceleratedModel.save` wrote is
    copied as it is.

    Args:
        preset: a built-in name or alias, a `kaggle://` or `hf://` handle, or
            a local folder.
        folder: the folder to write; it must not exist or be empty, unless
            `overwrite`.
        overwrite: replace a non-empty `folder`.

    Returns:
        The `PresetInfo` of the copy (`densenet_hub.presets.inspect(folder)`).

    Raises:
        FileExistsError: `folder` is not empty and `overwrite` is False.

    Example:
    ```python
    import tempfile
    import numpy as np
    import densenet_hub
    from densenet_hub.convert import save_offline_copy

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    source = tempfile.mkdtemp() + "/source"
    backbone.save_to_preset(source)
    copy = save_offline_copy(source, tempfile.mkdtemp() + "/copy")
    assert copy.kind == "backbone"
    again = densenet_hub.models.Backbone.from_preset(copy.folder)
    images = np.ones((1, 32, 32, 3), "float32")
    np.testing.assert_array_equal(again.predict(images, verbose=0), backbone.predict(images, verbose=0))
    ```
    """
    check_output_folder(folder, overwrite)
    info = inspect(preset)
    if info.kind == "accelerated":
        with published(folder, overwrite) as staging:
            shutil.copytree(info.folder, staging, dirs_exist_ok=True)
    elif info.kind == "classifier":
        classifier = ImageClassifier.from_preset(info.to_load)
        labels = info.class_labels(classifier.num_classes, classifier.multi_label)
        save_preset(classifier, folder, overwrite=overwrite, extra_files=labels.files())
    else:
        save_preset(Backbone.from_preset(info.to_load), folder, overwrite=overwrite)
    return inspect(folder)
