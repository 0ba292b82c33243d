"""DenseNet image models for Keras 3, interchangeable with KerasHub's DenseNet."""

# Keras fixes its backend on import, so it is chosen before any Keras import.
from densenet_hub.base.backend import NoKerasBackendError as _NoKerasBackendError
from densenet_hub.base.backend import choose_backend as _choose_backend
from densenet_hub.version import __version__

if _choose_backend() is None:
    # Nothing but `__version__` and the command line's help can work; the
    # public names say how to install a backend.
    def __getattr__(name):
        if name in _NEEDS_KERAS:
            raise _NoKerasBackendError()
        raise AttributeError(f"module 'densenet_hub' has no attribute {name!r}")

    _NEEDS_KERAS = (
        "preprocessing", "models", "layers", "convert", "export", "distribution",
        "imagenet", "runtime", "training", "explain", "upload_preset", "data",
        "inference", "evaluation",
    )  # fmt: skip

else:
    from densenet_hub import preprocessing
    from densenet_hub import models
    from densenet_hub import layers
    from densenet_hub import convert
    from densenet_hub import export
    from densenet_hub import distribution
    from densenet_hub import imagenet
    from densenet_hub import runtime
    from densenet_hub import training
    from densenet_hub import explain
    from densenet_hub import data
    from densenet_hub import inference
    from densenet_hub import evaluation
    from densenet_hub.hub.upload import upload_preset

    from densenet_hub.presets import registry as _preset_registry

    # Every class a preset may name is registered by now.
    _preset_registry.seal()
