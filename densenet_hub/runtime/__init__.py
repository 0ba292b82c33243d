"""Fast inference for Keras DenseNet models on ONNX Runtime or OpenVINO.

`accelerate(model)` exports the model's graph once and returns an
`AcceleratedModel` whose `predict` takes what `model.predict` takes and
returns the same numbers (float32: within 1e-4); `precision="int8"`
quantizes it, calibrated on the user's images and checked against float32.
`AcceleratedModel.save` writes it to a folder, `load_accelerated` reads it.
`export_model` writes float32 or int8 files for other programs.
"""

from densenet_hub.runtime.accelerated_model import RUNTIMES
from densenet_hub.runtime.accelerated_model import AcceleratedModel
from densenet_hub.runtime.accelerated_model import accelerate
from densenet_hub.runtime.accelerated_model import load_accelerated
from densenet_hub.runtime.engines import PRECISIONS
from densenet_hub.runtime.quantization import QuantizationRefused
from densenet_hub.runtime.quantization import QuantizationReport
from densenet_hub.runtime.quantization import TooFewCalibrationImages
from densenet_hub.runtime.quantized_export import ExportedModel
from densenet_hub.runtime.quantized_export import export_model
