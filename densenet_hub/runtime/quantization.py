"""Post-training int8 quantization of a model's ONNX graph, calibrated on the
user's images and checked against float32 on images it was not calibrated on.

`quantize` is what `accelerate(model, precision="int8", calibration=...)`
runs: it holds out part of the calibration images, quantizes with NNCF
(`runtime="openvino"`) or ONNX Runtime's static quantization
(`runtime="onnxruntime"`) on the rest, compares the int8 and float32
outputs on the held-out images, and refuses with `QuantizationRefused` when
they agree too rarely.
"""

import dataclasses
import os
import pathlib
import tempfile
from importlib import metadata

import numpy as np

from densenet_hub.data import find_images
from densenet_hub.data import read_images
from densenet_hub.base.openvino import import_openvino
from densenet_hub.base.optional import import_package
from densenet_hub.base.openvino import signal_stack_kept
from densenet_hub.runtime.engines import OnnxRuntimeEngine
from densenet_hub.runtime.engines import OpenVinoEngine
from densenet_hub.base.choices import DEFAULT_CALIBRATION_SIZE
from densenet_hub.base.choices import DEFAULT_HELD_OUT
from densenet_hub.base.choices import DEFAULT_MIN_AGREEMENT
from densenet_hub.base.choices import DEFAULT_SEED
from densenet_hub.base.choices import MIN_CALIBRATION_IMAGES
from densenet_hub.base.choices import MIN_HELD_OUT_IMAGES
from densenet_hub.base.choices import held_out_count
from densenet_hub.base.choices import images_needed

QUANTIZERS = {
    "openvino": "nncf.quantize (OpenVINO), preset performance, fast bias correction",
    "onnxruntime": (
        "onnxruntime.quantization.quantize_static, QDQ, per-channel int8 "
        "weights, uint8 activations, min-max calibration"
    ),
}
_VERSIONED = ("nncf", "openvino", "onnxruntime", "onnx")


class QuantizationRefused(ValueError):
    """The int8 model agrees with float32 on too few held-out images."""


class TooFewCalibrationImages(ValueError):
    """Fewer calibration images than `images_needed(held_out)`.

    Attributes:
        needed: the fewest images accepted with `held_out`.
        found: the images given (readable ones, for files).
        held_out: the held-out fraction asked for.
    """

    def __init__(self, needed, found, held_out):
        super().__init__(
            f"precision='int8' needs at least {needed} calibration images with "
            f"held_out={held_out} ({MIN_CALIBRATION_IMAGES} to measure activation "
            f"ranges on, {MIN_HELD_OUT_IMAGES} held out to check the int8 model "
            f"against float32), got {found}. Pass more of your own images "
            f"(300 or more is best: NNCF's default), or a larger `held_out`."
        )
        self.needed = needed
        self.found = found
        self.held_out = held_out


@dataclasses.dataclass(frozen=True)
class QuantizationReport:
    """How an int8 model was made and how close it stays to float32.

    Attributes:
        method: the quantizer and its settings.
        calibration_size: images the activation ranges were measured on.
        held_out_size: images set aside to compare int8 with float32.
        seed: the seed of the random split into the two.
        measure: `"top-1 agreement"` for a classifier (the fraction of
            held-out images whose top class is unchanged) or `"smallest
            cosine similarity"` for a backbone (feature maps have no classes:
            the smallest cosine similarity of an image's int8 and float32
            feature maps).
        agreement: the value of `measure`, compared with `min_agreement`.
        max_logit_change: the largest absolute change of any output on the
            held-out images (logits, or probabilities after a softmax or
            sigmoid head; feature values for a backbone).
        cosine_similarity: the smallest cosine similarity of an image's
            int8 and float32 outputs.
        min_agreement: the threshold `agreement` had to reach.
        versions: `{package: version}` of the quantizer and the runtimes.
    """

    method: str
    calibration_size: int
    held_out_size: int
    seed: int
    measure: str
    agreement: float
    max_logit_change: float
    cosine_similarity: float
    min_agreement: float
    versions: dict

    def to_dict(self):
        """A JSON-ready dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data, where):
        """The report saved as `to_dict()`; `where` names the file in errors."""
        fields = {field.name: field.type for field in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) != set(fields):
            raise ValueError(
                f"{where}: `quantization` must be an object with the keys "
                f"{sorted(fields)}, got {data!r}. Save the model again with "
                f"AcceleratedModel.save."
            )
        for name, kind in fields.items():
            value = data[name]
            accepted = (int, float) if kind is float else kind
            if isinstance(value, bool) or not isinstance(value, accepted):
                raise ValueError(
                    f"{where}: `quantization.{name}` must be a {kind.__name__}, got "
                    f"{value!r}. Save the model again with AcceleratedModel.save."
                )
        return cls(**data)


def check_arguments(calibration_size, seed, held_out, min_agreement):
    """Checks the quantization arguments before any work is done."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"accelerate: `seed` must be a non-negative int, got {seed!r}.")
    if (
        isinstance(calibration_size, bool)
        or not isinstance(calibration_size, int)
        or calibration_size < MIN_CALIBRATION_IMAGES
    ):
        raise ValueError(
            f"accelerate: `calibration_size` must be an int of at least "
            f"{MIN_CALIBRATION_IMAGES}, got {calibration_size!r}: activation "
            f"ranges measured on fewer images are unreliable. 300 (the "
            f"default) is NNCF's recommendation."
        )
    _check_fraction("held_out", held_out, "0 < held_out < 1, e.g. 0.2", 0, 1, closed=False)
    _check_fraction("min_agreement", min_agreement, "0 <= min_agreement <= 1, e.g. 0.99", 0, 1)


