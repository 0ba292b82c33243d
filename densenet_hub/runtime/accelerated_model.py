"""`accelerate(model)`: a Keras DenseNet model's `predict` on a faster engine."""

import keras
import numpy as np

from densenet_hub.export.onnx_graph import to_onnx
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE
from densenet_hub.runtime.engines import ENGINES
from densenet_hub.runtime.engines import PRECISIONS
from densenet_hub.validation import check_choice

RUNTIMES = tuple(ENGINES)


class AcceleratedModel:
    """A Keras model's inference, run by ONNX Runtime or OpenVINO.

    Made by `accelerate`. `predict` takes what the Keras model's `predict`
    takes (raw images when the model has a `preprocessor`: that preprocessor
    still runs, in Keras) and returns the same numbers; only the network
    itself runs on the engine.

    Attributes:
        model: the Keras model it was made from.
        runtime: `"onnxruntime"` or `"openvino"`.
        precision: `"float32"` or `"bfloat16"`.
    """

    def __init__(self, model, engine, runtime, precision):
        self.model = model
        self.engine = engine
        self.runtime = runtime
        self.precision = precision
        backbone = getattr(model, "backbone", model)
        self.channels_first = getattr(backbone, "data_format", None) == "channels_first"

    def predict(self, x, batch_size=None):
        """Runs the model on `x` and returns a numpy array.

        Args:
            x: images as `model.predict` takes them: a numpy array or tensor
                (raw images if the model has a preprocessor, else already
                preprocessed, channels-last).
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
        preprocessor = getattr(self.model, "preprocessor", None)
        if preprocessor is not None:
            x = preprocessor(x)
        batch = np.ascontiguousarray(keras.ops.convert_to_numpy(x), dtype="float32")
        if not self.channels_first:
            return self.engine.run(batch)
        # The exported graph is channels-last at both ends.
        outputs = self.engine.run(np.ascontiguousarray(np.moveaxis(batch, 1, -1)))
        return np.moveaxis(outputs, -1, 1) if outputs.ndim == 4 else outputs

    __call__ = predict_on_batch

    def __repr__(self):
        return (
            f"AcceleratedModel({self.model.name!r}, runtime={self.runtime!r}, "
            f"precision={self.precision!r})"
        )


def accelerate(model, runtime="onnxruntime", precision="float32", threads=None):
    """Exports `model`'s graph to ONNX and runs it on ONNX Runtime or OpenVINO.

    The recommended way to serve a DenseNet on a CPU: on 2 cores it runs
    DenseNet-121 about twice as fast as Keras' own `predict` (see
    BENCHMARKS.md), with outputs equal within 1e-4 in float32.
    `precision="bfloat16"` (OpenVINO, CPUs with bfloat16 instructions)
    roughly doubles that again.

    Args:
        model: a `densenet_hub` backbone or classifier (any Keras functional
            model made of the layers `densenet_hub.export` supports).
        runtime: `"onnxruntime"` (the `onnx` extra) or `"openvino"` (the
            `openvino` extra).
        precision: `"float32"`, or `"bfloat16"` with `runtime="openvino"`.
        threads: engine threads; `None` for the engine's default (one per
            physical core).

    Returns:
        An `AcceleratedModel`.

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
    check_choice("accelerate", "runtime", runtime, RUNTIMES)
    check_choice("accelerate", "precision", precision, PRECISIONS)
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0
    ):
        raise ValueError(
            f"accelerate: `threads` must be a positive int or None, got {threads!r}."
        )
    engine = ENGINES[runtime](to_onnx(model), precision=precision, threads=threads)
    return AcceleratedModel(model, engine, runtime, precision)
