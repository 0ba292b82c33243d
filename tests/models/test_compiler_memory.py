"""`compiler_memory`: after a long JAX compilation the process hands freed
heap memory back to the system (measured on the real process' RSS)."""

import ctypes
import ctypes.util
import re

import keras
import numpy as np
import pytest

from densenet_hub.models import compiler_memory

BACKEND = keras.backend.backend()
LIBC = ctypes.CDLL(ctypes.util.find_library("c"))


def _rss_mb():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) / 1024


def _hold_freed_heap(megabytes):
    """Frees `megabytes` of small blocks below a block that stays: glibc's
    free() cannot return them (they are not at the heap's top)."""
    LIBC.malloc.restype = ctypes.c_void_p
    LIBC.free.argtypes = [ctypes.c_void_p]
    blocks = [LIBC.malloc(4096) for _ in range(megabytes * 256)]
    for block in blocks:
        ctypes.memset(block, 1, 4096)  # make the pages resident
    pin = LIBC.malloc(4096)
    for block in blocks:
        LIBC.free(block)
    return pin


@pytest.mark.skipif(BACKEND != "jax", reason="XLA compilations on JAX only")
def test_a_long_compile_returns_freed_memory(monkeypatch, tiny_backbone):
    import jax

    # Building `tiny_backbone` registered the release hook.
    assert compiler_memory.release_after_long_compiles() is True
    monkeypatch.setattr(compiler_memory, "LONG_COMPILE_SECONDS", 0.0)
    pin = _hold_freed_heap(200)
    try:
        before = _rss_mb()
        offset = np.random.default_rng().normal()  # a new program: a real compile
        jax.jit(lambda x: x * 2 + offset)(np.ones(3, "float32")).block_until_ready()
        after = _rss_mb()
    finally:
        LIBC.free(pin)
    assert before - after > 150, f"RSS {before:.0f} MB -> {after:.0f} MB"


@pytest.mark.skipif(BACKEND == "jax", reason="the other backends register nothing")
def test_other_backends_register_nothing():
    assert compiler_memory.release_after_long_compiles() is False
