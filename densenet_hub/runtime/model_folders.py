"""A preset or an accelerated folder, for the commands that take either.

A folder `AcceleratedModel.save` (or `densenet-hub quantize`) wrote is read
here for what a command needs: a classifier with its preprocessing to score
image files (`load_scoring_model`), a feature model to embed them
(`embed_folder_files`), its description (`describe_folder`), and the Keras
classifier preset kept beside it for Grad-CAM (`explainable_preset`), since
an engine's graph has no gradients to take.
"""

import functools
import json
import pathlib
import warnings

import numpy as np

from densenet_hub.base.publish import check_target
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file
from densenet_hub.inference.batches import iterate_batches
from densenet_hub.inference.embedding import FINAL_LEVEL
from densenet_hub.inference.embedding import INDEX_SUFFIX
from densenet_hub.inference.embedding import POOLING_CHOICES
from densenet_hub.inference.embedding import EmbeddingFiles
from densenet_hub.inference.embedding import embed_files
from densenet_hub.inference.loading import load_backbone
from densenet_hub.inference.loading import load_classifier
from densenet_hub.models.head_activation import head_activation
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE
from densenet_hub.presets.inspection import PresetInfo
from densenet_hub.presets.inspection import inspect
from densenet_hub.runtime.accelerated_model import load_accelerated
from densenet_hub.runtime.saved_model import KERAS_PRESET_FOLDER

# The side of the blank input that finds a classifier's class count when
# the engine takes any image size; any size DenseNet accepts would do.
PROBE_SIDE = 32


def load_scoring_model(preset, image_size=None, multi_label=False, threads=None):
    """`(classifier, labels)` for a classifier preset or for the folder of
    an accelerated classifier (e.g. int8, from `densenet-hub quantize`).

    The classifier is an `ImageClassifier` (see
    `densenet_hub.inference.load_classifier`) or an `AcceleratedModel`
    with a `num_classes` attribute; either goes to
    `densenet_hub.inference.score_files` and `densenet_hub.evaluation`'s
    `evaluate_images` and `evaluate_table`.

    Args:
        preset: a built-in name, handle, preset folder or accelerated
            folder, or the `PresetInfo` of one.
        image_size: `(height, width)` to resize to instead of the preset's;
            refused for an accelerated folder, which resizes as saved.
        multi_label: the caller needs one probability per class: a logits
            head is read through a sigmoid (with a warning); a softmax head
            is refused.
        threads: an accelerated folder's inference threads; `None` for
            its runtime's default.

    Raises:
        ValueError: a folder that holds a feature model or no preprocessing,
            `image_size` for a folder, or a softmax head with `multi_label`.

    Example:
    ```python
    import tempfile
    import numpy as np
    import densenet_hub
    from densenet_hub.runtime.model_folders import load_scoring_model

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    folder = tempfile.mkdtemp() + "/fast"
    densenet_hub.runtime.accelerate(classifier).save(folder)
    model, labels = load_scoring_model(folder)
    assert model.num_classes == 3 and labels.names == ["class_0", "class_1", "class_2"]
    ```
    """
    found = preset if isinstance(preset, PresetInfo) else inspect(preset)
    if found.kind != "accelerated":
        return load_classifier(found, image_size, multi_label)
    model = load_accelerated(found.folder, threads)
    _refuse_image_size(found.folder, image_size)
    if model.output != "predictions" or model.preprocessor is None:
        held = (
            "a backbone's feature model (use `densenet-hub embed` on it)"
            if model.output != "predictions"
            else "a model without preprocessing, which cannot read image files"
        )
        raise ValueError(
            f"{found.folder} holds {held}; scoring images needs a classifier "
            "with its preprocessing: quantize a classifier preset with "
            "`densenet-hub quantize PRESET OUT --calibration DIR`."
        )
    if multi_label and not model.multi_label:
        _read_as_sigmoid(found, model)
    model.num_classes = class_count(model)
    return model, found.class_labels(model.num_classes, model.multi_label)


def _refuse_image_size(folder, image_size):
    if image_size is not None:
        raise ValueError(
            f"{folder} resizes images as it was saved; drop --image-size "
            "(`image_size`), or quantize again with `densenet-hub quantize ... "
            "--image-size`."
        )


