"""`accelerate(model)`: a Keras DenseNet model's `predict` on a faster engine."""

import keras
import numpy as np

from densenet_hub.export.onnx_graph import to_onnx
from densenet_hub.models.head_activation import head_activation
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE
from densenet_hub.runtime import quantization
from densenet_hub.runtime import saved_model
from densenet_hub.runtime.engines import ENGINES
from densenet_hub.runtime.engines import PRECISIONS
from densenet_hub.base.validation import check_choice
from densenet_hub.base.choices import RUNTIMES

# The runtime `runtime=None` picks: the fastest one for each precision on
# 2 AVX-512 cores (BENCHMARKS.md). ONNX Runtime has no bfloat16, and its
# int8 runs at 1.2-1.7x its float32, while OpenVINO's int8 (NNCF) runs at
# 1.6-2.0x OpenVINO's bfloat16 and kept accuracy where ONNX Runtime's int8
# lost 0.84 points (DenseNet-121 trained on digits at 96x96).
DEFAULT_RUNTIMES = {"float32": "onnxruntime", "bfloat16": "openvino", "int8": "openvino"}


class AcceleratedModel:
    """A Keras model's inference, run by ONNX Runtime or OpenVINO.

    Made by `accelerate` or `load_accelerated`. `predict` takes what the
    Keras model's `predict` takes (raw images when the model has a
    `preprocessor`: that preprocessor still runs, in Keras) and returns the
    same numbers (float32), or close ones (bfloat16, int8); only the network
    itself runs on the engine.

    Attributes:
        model: the Keras model it was made from; `None` when loaded from a
            folder.
        preprocessor: the model's preprocessor, or `None`.
        runtime: `"onnxruntime"` or `"openvino"`.
        precision: `"float32"`, `"bfloat16"` or `"int8"`.
        quantization: for int8, the `QuantizationReport` (method, images,
            seed, agreement with float32, versions); else `None`.
        name: the Keras model's name.
        input_shape: the engine's input shape, NHWC, `None` where dynamic
            (the batch).
        output: `"predictions"` (a classifier's `(batch, classes)`) or
            `"features"` (a backbone's feature maps).
        activation: a classifier's head activation, by name (`"softmax"`,
            `"sigmoid"`), or `None` for logits and for a backbone; with it
            `densenet_hub.inference.to_probabilities` reads the outputs.
        channels_first: whether `predict` takes and gives channels-first
            arrays (the Keras model's data format); the engine is NHWC.
    """

    def __init__(
        self,
        engine,
        runtime,
        precision,
        *,
        model=None,
        preprocessor=None,
        channels_first=False,
        name=None,
        input_shape=None,
        output="predictions",
        quantization=None,
        activation=None,
    ):
        self.engine = engine
        self.runtime = runtime
        self.precision = precision
        self.model = model
        self.preprocessor = preprocessor
        self.channels_first = channels_first
        self.name = name
        self.input_shape = input_shape
        self.output = output
        self.quantization = quantization
        self.activation = activation

    @classmethod
    def from_model(
        cls, model, engine, runtime, precision, onnx_model, quantization=None,
        include_preprocessing=False,
    ):  # fmt: skip
        """The accelerated form of Keras `model`, whose graph is `onnx_model`
        (`to_onnx(model, include_preprocessing)`: with the image converter's
        rescaling inside, the preprocessor kept in Keras only resizes)."""
        backbone = getattr(model, "backbone", model)
        dims = onnx_model.graph.input[0].type.tensor_type.shape.dim
        output_dims = onnx_model.graph.output[0].type.tensor_type.shape.dim
        preprocessor = getattr(model, "preprocessor", None)
        if include_preprocessing:
            preprocessor = _resizing_only(preprocessor)
        return cls(
            engine,
            runtime,
            precision,
            model=model,
            preprocessor=preprocessor,
            channels_first=getattr(backbone, "data_format", None) == "channels_first",
            name=model.name,
            input_shape=[dim.dim_value or None for dim in dims],
            output="predictions" if len(output_dims) == 2 else "features",
            quantization=quantization,
            activation=_saved_activation(model),
        )

    @property
    def multi_label(self):
        """Whether the outputs are one independent probability per class (a
        sigmoid head), as `ImageClassifier.multi_label`."""
        return head_activation(self) == "sigmoid"

    def predict(self, x, batch_size=None):
        """Runs the model on `x` and returns a numpy array.

        Args:
            x: images as `model.predict` takes them: a numpy array or tensor
                (raw images if the model has a preprocessor, else already
                preprocessed, in the model's data format).
            batch_size: images per engine call, default 32.

        Returns:
            numpy float32 array, the model's outputs for every image.
        """
        batch_size = batch_size or DEFAULT_BATCH_SIZE
        count = len(x)
        if count == 0:
            raise ValueError(
                "AcceleratedModel.predict got 0 images; pass at least one image."
            )
        outputs = []
        for start in range(0, count, batch_size):
            outputs.append(self.predict_on_batch(x[start : start + batch_size]))
        return np.concatenate(outputs, axis=0)

    def predict_on_batch(self, x):
        """Runs one batch through the preprocessor (if any) and the engine."""
        outputs = self.engine.run(self.network_input(x))
        if self.channels_first and outputs.ndim == 4:
            return np.moveaxis(outputs, -1, 1)
        return outputs

    __call__ = predict_on_batch

    def network_input(self, x):
        """The engine's input for a batch `x`: preprocessed (when there is a
        preprocessor), float32, channels-last (the graph's layout)."""
        if self.preprocessor is not None:
            x = self.preprocessor(x)
        batch = np.ascontiguousarray(keras.ops.convert_to_numpy(x), dtype="float32")
        if self.channels_first:
            return np.ascontiguousarray(np.moveaxis(batch, 1, -1))
        return batch

    def save(self, folder, overwrite=False, extra_files=None, keras_preset=None):
        """Saves the engine's model and the preprocessing to `folder`, for
        `load_accelerated`; written atomically (complete or absent).

        Files: `model.onnx` (ONNX Runtime) or the OpenVINO IR `model.xml` +
        `model.bin`; `accelerated.json` (runtime, precision, input and
        output, the head's activation, the quantization report, the
        densenet_hub version); the preprocessor's preset files in
        `preprocessor/`, if it has one; `extra_files`; with `keras_preset`,
        that model's preset in `keras_preset/`.

        Args:
            folder: the folder to write (`str` or `os.PathLike`).
            overwrite: replace an existing non-empty folder.
            extra_files: `{file name: bytes}` written into the same folder
                in the same atomic save, e.g. the command line's
                `class_names.json`; they may not replace the files above.
            keras_preset: `None`, or the Keras model this one was made from
                (e.g. the float32 classifier before `accelerate`), saved as
                a preset in `keras_preset/` with `extra_files`, so that
                `densenet-hub explain FOLDER` can draw Grad-CAM (the
                engine computes no gradients).

        Raises:
            FileExistsError: `folder` exists, is not empty and `overwrite`
                is False.
        """
        settings = {
            "name": self.name or "model",
            "runtime": self.runtime,
            "precision": self.precision,
            "data_format": "channels_first" if self.channels_first else "channels_last",
            "input_shape": list(self.input_shape or []),
            "output": self.output,
            "activation": self.activation,
            "quantization": None if self.quantization is None else self.quantization.to_dict(),
        }
        saved_model.write_folder(
            folder, overwrite, self.engine, settings, self.preprocessor, extra_files,
            keras_preset,
        )

    def __repr__(self):
        return (
            f"AcceleratedModel({self.name!r}, runtime={self.runtime!r}, "
            f"precision={self.precision!r})"
        )