def _check_fraction(name, value, wanted, low, high, closed=True):
    inside = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and (low <= value <= high if closed else low < value < high)
    )
    if not inside:
        raise ValueError(f"accelerate: `{name}` must satisfy {wanted}; got {value!r}.")


def quantize(
    onnx_model,
    runtime,
    reference,
    calibration,
    *,
    calibration_size=DEFAULT_CALIBRATION_SIZE,
    seed=DEFAULT_SEED,
    held_out=DEFAULT_HELD_OUT,
    min_agreement=DEFAULT_MIN_AGREEMENT,
    threads=None,
):
    """Quantizes `onnx_model` to int8 for `runtime` and checks it.

    Args:
        onnx_model: the float32 `onnx.ModelProto` of `to_onnx(model)`.
        runtime: `"openvino"` (NNCF) or `"onnxruntime"` (ONNX Runtime).
        reference: the float32 `AcceleratedModel` of the same graph: its
            `network_input` turns what `model.predict` takes into the
            graph's input (for calibration too), its engine gives the
            float32 outputs of the held-out comparison.
        calibration: the images, as `accelerate` documents.
        calibration_size, seed, held_out, min_agreement: as in `accelerate`.
        threads: engine threads of the int8 engine.

    Returns:
        `(engine, QuantizationReport)`.

    Raises:
        ValueError: no calibration images, or image files for a model
            without a preprocessor.
        TooFewCalibrationImages: too few images (a `ValueError`).
        QuantizationRefused: the agreement is below `min_agreement`.
    """
    images, from_files = calibration_images(calibration, held_out)
    if from_files and reference.preprocessor is None:
        raise ValueError(
            "`calibration` names image files, but the model has no "
            "preprocessor to resize and rescale their 8-bit pixels. Pass "
            "arrays preprocessed as model.predict takes them, or give the "
            "model a preprocessor."
        )
    count = len(images)
    order = np.random.default_rng(seed).permutation(count)
    held = order[: held_out_count(count, held_out)]
    calibrating = order[len(held) :][:calibration_size]
    prepare = reference.network_input
    calibration_inputs = [prepare(_one(images, index)) for index in calibrating]
    engine = _QUANTIZERS[runtime](onnx_model, calibration_inputs, threads)
    held_inputs = [prepare(_one(images, index)) for index in held]
    report = _compare(
        [reference.engine.run(x) for x in held_inputs],
        [engine.run(x) for x in held_inputs],
        method=f"{QUANTIZERS[runtime]}, {len(calibrating)} images",
        calibration_size=len(calibrating),
        seed=seed,
        min_agreement=min_agreement,
    )
    if report.agreement < min_agreement:
        raise QuantizationRefused(_refusal(report))
    return engine, report


def calibration_images(calibration, held_out=DEFAULT_HELD_OUT, on_error="skip"):
    """The calibration images of `calibration`, checked to be enough.

    Args:
        calibration: an array (a batch) or a list of images as
            `model.predict` takes them, image file paths, or a folder or
            glob pattern of images (read here, so that a command can refuse
            too few before it loads a model).
        held_out: the fraction `quantize` will hold out.
        on_error: for files, as for `densenet_hub.data.read_images`.

    Returns:
        `(images, from_files)`: an indexable collection of images, and
        whether they were read from files (raw 8-bit pixels).

    Raises:
        ValueError: `calibration` is `None` or not images.
        TooFewCalibrationImages: fewer than `images_needed(held_out)`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.runtime.quantization import TooFewCalibrationImages, calibration_images

    images, from_files = calibration_images(np.zeros((80, 8, 8, 3), "float32"))
    assert len(images) == 80 and not from_files
    try:
        calibration_images(np.zeros((20, 8, 8, 3), "float32"))
    except TooFewCalibrationImages as error:
        assert (error.needed, error.found) == (76, 20)
    ```
    """
    if calibration is None:
        raise ValueError(
            f"precision='int8' needs `calibration`: your own images (an array "
            f"or a list of images as model.predict takes them, image file "
            f"paths, or a folder of images), at least "
            f"{images_needed(DEFAULT_HELD_OUT)} with the default "
            f"held_out={DEFAULT_HELD_OUT}; 300 or more is best."
        )
    if isinstance(calibration, (str, os.PathLike)):
        calibration = [calibration]
    from_files = isinstance(calibration, (list, tuple)) and bool(calibration) and all(
        isinstance(item, (str, os.PathLike)) for item in calibration
    )
    if from_files:
        paths = find_images(list(calibration), on_error)
        images, _ = read_images(paths, on_error)
    elif isinstance(calibration, (list, tuple)):
        images = list(calibration)
    elif getattr(calibration, "ndim", None) != 4:
        raise ValueError(
            f"`calibration` must be a batch of images (a 4-D array), a list of "
            f"images, image file paths or a folder; got "
            f"{type(calibration).__name__} with shape "
            f"{getattr(calibration, 'shape', None)}."
        )
    else:
        images = calibration
    needed = images_needed(held_out)
    if len(images) < needed:
        raise TooFewCalibrationImages(needed, len(images), held_out)
    return images, from_files