def _read_as_sigmoid(found, model):
    if head_activation(model) == "softmax":
        raise ValueError(
            f"{found.folder} holds a classifier with a softmax head (one class "
            "per image), but a multi-label table needs one probability per "
            "finding; quantize a multi-label classifier (`densenet-hub train` "
            "on the table, then `densenet-hub quantize`)."
        )
    warnings.warn(
        "the folder's head gives logits; reading them through a sigmoid, one "
        "probability per finding."
    )
    model.engine = _SigmoidOutputs(model.engine)
    model.activation = "sigmoid"


class _SigmoidOutputs:
    """An engine whose logits leave through a sigmoid, as a Keras head with
    `activation="sigmoid"` gives them; for reading only (it is not saved)."""

    def __init__(self, engine):
        self.engine = engine

    def run(self, batch):
        # The tanh form never overflows, as exp(-x) does for very negative x.
        return (0.5 + 0.5 * np.tanh(0.5 * self.engine.run(batch))).astype("float32")


def class_count(model):
    """The number of outputs of an accelerated classifier, from one blank
    input run through its engine (the folder does not record it).

    Args:
        model: an `AcceleratedModel` with `output == "predictions"`.
    """
    return int(model.engine.run(_blank_input(model)).shape[-1])


def _blank_input(model):
    """One all-zero engine input (NHWC), its free sides set to the
    preprocessor's image size, else `PROBE_SIDE`."""
    _, height, width, channels = model.input_shape
    size = _image_size(model) or (PROBE_SIDE, PROBE_SIDE)
    return np.zeros((1, height or size[0], width or size[1], channels or 3), "float32")


def _image_size(model):
    converter = getattr(model.preprocessor, "image_converter", None)
    size = getattr(converter, "image_size", None)
    return None if size is None else tuple(size)


def load_embedder(preset, image_size=None):
    """The function that writes the features of image files for a backbone
    or classifier preset (`densenet_hub.inference.embed_files` with its
    backbone and image converter) or for an accelerated feature model's
    folder (`embed_folder_files`).

    Args:
        preset: a built-in name, handle, preset folder or accelerated
            folder, or the `PresetInfo` of one.
        image_size: `(height, width)` to resize to instead of the preset's;
            refused for an accelerated folder, which resizes as saved.

    Returns:
        `embed(paths, out, **options)`, taking the keyword options of
        `embed_files` and returning its `EmbeddingFiles`.

    Raises:
        ValueError: an accelerated classifier's folder (no features), or
            `image_size` for a folder.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.runtime.model_folders import load_embedder

    folder = pathlib.Path(tempfile.mkdtemp())
    PIL.Image.fromarray(np.zeros((32, 32, 3), "uint8")).save(folder / "a.png")
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    backbone.save_to_preset(folder / "tiny")
    embed = load_embedder(folder / "tiny", image_size=(32, 32))
    written = embed([folder / "a.png"], folder / "features.npy", pooling="max")
    assert written.shape == (1, 44)
    ```
    """
    found = preset if isinstance(preset, PresetInfo) else inspect(preset)
    if found.kind != "accelerated":
        return functools.partial(embed_files, *load_backbone(found, image_size))
    model = load_feature_folder(found.folder)
    _refuse_image_size(found.folder, image_size)
    return functools.partial(embed_folder_files, model)


def load_feature_folder(folder, threads=None):
    """The `AcceleratedModel` of a backbone's feature model saved in
    `folder`, with the preprocessing that reads image files, running on
    `threads` inference threads (`None`: the runtime's default).

    Raises:
        ValueError: the folder holds a classifier (whose engine gives class
            scores only) or no preprocessing; the message says what to pass.
    """
    model = load_accelerated(folder, threads)
    if model.output != "features":
        raise ValueError(
            f"{folder} holds an accelerated {model.precision} classifier: its "
            "engine gives class scores only, not the backbone's features. Pass "
            "the preset it was made from (`densenet-hub embed PRESET ...`), or "
            "quantize a backbone preset for int8 features (`densenet-hub "
            "quantize BACKBONE_PRESET OUT --calibration DIR`)."
        )
    if model.preprocessor is None:
        raise ValueError(
            f"{folder} holds a feature model without preprocessing, which "
            "cannot read image files; save it from a backbone with a "
            "preprocessor (`densenet-hub quantize` adds one)."
        )
    return model


