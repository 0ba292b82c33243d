"""Inference engines that run an ONNX graph: ONNX Runtime and OpenVINO.

Each engine takes an `onnx.ModelProto` with one image input and one output
and offers `run(batch) -> numpy array`. Neither falls back to another engine
or precision: a request it cannot honour is an error that says what to do.
"""

import numpy as np

from densenet_hub.export.packages import import_openvino
from densenet_hub.export.packages import import_package

PRECISIONS = ("float32", "bfloat16")


class OnnxRuntimeEngine:
    """ONNX Runtime's CPU execution provider with every graph optimisation.

    Args:
        onnx_model: `onnx.ModelProto`.
        precision: only `"float32"`: ONNX Runtime's CPU kernels have no
            bfloat16 convolutions.
        threads: intra-op threads; `None` lets ONNX Runtime use one per
            physical core.
    """

    name = "onnxruntime"

    def __init__(self, onnx_model, precision="float32", threads=None):
        if precision != "float32":
            raise ValueError(
                f"runtime='onnxruntime' runs precision='float32' only, got "
                f"precision={precision!r}: its CPU kernels have no bfloat16 "
                f"convolutions. Use runtime='openvino' for bfloat16."
            )
        ort = import_package("onnxruntime", "onnx", "runtime='onnxruntime'")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            onnx_model.SerializeToString(),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self.input_name = self.session.get_inputs()[0].name

    def run(self, batch):
        return self.session.run(None, {self.input_name: batch})[0]


class OpenVinoEngine:
    """OpenVINO on the CPU, compiled once per input shape.

    Args:
        onnx_model: `onnx.ModelProto`.
        precision: `"float32"` (OpenVINO's f32 inference precision, forced:
            OpenVINO would otherwise pick bfloat16 on CPUs that have it) or
            `"bfloat16"` (needs a CPU with bfloat16 instructions, e.g. AVX-512
            BF16 or AMX; an error otherwise).
        threads: inference threads; `None` lets OpenVINO decide.
    """

    name = "openvino"

    def __init__(self, onnx_model, precision="float32", threads=None):
        ov = import_openvino("runtime='openvino'")
        self.core = ov.Core()
        if precision == "bfloat16":
            capabilities = self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            if "BF16" not in capabilities:
                raise ValueError(
                    f"precision='bfloat16' needs a CPU with bfloat16 instructions "
                    f"(AVX-512 BF16 or AMX); OpenVINO reports only "
                    f"{sorted(capabilities)} here. Use precision='float32'."
                )
        self.config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32"}
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = int(threads)
        self.model = self.core.read_model(onnx_model.SerializeToString(), b"")
        self.input_name = self.model.inputs[0].get_any_name()
        self.compiled = {}

    def run(self, batch):
        request = self.compiled.get(batch.shape)
        if request is None:
            self.model.reshape({self.input_name: list(batch.shape)})
            compiled = self.core.compile_model(self.model, "CPU", self.config)
            request = self.compiled[batch.shape] = compiled.create_infer_request()
        request.infer({0: batch}, share_inputs=True)
        return np.array(request.get_output_tensor(0).data, copy=True)


ENGINES = {engine.name: engine for engine in (OnnxRuntimeEngine, OpenVinoEngine)}
