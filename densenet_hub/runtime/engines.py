"""Inference engines that run an ONNX graph: ONNX Runtime and OpenVINO.

Each engine takes a model with one image input and one output (an
`onnx.ModelProto`, or the int8 model `runtime.quantization` made from one)
and offers `run(batch) -> numpy array`, `save(folder)` and `load(folder)`.
Neither falls back to another engine or precision: a request it cannot
honour is an error that says what to do.
"""

import numpy as np

from densenet_hub.base.openvino import import_openvino
from densenet_hub.base.optional import import_package
from densenet_hub.base.openvino import signal_stack_kept
from densenet_hub.base.publish import write_file
from densenet_hub.base.choices import PRECISIONS


class UnsupportedPrecision(ValueError):
    """A precision this runtime, or this CPU, cannot run (e.g. bfloat16 on a
    CPU without bfloat16 instructions): the caller may pick another."""


class OnnxRuntimeEngine:
    """ONNX Runtime's CPU execution provider with every graph optimisation.

    Args:
        onnx_model: `onnx.ModelProto` or its serialised bytes; for
            `precision="int8"` a graph ONNX Runtime's static quantization
            wrote (QuantizeLinear/DequantizeLinear pairs), which runs as is.
        precision: `"float32"` or `"int8"`; ONNX Runtime's CPU kernels have
            no bfloat16 convolutions.
        threads: intra-op threads; `None` lets ONNX Runtime use one per
            physical core.
    """

    name = "onnxruntime"
    files = ("model.onnx",)

    def __init__(self, onnx_model, precision="float32", threads=None):
        if precision not in ("float32", "int8"):
            raise UnsupportedPrecision(
                f"runtime='onnxruntime' runs precision='float32' or 'int8', got "
                f"precision={precision!r}: its CPU kernels have no bfloat16 "
                f"convolutions. Use runtime='openvino' for bfloat16."
            )
        ort = import_package("onnxruntime", "onnx", "runtime='onnxruntime'")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        if not isinstance(onnx_model, bytes):
            onnx_model = onnx_model.SerializeToString()
        self.model_bytes = onnx_model
        self.session = ort.InferenceSession(
            onnx_model, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def run(self, batch):
        return self.session.run(None, {self.input_name: batch})[0]

    def save(self, folder):
        """Writes `model.onnx` into `folder`."""
        write_file(folder / self.files[0], self.model_bytes)

    @classmethod
    def load(cls, folder, precision, threads=None):
        """The engine of the `model.onnx` in `folder` (a checked path)."""
        # Bytes, not a path: ONNX Runtime then refuses external-data
        # references instead of reading files beside (or outside) the folder.
        return cls((folder / cls.files[0]).read_bytes(), precision, threads)


class OpenVinoEngine:
    """OpenVINO on the CPU, compiled once per input shape.

    Args:
        model: `onnx.ModelProto`, or an `openvino.Model` (NNCF's int8 model,
            or one read from an IR).
        precision: `"float32"` (OpenVINO's f32 inference precision, forced:
            OpenVINO would otherwise pick bfloat16 on CPUs that have it),
            `"bfloat16"` (needs a CPU with bfloat16 instructions, e.g. AVX-512
            BF16 or AMX; an error otherwise) or `"int8"` (a model NNCF
            quantized: its quantized convolutions run in int8, the few
            layers left in float, in float32).
        threads: inference threads; `None` lets OpenVINO decide.
    """

    name = "openvino"
    files = ("model.xml", "model.bin")

    def __init__(self, model, precision="float32", threads=None):
        ov = import_openvino("runtime='openvino'")
        self.core = ov.Core()
        if precision == "bfloat16":
            with signal_stack_kept():
                capabilities = self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            if "BF16" not in capabilities:
                raise UnsupportedPrecision(
                    f"precision='bfloat16' needs a CPU with bfloat16 instructions "
                    f"(AVX-512 BF16 or AMX); OpenVINO reports only "
                    f"{sorted(capabilities)} here. Use precision='float32'."
                )
        self.config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32"}
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = int(threads)
        if not isinstance(model, ov.Model):
            with signal_stack_kept():
                model = self.core.read_model(model.SerializeToString(), b"")
        # Kept with its dynamic batch, for save; each shape compiles a copy.
        self.model = model
        self.input_name = model.inputs[0].get_any_name()
        self.compiled = {}

    def run(self, batch):
        with signal_stack_kept():
            request = self.compiled.get(batch.shape)
            if request is None:
                model = self.model.clone()
                model.reshape({self.input_name: list(batch.shape)})
                compiled = self.core.compile_model(model, "CPU", self.config)
                request = self.compiled[batch.shape] = compiled.create_infer_request()
            request.infer({0: batch}, share_inputs=True)
            return np.array(request.get_output_tensor(0).data, copy=True)

    def save(self, folder):
        """Writes the OpenVINO IR `model.xml` and `model.bin` into `folder`."""
        ov = import_openvino("saving an OpenVINO model")
        # Weights as they are: the default would halve float32 ones to float16.
        with signal_stack_kept():
            ov.save_model(self.model, str(folder / self.files[0]), compress_to_fp16=False)

    @classmethod
    def load(cls, folder, precision, threads=None):
        """The engine of the IR `model.xml` + `model.bin` in `folder`."""
        ov = import_openvino("runtime='openvino'")
        with signal_stack_kept():
            model = ov.Core().read_model(
                str(folder / cls.files[0]), str(folder / cls.files[1])
            )
        return cls(model, precision, threads)


ENGINES = {engine.name: engine for engine in (OnnxRuntimeEngine, OpenVinoEngine)}