def embed_folder_files(
    model, paths, out, *, level=FINAL_LEVEL, pooling="avg", batch_size=DEFAULT_BATCH_SIZE,
    on_error="skip", overwrite=False, on_batch=None, preset=None,
):  # fmt: skip
    """As `densenet_hub.inference.embed_files`, with the features of an
    accelerated feature model (`load_feature_folder`): one vector (or map)
    per image file in the `.npy` file `out`, the image list beside it.

    Args:
        model: an `AcceleratedModel` with `output == "features"` and a
            preprocessor.
        paths, out, pooling, batch_size, on_error, overwrite, on_batch,
        preset: as for `embed_files`.
        level: only `"output"`: the folder keeps the final feature map only.

    Returns:
        `densenet_hub.inference.EmbeddingFiles`.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.runtime.model_folders import embed_folder_files, load_feature_folder

    folder = pathlib.Path(tempfile.mkdtemp())
    PIL.Image.fromarray(np.zeros((40, 48, 3), "uint8")).save(folder / "a.png")
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    backbone.preprocessor = densenet_hub.models.DenseNetImageClassifierPreprocessor(converter)
    densenet_hub.runtime.accelerate(backbone).save(folder / "fast")
    model = load_feature_folder(folder / "fast")
    written = embed_folder_files(model, [folder / "a.png"], folder / "features.npy")
    assert np.load(written.features).shape == written.shape == (1, 44)
    ```
    """
    out = pathlib.Path(out)
    index = out.with_suffix(INDEX_SUFFIX)
    if level != FINAL_LEVEL:
        raise ValueError(
            f"--level {level!r} (`level`): an accelerated folder keeps only "
            f"the backbone's final features ({FINAL_LEVEL!r}); drop --level, "
            "or embed with the preset it was made from."
        )
    if pooling not in POOLING_CHOICES:
        raise ValueError(
            f"`pooling` must be one of {', '.join(map(repr, POOLING_CHOICES))}, "
            f"got {pooling!r}."
        )
    if out == index:
        raise ValueError(
            f"`out` {str(out)!r} ends with {INDEX_SUFFIX}, the suffix of the "
            f"image list written beside it; name it e.g. "
            f"{str(out.with_suffix('.npy'))!r}."
        )
    for path in (out, index):
        check_target(path, overwrite)
    if pooling == "none" and _image_size(model) is None:
        raise ValueError(
            "pooling 'none' (--pooling none) needs a fixed input size, but "
            f"the folder's preprocessor keeps each image's size; use --pooling avg or max."
        )
    spatial = (2, 3) if model.channels_first else (1, 2)
    blank = model.engine.run(_blank_input(model))
    if model.channels_first:
        blank = np.moveaxis(blank, -1, 1)
    shape = (len(paths), *_pooled(blank, pooling, spatial).shape[1:])
    with published(out, overwrite) as staging:
        features = np.lib.format.open_memmap(staging, mode="w+", dtype="float32", shape=shape)
        unreadable = []
        for batch in iterate_batches(paths, batch_size, on_error):
            if batch.images:
                features[batch.rows] = _pooled(
                    model.predict_on_batch(batch.images), pooling, spatial
                )
            features[batch.skipped] = np.nan
            unreadable.extend(paths[row] for row in batch.skipped)
            if on_batch is not None:
                on_batch(batch.size)
        features.flush()
        del features
    document = {
        "preset": None if preset is None else str(preset),
        "level": level,
        "pooling": pooling,
        "runtime": model.runtime,
        "precision": model.precision,
        "shape": list(shape),
        "images": [str(path) for path in paths],
        "unreadable": [str(path) for path in unreadable],
    }
    with published(index, overwrite) as staging:
        write_file(staging, json.dumps(document, indent=2).encode("utf-8"))
    return EmbeddingFiles(out, index, shape, unreadable)


def _pooled(maps, pooling, spatial):
    """Feature maps pooled over their `spatial` axes as `pooling` says."""
    if pooling == "avg":
        return maps.mean(axis=spatial)
    return maps.max(axis=spatial) if pooling == "max" else maps


