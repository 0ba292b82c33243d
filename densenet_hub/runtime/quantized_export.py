"""`export_model` with a precision: `densenet_hub.export.export_model`'s
float32 files, or int8 ones quantized on the user's images.

It lives in `runtime`, not in `export`, because int8 needs the runtime's
quantizers and accelerated models, and `runtime` is built on `export` (it
runs `to_onnx`'s graph): `export` cannot import it back. The int8 file is
the engine model `accelerate(precision="int8")` quantizes and checks, so an
exported int8 model and an accelerated one are the same graph.
"""

import dataclasses
import pathlib

from densenet_hub.base.publish import check_target
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file
from densenet_hub.base.validation import check_choice
from densenet_hub.export import export as float_export
from densenet_hub.models import Backbone
from densenet_hub.runtime import quantization
from densenet_hub.runtime.accelerated_model import accelerate
from densenet_hub.runtime.quantization import QuantizationReport
from densenet_hub.base.choices import EXPORT_PRECISIONS
from densenet_hub.base.choices import INT8_RUNTIMES

OWNER = "export_model"


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """What `export_model` wrote.

    Attributes:
        path: the written file or folder.
        format: `"onnx"`, `"openvino"`, `"saved_model"` or `"litert"`.
        precision: `"float32"` or `"int8"`.
        quantization: for int8, the `QuantizationReport` (method, images,
            agreement with float32); else `None`.
    """

    path: pathlib.Path
    format: str
    precision: str
    quantization: QuantizationReport = None


def export_model(
    model,
    path,
    format="onnx",
    precision="float32",
    *,
    include_preprocessing=None,
    overwrite=False,
    calibration=None,
    calibration_size=quantization.DEFAULT_CALIBRATION_SIZE,
    seed=quantization.DEFAULT_SEED,
    held_out=quantization.DEFAULT_HELD_OUT,
    min_agreement=quantization.DEFAULT_MIN_AGREEMENT,
):
    """Writes `model` for an inference runtime, in float32 or int8.

    float32 is `densenet_hub.export.export_model` (every format). int8
    writes `format="onnx"` (ONNX Runtime's static quantization, QDQ) or
    `"openvino"` (NNCF's IR), quantized on `calibration` and refused unless
    it agrees with float32 on held-out images, exactly as
    `densenet_hub.runtime.accelerate(model, precision="int8", ...)` does;
    the input contract is float32's.

    Args:
        model: a backbone or classifier, as for
            `densenet_hub.export.export_model`; for int8 from image files it
            needs a preprocessor (a backbone too, e.g. from
            `densenet_hub.inference.load_model`).
        path: the `.onnx` file or the folder to write (`.tflite` for litert).
        format: `"onnx"`, `"openvino"`, `"saved_model"` or `"litert"`; int8:
            `"onnx"` or `"openvino"`.
        precision: `"float32"` or `"int8"`.
        include_preprocessing: as for `densenet_hub.export.export_model`.
        overwrite: replace an existing `path`.
        calibration, calibration_size, seed, held_out, min_agreement: int8
            only, as for `accelerate`; `calibration` is required.

    Returns:
        `ExportedModel`.

    Raises:
        ValueError: a bad argument, or too few calibration images.
        QuantizationRefused: int8 agrees too rarely with float32; nothing
            is written.

    Example:
    ```python
    import pathlib
    import tempfile
    import numpy as np
    import densenet_hub
    from densenet_hub.runtime import export_model

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    images = np.random.default_rng(0).uniform(size=(80, 32, 32, 3)).astype("float32")
    folder = pathlib.Path(tempfile.mkdtemp())
    exported = export_model(backbone, folder / "int8.onnx", precision="int8",
                            calibration=images, min_agreement=0.9)
    assert exported.path.is_file() and exported.quantization.held_out_size == 16
    assert export_model(backbone, folder / "f32.onnx").quantization is None
    ```
    """
    check_choice(OWNER, "precision", precision, EXPORT_PRECISIONS)
    if precision == "float32":
        if calibration is not None:
            raise ValueError(
                f"{OWNER}: `calibration` is for precision='int8' only; leave it "
                "out, or pass precision='int8'."
            )
        written = float_export.export_model(model, path, format, include_preprocessing, overwrite)
        return ExportedModel(written, format, precision)
    path = float_export.checked_path(path, format)
    runtime = INT8_RUNTIMES.get(format)
    if runtime is None:
        raise ValueError(
            f"{OWNER}: precision='int8' writes format 'onnx' or 'openvino', got "
            f"format={format!r}; pick one of those."
        )
    check_target(path, overwrite)
    if include_preprocessing is None:
        include_preprocessing = not isinstance(model, Backbone)
    quantized = accelerate(
        model,
        runtime=runtime,
        precision="int8",
        calibration=calibration,
        calibration_size=calibration_size,
        seed=seed,
        held_out=held_out,
        min_agreement=min_agreement,
        include_preprocessing=include_preprocessing,
    )
    with published(path, overwrite) as staging:
        if format == "onnx":
            write_file(staging, quantized.engine.model_bytes)
        else:
            staging.mkdir()
            quantized.engine.save(staging)
    return ExportedModel(path, format, precision, quantized.quantization)
