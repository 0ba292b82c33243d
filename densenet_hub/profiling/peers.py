"""The inference candidates a benchmark compares, each built for one depth and
image size with random weights.

Every builder returns a function `batch -> numpy outputs` that takes a
float32 NHWC numpy batch. Peers that are not installed raise `Unavailable`,
and the benchmark says so instead of quietly leaving them out.
"""

import importlib

import keras
import numpy as np

from densenet_hub.profiling.configs import repeats


class Unavailable(Exception):
    """A peer that cannot run here, with the reason."""


def _require(module):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise Unavailable(f"{module} is not installed ({error})") from None


def ours_keras(depth, size):
    """densenet_hub's backbone, Keras `predict_on_batch` on the current backend."""
    from densenet_hub.models import DenseNetBackbone

    model = DenseNetBackbone(repeats(depth), image_shape=(size, size, 3))
    return model, model.predict_on_batch


# int8 calibration: the fewest images `accelerate` takes (32 to measure
# activation ranges on, 16 held out to check against float32), which keeps
# the quantization of DenseNet-121 at 224x224 under a minute on 2 cores.
CALIBRATION_IMAGES = 48
CALIBRATION_HELD_OUT = 1 / 3


def ours_accelerated(model, runtime, precision):
    """`densenet_hub.runtime.accelerate` on the same backbone; int8 is
    calibrated on `CALIBRATION_IMAGES` uniform-noise images (seed 1, unlike
    the timed batches' seed 0). A runtime that is not installed, or a
    precision this CPU or runtime cannot run, makes it `Unavailable`."""
    from densenet_hub.base.optional import MissingOptionalPackageError
    from densenet_hub.runtime import accelerate
    from densenet_hub.runtime.engines import UnsupportedPrecision

    settings = {}
    if precision == "int8":
        size = model.input_shape[1]
        settings = {
            "calibration": random_batch(CALIBRATION_IMAGES, size, seed=1),
            "held_out": CALIBRATION_HELD_OUT,
        }
    try:
        accelerated = accelerate(model, runtime=runtime, precision=precision, **settings)
    except (MissingOptionalPackageError, UnsupportedPrecision) as error:
        raise Unavailable(str(error)) from None
    return accelerated.predict_on_batch


def keras_hub(depth, size):
    """keras_hub.models.DenseNetBackbone, `predict_on_batch`, same backend."""
    keras_hub = _require("keras_hub")
    model = keras_hub.models.DenseNetBackbone(
        stackwise_num_repeats=repeats(depth), image_shape=(size, size, 3)
    )
    return model.predict_on_batch


def keras_applications(depth, size):
    """keras.applications.DenseNet{depth}, no top, `predict_on_batch`."""
    builder = getattr(keras.applications, f"DenseNet{depth}", None)
    if builder is None:
        raise Unavailable(f"keras.applications has no DenseNet{depth}")
    model = builder(weights=None, include_top=False, input_shape=(size, size, 3))
    return model.predict_on_batch


def onnxruntime_default(model):
    """ONNX Runtime with default session options on our ONNX export."""
    ort = _require("onnxruntime")
    from densenet_hub.export.onnx_graph import to_onnx

    session = ort.InferenceSession(
        to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def openvino_default(model):
    """OpenVINO with default settings on our ONNX export (bfloat16 on CPUs
    that have it, as OpenVINO chooses by itself)."""
    from densenet_hub.export.onnx_graph import to_onnx
    from densenet_hub.base.openvino import import_openvino
    from densenet_hub.base.openvino import signal_stack_kept

    try:
        ov = import_openvino("the openvino-default peer")
    except ImportError as error:
        raise Unavailable(str(error)) from None

    core = ov.Core()
    compiled = {}
    with signal_stack_kept():
        source = core.read_model(to_onnx(model).SerializeToString(), b"")

    def run(batch):
        with signal_stack_kept():
            if batch.shape not in compiled:
                source.reshape({source.inputs[0].get_any_name(): list(batch.shape)})
                compiled[batch.shape] = core.compile_model(source, "CPU")
            return compiled[batch.shape](batch)[0]

    return run


def torchvision_eager(depth, size):
    """torchvision's densenet `features` (ends at norm5, before the final
    ReLU), eager, channels_last, no grad."""
    torch = _require("torch")
    models = _require("torchvision.models")
    builder = getattr(models, f"densenet{depth}", None)
    if builder is None:
        raise Unavailable(f"torchvision has no densenet{depth}")
    network = builder(weights=None).features.eval().to(memory_format=torch.channels_last)

    def run(batch):
        with torch.inference_mode():
            images = torch.from_numpy(batch).permute(0, 3, 1, 2)
            return network(images.contiguous(memory_format=torch.channels_last)).numpy()

    return run


def random_batch(batch, size, seed=0):
    """A float32 NHWC batch of uniform noise in [0, 1)."""
    return np.random.default_rng(seed).uniform(size=(batch, size, size, 3)).astype("float32")