def load_accelerated(folder, threads=None):
    """Loads a model `AcceleratedModel.save` wrote.

    Nothing from the folder is executed: the engine reads its model file
    (ONNX or OpenVINO IR, data only), the preprocessor is built from its
    JSON through the presets loader's allow-list of classes.

    Args:
        folder: the saved folder (`str` or `os.PathLike`).
        threads: engine threads; `None` for the engine's default.

    Returns:
        An `AcceleratedModel` whose `model` is `None`; `predict` gives the
        outputs it gave before saving.

    Raises:
        ValueError: a file is missing or damaged (the message names it).

    Example:
    ```python
    import tempfile
    import numpy as np
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    fast = densenet_hub.runtime.accelerate(backbone)
    folder = tempfile.mkdtemp() + "/fast"
    fast.save(folder)
    loaded = densenet_hub.runtime.load_accelerated(folder)
    images = np.random.uniform(size=(2, 32, 32, 3)).astype("float32")
    assert np.array_equal(loaded.predict(images), fast.predict(images))
    ```
    """
    engine, settings, preprocessor = saved_model.read_folder(folder, threads)
    return AcceleratedModel(
        engine,
        settings["runtime"],
        settings["precision"],
        preprocessor=preprocessor,
        channels_first=settings["data_format"] == "channels_first",
        name=settings["name"],
        input_shape=settings["input_shape"],
        output=settings["output"],
        quantization=settings["quantization"],
        activation=settings["activation"],
    )


