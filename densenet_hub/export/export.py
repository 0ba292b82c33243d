"""`export_model`: a backbone or classifier written as ONNX, OpenVINO IR,
TensorFlow SavedModel or LiteRT, with or without its preprocessing."""

import pathlib

import keras

from densenet_hub.export.onnx_graph import to_onnx
from densenet_hub.base.openvino import import_openvino
from densenet_hub.base.optional import import_package
from densenet_hub.base.openvino import signal_stack_kept
from densenet_hub.models import Backbone
from densenet_hub.base.publish import published
from densenet_hub.base.choices import EXPORT_FORMATS as FORMATS

# Keras' own exporters, by format, and the backends they run on here.
KERAS_FORMATS = {"saved_model": "tf_saved_model", "litert": "litert"}
KERAS_EXPORT_BACKENDS = {
    "saved_model": ("tensorflow", "jax"),
    "litert": ("tensorflow",),
}
FILE_SUFFIXES = {"onnx": ".onnx", "litert": ".tflite"}
OPENVINO_MODEL_FILE = "model.xml"
OWNER = "export_model"


def export_model(
    model, path, format="onnx", include_preprocessing=None, overwrite=False
):
    """Writes `model` for an inference runtime, checked to load.

    Formats and the file they write at `path`:

    - `"onnx"`: one `.onnx` file, built by `to_onnx` on any backend.
    - `"openvino"`: a folder with `model.xml` and `model.bin`, OpenVINO's
      reading of that ONNX graph (weights kept in float32). OpenVINO runs
      it in bfloat16 on CPUs with bfloat16 units unless compiled with
      `{"INFERENCE_PRECISION_HINT": "f32"}`.
    - `"saved_model"`: a TensorFlow SavedModel folder, written by Keras'
      `model.export`; TensorFlow or JAX backend. Its endpoint is `serve`.
    - `"litert"`: one `.tflite` file, written by Keras' `model.export`;
      TensorFlow backend.

    Input contract. ONNX and OpenVINO take float32 NHWC images whatever
    the model's data format; SavedModel and LiteRT take float32 images in
    the model's data format. With `include_preprocessing=True` the input is
    raw pixels (0-255 for 8-bit images, as float32), already resized (and
    centre-cropped) to the preprocessor's `image_size`; the export applies
    the image converter's `x * scale + offset`. With `False` (the default
    for a backbone, which has no preprocessing) the input is
    what the model itself takes (what `model.preprocessor` returns). The
    output is the classifier's predictions (after its activation) or the
    backbone's feature map (NHWC in ONNX and OpenVINO).

    The export is written next to `path` and renamed into place, so a
    failure leaves no file behind.

    Args:
        model: a functional Keras model with one image input, e.g. a
            `DenseNetImageClassifier` or `DenseNetBackbone`.
        path: the `.onnx` or `.tflite` file, or the folder, to write.
        format: one of `"onnx"`, `"openvino"`, `"saved_model"`, `"litert"`.
        include_preprocessing: whether the export applies the model's image
            converter's scale and offset; `True` needs a `preprocessor` with
            an `image_converter`. Default: `True`, except for a `Backbone`,
            which has no preprocessing to include.
        overwrite: replace an existing `path`.

    Returns:
        The written path, a `pathlib.Path`.

    Example:
    ```python
    import pathlib
    import tempfile
    import numpy as np
    import onnxruntime
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    preprocessor = densenet_hub.models.DenseNetImageClassifierPreprocessor(
        densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    )
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3, preprocessor=preprocessor
    )
    path = pathlib.Path(tempfile.mkdtemp()) / "classifier.onnx"
    densenet_hub.export.export_model(classifier, path, format="onnx")
    session = onnxruntime.InferenceSession(str(path))
    pixels = np.random.randint(0, 256, size=(2, 32, 32, 3)).astype("float32")
    (predictions,) = session.run(None, {"images": pixels})
    assert predictions.shape == (2, 3)
    ```
    """
    path = checked_path(path, format)
    if format in KERAS_FORMATS:
        _check_keras_backend(format)
    if include_preprocessing is None:
        include_preprocessing = not isinstance(model, Backbone)
    writers = {
        "onnx": _write_onnx,
        "openvino": _write_openvino,
        "saved_model": _write_with_keras,
        "litert": _write_with_keras,
    }
    with published(path, overwrite) as staging:
        writers[format](model, staging, format, include_preprocessing)
    return path


