"""Fast inference for Keras DenseNet models on ONNX Runtime or OpenVINO.

`accelerate(model)` exports the model's graph once and returns an
`AcceleratedModel` whose `predict` takes what `model.predict` takes and
returns the same numbers (float32: within 1e-4).
"""

from densenet_hub.runtime.accelerated_model import RUNTIMES
from densenet_hub.runtime.accelerated_model import AcceleratedModel
from densenet_hub.runtime.accelerated_model import accelerate
from densenet_hub.runtime.engines import PRECISIONS
