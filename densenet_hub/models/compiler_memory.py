"""Hands the memory XLA's compiler frees back to the operating system.

Compiling a DenseNet-121 training step on XLA:CPU raised the process' RSS by
1.9 GB, 1.2 GB of it compiler memory already freed that glibc kept in its
arenas, resident for the rest of training (BENCHMARKS.md, "Training
memory", `benchmarks/bench_xla_memory.py`). After every JAX compilation that takes at least
`LONG_COMPILE_SECONDS` (a model's step, not Keras' small eager ops),
`malloc_trim(0)` returns the free pages to the system. Where the C
library has no `malloc_trim` (musl, macOS), nothing is registered: their
allocators return memory by their own rules.
"""

import ctypes
import ctypes.util
import functools

import keras

LONG_COMPILE_SECONDS = 1.0
_BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_registered = False


def release_after_long_compiles():
    """Registers the release once per process on the JAX backend; returns
    whether it is active.

    Example:
    ```python
    from densenet_hub.models.compiler_memory import release_after_long_compiles

    assert release_after_long_compiles() in (True, False)
    ```
    """
    global _registered
    if _registered:
        return True
    if keras.backend.backend() != "jax":
        return False
    trim = _malloc_trim()
    if trim is None:
        return False
    import jax.monitoring

    def on_event(event, duration_secs, **metadata):
        if event == _BACKEND_COMPILE_EVENT and duration_secs >= LONG_COMPILE_SECONDS:
            trim(0)

    jax.monitoring.register_event_duration_secs_listener(on_event)
    _registered = True
    return True


@functools.cache  # find_library may run ldconfig: once per process
def _malloc_trim():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    return getattr(ctypes.CDLL(name), "malloc_trim", None)