def checked_path(path, format):
    """`path` as a `pathlib.Path`, after checking `format` and that a
    one-file format's name ends with its suffix (`.onnx`, `.tflite`)."""
    if format not in FORMATS:
        raise ValueError(
            f"{OWNER}: `format` must be one of {', '.join(map(repr, FORMATS))}, "
            f"got {format!r}."
        )
    path = pathlib.Path(path)
    suffix = FILE_SUFFIXES.get(format)
    if suffix is not None and path.suffix != suffix:
        raise ValueError(
            f"{OWNER}: a {format} export is one file whose name ends with "
            f"{suffix!r}, got path {str(path)!r}. Pass e.g. "
            f"{str(path.with_suffix(suffix))!r}."
        )
    return path


def _write_onnx(model, path, format, include_preprocessing):
    onnx = import_package("onnx", "onnx", "Exporting to ONNX")
    onnx.save_model(to_onnx(model, include_preprocessing), str(path))


def _write_openvino(model, path, format, include_preprocessing):
    openvino = import_openvino("Exporting to OpenVINO")
    onnx = import_package("onnx", "openvino", "Exporting to OpenVINO")
    path.mkdir()
    onnx_path = path / "model.onnx"
    onnx.save_model(to_onnx(model, include_preprocessing), str(onnx_path))
    # The runtime's ONNX reader, not `openvino.convert_model`: that one sends
    # usage telemetry from a forked process (unsafe under JAX's threads, and
    # about 15 s on a machine without internet).
    with signal_stack_kept():
        converted = openvino.Core().read_model(str(onnx_path))
        # OpenVINO halves the stored weights by default; keep the model's.
        openvino.save_model(converted, str(path / OPENVINO_MODEL_FILE), compress_to_fp16=False)
    onnx_path.unlink()


def _write_with_keras(model, path, format, include_preprocessing):
    import_package("tensorflow", "tensorflow", f"Exporting to {format}")
    if include_preprocessing:
        model = _with_rescaling(model)
    model.export(str(path), format=KERAS_FORMATS[format], verbose=False)


def _check_keras_backend(format):
    backend = keras.backend.backend()
    supported = KERAS_EXPORT_BACKENDS[format]
    if backend not in supported:
        raise ValueError(
            f"{OWNER}: format={format!r} is not available with the {backend} "
            f"Keras backend; Keras exports it with {' or '.join(supported)}. "
            f"Fix: set KERAS_BACKEND={supported[0]} before importing Keras, or "
            "use format='onnx' or 'openvino', which work on every backend."
        )


def _with_rescaling(model):
    """`model` behind its image converter's rescaling: raw pixels in."""
    converter = getattr(getattr(model, "preprocessor", None), "image_converter", None)
    if converter is None:
        raise ValueError(
            f"{OWNER}: include_preprocessing=True needs a model whose "
            "`preprocessor` has an `image_converter` (e.g. a classifier from "
            f"a preset), but this {type(model).__name__} has none. Pass "
            "include_preprocessing=False and scale the images yourself."
        )
    shape = list(model.input.shape[1:])
    if converter.image_size is not None:
        spatial = slice(0, 2) if converter.data_format == "channels_last" else slice(1, 3)
        shape[spatial] = converter.image_size
    images = keras.Input(shape=tuple(shape), name="images")
    x = images if converter.rescaling is None else converter.rescaling(images)
    return keras.Model(images, model(x), name=f"{model.name}_with_preprocessing")
