"""Export DenseNet models to ONNX, OpenVINO, TensorFlow SavedModel and LiteRT.

`export_model(model, path, format=...)` writes a file or folder;
`to_onnx(model)` builds the ONNX graph in memory on any Keras backend. The
package is named `export`, so the function has its own name. int8 files come
from `densenet_hub.runtime.export_model(..., precision="int8")`: quantizing
needs the runtime's engines, which are built on this package.
"""

from densenet_hub.export.export import FORMATS
from densenet_hub.export.export import export_model
from densenet_hub.export.onnx_graph import to_onnx
from densenet_hub.base.optional import MissingExportPackageError
