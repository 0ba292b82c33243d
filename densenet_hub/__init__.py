"""DenseNet image models for Keras 3, interchangeable with KerasHub's DenseNet.

The public namespaces (`densenet_hub.models`, `.layers`, ...) are imported on
first use, so that `import densenet_hub` and `densenet-hub --help` cost no
Keras import; `densenet_hub.models.DenseNetBackbone` works as with an eager
package.
"""

import importlib

from densenet_hub.base.backend import choose_backend_on_keras_import as _choose_on_keras_import
from densenet_hub.presets import registry as _preset_registry
from densenet_hub.version import __version__

_NAMESPACES = (
    "preprocessing", "models", "layers", "convert", "export", "distribution",
    "imagenet", "runtime", "training", "explain", "data", "inference",
    "evaluation",
)  # fmt: skip
_ATTRIBUTES = {"upload_preset": "densenet_hub.hub.upload"}
# Keras fixes its backend on import, so one that runs is chosen right before
# Keras is first imported (by whichever module), not here: `import
# densenet_hub` and the command line's help import no backend.
_choose_on_keras_import()


def _complete_preset_classes():
    # `densenet_hub.models` gathers every class a preset may name.
    importlib.import_module("densenet_hub.models")


_preset_registry.complete_with(_complete_preset_classes)


def __getattr__(name):
    if name not in _NAMESPACES and name not in _ATTRIBUTES:
        raise AttributeError(f"module 'densenet_hub' has no attribute {name!r}")
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    else:
        value = importlib.import_module(f"densenet_hub.{name}")
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_NAMESPACES, *_ATTRIBUTES])
