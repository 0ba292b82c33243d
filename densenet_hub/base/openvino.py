"""OpenVINO's import and its workaround, shared by the exporter (IR files)
and the runtime (inference, NNCF quantization).

It lives in the base layer because both need it and the runtime already
imports the exporter: beside the runtime it would make the exporter import
upward."""

import contextlib
import ctypes
import os
import sys

from densenet_hub.base.optional import import_package


def import_openvino(purpose):
    """Import `openvino` with its usage telemetry declined.

    On import, OpenVINO sends usage events to Google Analytics unless the
    user opted out; it declines when the environment says CI, so the import
    runs with `CI=true` for its duration. Only `openvino.convert_model`
    would ask again, and densenet_hub never calls it.
    """
    # None in sys.modules means the import is blocked: import_optional reports it.
    if sys.modules.get("openvino") is not None:
        return sys.modules["openvino"]
    saved = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        return import_package("openvino", "openvino", purpose)
    finally:
        if saved is None:
            del os.environ["CI"]
        else:
            os.environ["CI"] = saved


class _SignalStack(ctypes.Structure):
    # Linux's `stack_t`; other systems order its fields differently.
    _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]


@contextlib.contextmanager
def signal_stack_kept():
    """Gives the calling thread back its alternate signal stack afterwards;
    wrap every OpenVINO compile and inference in it.

    OpenVINO's CPU plugin (2026.4), running a model, can leave the calling
    thread an alternate signal stack whose memory it then frees. Python runs
    its SIGINT handler on that stack (SA_ONSTACK), so the next Ctrl-C
    crashed the process with a segmentation fault instead of raising
    KeyboardInterrupt.
    """
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None)
    before = _SignalStack()
    libc.sigaltstack(None, ctypes.byref(before))
    try:
        yield
    finally:
        libc.sigaltstack(ctypes.byref(before), None)