def _saved_activation(model):
    """How the head's outputs read, as the name `head_activation` gives,
    `None` for logits and a model without a head."""
    kind = head_activation(model)
    return None if kind == "logits" else kind


def _resizing_only(preprocessor):
    """A copy of `preprocessor` whose image converter resizes (and crops)
    but does not rescale: the graph rescales (`to_onnx` has refused a model
    without a converter by then)."""
    converter = preprocessor.image_converter
    config = {**converter.get_config(), "scale": None, "offset": None}
    return type(preprocessor)(image_converter=type(converter).from_config(config))


def accelerate(
    model,
    runtime=None,
    precision="float32",
    threads=None,
    *,
    calibration=None,
    calibration_size=quantization.DEFAULT_CALIBRATION_SIZE,
    seed=quantization.DEFAULT_SEED,
    held_out=quantization.DEFAULT_HELD_OUT,
    min_agreement=quantization.DEFAULT_MIN_AGREEMENT,
    include_preprocessing=False,
):
    """Exports `model`'s graph to ONNX and runs it on ONNX Runtime or OpenVINO.

    The recommended way to serve a DenseNet on a CPU: on 2 cores it runs
    DenseNet-121 about twice as fast as Keras' own `predict` (see
    BENCHMARKS.md), with outputs equal within 1e-4 in float32.
    `precision="bfloat16"` (OpenVINO, CPUs with bfloat16 instructions)
    roughly doubles that again.

    `precision="int8"` quantizes the graph after training, calibrated on
    `calibration`, your own images: `held_out` of them (at random, by
    `seed`) are set aside, the activation ranges are measured on up to
    `calibration_size` of the others, and the int8 model is then compared
    with float32 on the held-out ones. For a classifier, their top-1
    agreement (the fraction of images whose top class is unchanged) must
    reach `min_agreement`; for a backbone, the smallest cosine similarity
    of an image's int8 and float32 feature maps must. Otherwise
    `QuantizationRefused` (a `ValueError`) is raised with the numbers. The
    report is in `.quantization`. With `runtime="openvino"` (the default
    for int8) NNCF quantizes it; on 2 AVX-512 VNNI cores DenseNet-121 at
    224x224 then runs at 1.6-2.0x OpenVINO's default (bfloat16 there) and
    2.9-4.0x ONNX Runtime's float32. With `runtime="onnxruntime"`, ONNX
    Runtime's static quantization (QDQ, per-channel): only 1.2-1.7x ONNX
    Runtime's float32, slower than OpenVINO's bfloat16, and less accurate on
    one trained model (BENCHMARKS.md).

    Args:
        model: a `densenet_hub` backbone or classifier (any Keras functional
            model made of the layers `densenet_hub.export` supports).
        runtime: `"onnxruntime"` (the `onnx` extra), `"openvino"` (the
            `openvino` extra; int8 also needs `nncf`, in that extra), or
            `None`: ONNX Runtime for float32, OpenVINO for bfloat16 and int8.
        precision: `"float32"`, `"bfloat16"` (OpenVINO only) or `"int8"`.
        threads: engine threads; `None` for the engine's default (one per
            physical core).
        calibration: int8 only, and required: an array (batch) or a list of
            images as `model.predict` takes them (raw images when the model
            has a preprocessor), image file paths, or a folder of images
            (the model needs a preprocessor for files). At least 76 images
            with `held_out=0.2` (16 held out, at least 16 being needed to
            check, and 60 to calibrate, at least 32); 300 or more is best.
        calibration_size: int8: the most images to measure activation
            ranges on (at least 32; NNCF's default is 300).
        seed: int8: the seed of the random held-out split.
        held_out: int8: the fraction of `calibration` set aside to check
            the int8 model, between 0 and 1 (exclusive).
        min_agreement: int8: the agreement below which the int8 model is
            refused, from 0 to 1. With fewer than 100 held-out images, one
            changed top class already brings 0.99 down.
        include_preprocessing: put the image converter's rescaling
            (`x * scale + offset`) into the engine's graph, as
            `densenet_hub.export.export_model` does, instead of running it
            in Keras; the preprocessor kept in Keras then only resizes.
            Needs a preprocessor with an image converter.

    Returns:
        An `AcceleratedModel`.

    Raises:
        ValueError: a bad argument, or too few calibration images (the
            message gives the counts).
        QuantizationRefused: int8 agrees too rarely with float32.

    Example:
    ```python
    import numpy as np
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    fast = densenet_hub.runtime.accelerate(backbone)
    images = np.random.uniform(size=(2, 32, 32, 3)).astype("float32")
    expected = backbone.predict(images, verbose=0)
    assert np.abs(fast.predict(images) - expected).max() < 1e-4
    ```
    """
    check_choice("accelerate", "precision", precision, PRECISIONS)
    if runtime is None:
        runtime = DEFAULT_RUNTIMES[precision]
    check_choice("accelerate", "runtime", runtime, RUNTIMES)
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0
    ):
        raise ValueError(
            f"accelerate: `threads` must be a positive int or None, got {threads!r}."
        )
    if precision != "int8":
        if calibration is not None:
            raise ValueError(
                f"accelerate: `calibration` is for precision='int8' only, got "
                f"precision={precision!r}. Leave it out, or pass precision='int8'."
            )
        onnx_model = to_onnx(model, include_preprocessing)
        engine = ENGINES[runtime](onnx_model, precision=precision, threads=threads)
        return AcceleratedModel.from_model(
            model, engine, runtime, precision, onnx_model,
            include_preprocessing=include_preprocessing,
        )  # fmt: skip
    quantization.check_arguments(calibration_size, seed, held_out, min_agreement)
    onnx_model = to_onnx(model, include_preprocessing)
    reference = AcceleratedModel.from_model(
        model, ENGINES[runtime](onnx_model, threads=threads), runtime, "float32", onnx_model,
        include_preprocessing=include_preprocessing,
    )  # fmt: skip
    engine, report = quantization.quantize(
        onnx_model,
        runtime,
        reference,
        calibration,
        calibration_size=calibration_size,
        seed=seed,
        held_out=held_out,
        min_agreement=min_agreement,
        threads=threads,
    )
    return AcceleratedModel.from_model(
        model, engine, runtime, "int8", onnx_model, report,
        include_preprocessing=include_preprocessing,
    )  # fmt: skip