def describe_folder(folder):
    """What an accelerated folder holds, as a JSON-ready dict: runtime,
    precision, output (`"predictions"` or `"features"`), input shape and
    image size, preprocessing, head activation, class names and decision
    thresholds (classifiers), the quantization report (int8), whether a
    Keras preset is kept beside it, and its files.

    Args:
        folder: a folder `AcceleratedModel.save` wrote.

    Example:
    ```python
    import tempfile
    import densenet_hub
    from densenet_hub.runtime.model_folders import describe_folder

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    folder = tempfile.mkdtemp() + "/fast"
    densenet_hub.runtime.accelerate(backbone).save(folder)
    details = describe_folder(folder)
    assert details["runtime"] == "onnxruntime" and details["output"] == "features"
    assert details["input_shape"] == [None, 32, 32, 3] and details["quantization"] is None
    ```
    """
    folder = pathlib.Path(folder)
    model = load_accelerated(folder)
    converter = getattr(model.preprocessor, "image_converter", None)
    details = {
        "preset": str(folder),
        "folder": str(folder.resolve()),
        "kind": "accelerated",
        "name": model.name,
        "runtime": model.runtime,
        "precision": model.precision,
        "output": model.output,
        "data_format": "channels_first" if model.channels_first else "channels_last",
        "input_shape": list(model.input_shape),
        "input_size": _image_size(model),
        "scale": None if converter is None else converter.scale,
        "offset": None if converter is None else converter.offset,
        "preprocessing": model.preprocessor is not None,
    }
    if model.output == "predictions":
        num_classes = class_count(model)
        labels = inspect(folder).class_labels(num_classes, model.multi_label)
        details["activation"] = head_activation(model)
        details["num_classes"] = num_classes
        details["class_names"] = labels.names
        details["multi_label"] = labels.multi_label
        if labels.multi_label:
            details["thresholds"] = dict(zip(labels.names, labels.thresholds))
            details["threshold_rule"] = labels.threshold_rule
    report = model.quantization
    details["quantization"] = None if report is None else report.to_dict()
    beside = folder / KERAS_PRESET_FOLDER
    details["keras_preset"] = str(beside) if _is_classifier_preset(beside) else None
    details["files"] = {
        path.name: path.stat().st_size for path in sorted(folder.iterdir()) if path.is_file()
    }
    return details


def explainable_preset(preset):
    """The Keras classifier preset Grad-CAM runs on for `preset`: the
    preset itself, or for an accelerated folder the classifier preset kept
    beside it in `KERAS_PRESET_FOLDER`.

    Args:
        preset: a built-in name, handle, preset folder or accelerated
            folder.

    Returns:
        `(preset_to_load, note)`: what `load_classifier` takes, and `None`
        or, for a folder, a sentence saying the heat map is the Keras
        model's.

    Raises:
        ValueError: an accelerated folder without a Keras preset beside it,
            saying why Grad-CAM cannot run on the engine and what to pass.

    Example:
    ```python
    from densenet_hub.runtime.model_folders import explainable_preset

    assert explainable_preset("densenet_121_imagenet") == ("densenet_121_imagenet", None)
    ```
    """
    if not _is_accelerated(preset):
        return preset, None
    folder = pathlib.Path(preset)
    beside = folder / KERAS_PRESET_FOLDER
    model = load_accelerated(folder)
    if not _is_classifier_preset(beside):
        raise ValueError(
            f"{folder} holds an accelerated {model.precision} model for "
            f"{model.runtime}, and Grad-CAM needs gradients, which its engine "
            f"does not compute; it keeps no Keras classifier preset beside it "
            f"({beside} is not one). Pass the classifier preset it was "
            f"quantized from instead (`densenet-hub explain PRESET IMAGE "
            f"--out OUT`), or quantize again with `--keep-keras`, which keeps "
            f"it there."
        )
    note = (
        f"the heat map is the float32 Keras classifier's kept in {beside}, "
        f"not the {model.precision} engine's"
    )
    report = model.quantization
    if report is not None:
        note += f" (their {report.measure} on held-out images: {report.agreement:.4f})"
    return beside, note


def _is_accelerated(preset):
    if isinstance(preset, PresetInfo):
        return preset.kind == "accelerated"
    return inspect(preset, download=False).kind == "accelerated"


def _is_classifier_preset(folder):
    return folder.is_dir() and inspect(folder, download=False).kind == "classifier"
