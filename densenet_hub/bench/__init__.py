"""Benchmarks of densenet_hub against its peers, run alternately in one process.

Used by `densenet-hub bench` and the scripts in `benchmarks/`. Nothing here is
imported by the library itself.
"""

import importlib.util

# torchvision is a peer and KerasHub imports TensorFlow: in one process torch
# and torchvision must come first (importing them after TensorFlow has
# crashed with a segfault).
if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401
if importlib.util.find_spec("torchvision") is not None:
    import torchvision  # noqa: F401