def _one(images, index):
    """Image `index` as a batch of one."""
    return images[int(index)][None]


def _quantize_openvino(onnx_model, inputs, threads):
    nncf = import_nncf()
    ov = import_openvino("precision='int8' with runtime='openvino'")
    with signal_stack_kept():
        model = ov.Core().read_model(onnx_model.SerializeToString(), b"")
        quantized = nncf.quantize(
            model,
            nncf.Dataset(inputs),
            preset=nncf.QuantizationPreset.PERFORMANCE,
            subset_size=len(inputs),
        )
    return OpenVinoEngine(quantized, "int8", threads)


def _quantize_onnxruntime(onnx_model, inputs, threads):
    quantization = import_package(
        "onnxruntime.quantization", "onnx", "precision='int8' with runtime='onnxruntime'"
    )

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{onnx_model.graph.input[0].name: x} for x in inputs])

        def get_next(self):
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory(prefix="densenet_hub-int8-") as work:
        path = pathlib.Path(work) / "model.onnx"
        quantization.quantize_static(
            onnx_model,
            path,
            Reader(),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.MinMax,
        )
        return OnnxRuntimeEngine(path.read_bytes(), "int8", threads)


_QUANTIZERS = {"openvino": _quantize_openvino, "onnxruntime": _quantize_onnxruntime}


def import_nncf():
    """Imports NNCF with its usage telemetry declined.

    NNCF sends usage events unless it runs in CI (`NNCF_CI`) or the
    environment says CI; both are set for the import, where NNCF decides
    once for the process. NNCF imports torch when it is installed.
    """
    saved = {name: os.environ.get(name) for name in ("CI", "NNCF_CI")}
    os.environ.update({"CI": "true", "NNCF_CI": "1"})
    try:
        return import_package("nncf", "openvino", "precision='int8' with runtime='openvino'")
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def _compare(expected, got, method, calibration_size, seed, min_agreement):
    expected = np.concatenate(expected).astype("float64")
    got = np.concatenate(got).astype("float64")
    flat_expected = expected.reshape(len(expected), -1)
    flat_got = got.reshape(len(got), -1)
    norms = np.linalg.norm(flat_expected, axis=1) * np.linalg.norm(flat_got, axis=1)
    cosine = np.sum(flat_expected * flat_got, axis=1) / np.maximum(norms, 1e-30)
    # A classifier's outputs are (batch, classes); a backbone's, feature maps.
    if expected.ndim == 2:
        measure = "top-1 agreement"
        agreement = float(np.mean(expected.argmax(-1) == got.argmax(-1)))
    else:
        measure = "smallest cosine similarity"
        agreement = float(cosine.min())
    return QuantizationReport(
        method=method,
        calibration_size=calibration_size,
        held_out_size=len(expected),
        seed=seed,
        measure=measure,
        agreement=agreement,
        max_logit_change=float(np.abs(got - expected).max()),
        cosine_similarity=float(cosine.min()),
        min_agreement=float(min_agreement),
        versions=_versions(),
    )


def _versions():
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _refusal(report):
    return (
        f"The int8 model was refused: its {report.measure} with float32 on "
        f"{report.held_out_size} held-out calibration images is "
        f"{report.agreement:.4f}, below min_agreement={report.min_agreement} "
        f"(largest output change {report.max_logit_change:.4g}, smallest "
        f"cosine similarity {report.cosine_similarity:.4f}). Fixes: calibrate "
        f"on more images that look like what the model will see (300 or "
        f"more), lower `min_agreement` if this loss is acceptable, or use "
        f"precision='bfloat16' (runtime='openvino'), which needs no "
        f"calibration."
    )
