"""The choices and defaults the command line offers, in a module that imports
nothing heavy: `densenet-hub --help`, `--version` and a usage error build every
command's parser from these, so they end without importing Keras, a backend
or NumPy. The library modules that act on them import them from here, so
that each has one definition.
"""

import math

# densenet_hub.data.images: what to do with a file that is not a readable image.
ON_ERROR_CHOICES = ("skip", "fail")
# densenet_hub.data.label_tables: the CheXpert uncertainty (-1) and blank policies.
UNCERTAINTY_POLICIES = ("ignore", "ones", "zeros")

# densenet_hub.convert.conversion: the layouts of foreign checkpoints.
SOURCE_FORMATS = ("torchvision", "timm", "keras_applications")

# densenet_hub.inference.scoring: test-time augmentation, the views of each
# image whose probabilities are averaged.
TTA_CHOICES = ("none", "flip", "ten-crop")

# densenet_hub.inference.embedding: the level `embed` reads by default, and
# how a feature map becomes one vector ("none" keeps the map).
FINAL_LEVEL = "output"
POOLING_CHOICES = ("avg", "max", "none")

# densenet_hub.batch: where a batch job runs (this process, or Ray Data).
BATCH_ENGINES = ("local", "ray")

# densenet_hub.export.export: the formats a model is exported to.
EXPORT_FORMATS = ("onnx", "openvino", "saved_model", "litert")
# densenet_hub.runtime.quantized_export: the precisions of an exported file,
# and the int8 formats, each with the runtime whose quantizer writes it.
EXPORT_PRECISIONS = ("float32", "int8")
INT8_RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino"}

# densenet_hub.runtime: the precisions and the runtimes of fast inference
# (densenet_hub.runtime.engines has one engine for each runtime).
PRECISIONS = ("float32", "bfloat16", "int8")
RUNTIMES = ("onnxruntime", "openvino")

# densenet_hub.runtime.quantization: the defaults of every int8 entry point
# (`accelerate`, `export_model`, the command line): NNCF's own calibration
# size, a fifth held out, and at most one changed top class in a hundred.
DEFAULT_CALIBRATION_SIZE = 300
DEFAULT_HELD_OUT = 0.2
DEFAULT_MIN_AGREEMENT = 0.99
DEFAULT_SEED = 0
# Activation ranges from fewer images than this are dominated by the few
# images seen (NNCF's own default is 300).
MIN_CALIBRATION_IMAGES = 32
# With fewer held-out images, one disagreement moves the agreement by more
# than 6 points: too coarse to tell a good quantization from a bad one.
MIN_HELD_OUT_IMAGES = 16

# densenet_hub.training.augmentation: the random augmentations of fine-tuning.
AUGMENTATIONS = ("flip", "rotate", "zoom", "translate")
# densenet_hub.distribution: how a training run spreads over devices, and the
# environment variables that say where the other processes are.
DISTRIBUTION_LAYOUTS = ("data_parallel", "model_parallel")
COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"
KERAS_ADDRESSES_ENV = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
KERAS_NUM_PROCESSES_ENV = "KERAS_DISTRIBUTION_NUM_PROCESSES"
KERAS_PROCESS_ID_ENV = "KERAS_DISTRIBUTION_PROCESS_ID"

# densenet_hub.profiling: the depths `bench` builds (those of
# densenet_layout.DEPTHS with published widths; a test compares), and what
# `bench inference` and `bench startup` can run.
BENCH_DEPTHS = (121, 169, 201, 264)
BENCH_INFERENCE_CANDIDATES = (
    "densenet_hub",
    "densenet_hub+onnxruntime",
    "densenet_hub+openvino",
    "densenet_hub+openvino-bf16",
    "densenet_hub+openvino-int8",
    "densenet_hub+onnxruntime-int8",
    "keras_hub",
    "keras.applications",
    "onnxruntime-default",
    "openvino-default",
    "torchvision",
)
BENCH_STARTUP_CANDIDATES = (
    "densenet_hub", "densenet_hub+onnxruntime", "densenet_hub+openvino", "keras_hub",
)  # fmt: skip


def images_needed(held_out):
    """The fewest calibration images int8 quantization accepts for
    `held_out`: at least `MIN_HELD_OUT_IMAGES` held out and
    `MIN_CALIBRATION_IMAGES` left.

    Example:
    ```python
    from densenet_hub.base.choices import images_needed

    assert images_needed(0.5) == 64  # 32 held out, 32 left
    ```
    """
    count = MIN_CALIBRATION_IMAGES + MIN_HELD_OUT_IMAGES
    while True:
        held = held_out_count(count, held_out)
        if held >= MIN_HELD_OUT_IMAGES and count - held >= MIN_CALIBRATION_IMAGES:
            return count
        count += 1


def held_out_count(count, held_out):
    """How many of `count` images the fraction `held_out` sets aside.

    Example:
    ```python
    from densenet_hub.base.choices import held_out_count

    assert held_out_count(160, 0.1) == 16
    ```
    """
    # The tolerance keeps float rounding (0.1 * 160 > 16) from adding one.
    return math.ceil(held_out * count - 1e-9)
