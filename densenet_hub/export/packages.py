"""Lazy imports of the optional export packages, with the pip extra to install."""

import importlib
import os
import sys


class MissingExportPackageError(ImportError):
    """An optional package an export format needs (`onnx`, `onnxruntime`,
    `openvino`, `tensorflow`) is not installed."""


def import_package(module, extra, purpose):
    """Import `module` or raise `MissingExportPackageError` naming the extra.

    The export packages are imported only when an export runs, so that
    `import densenet_hub` works without them.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExportPackageError(
            f"{purpose} needs the optional package `{module}`, which is not "
            f"installed. Fix: `pip install 'densenet-hub[{extra}]'`."
        ) from error


def import_openvino(purpose):
    """Import `openvino` with its usage telemetry declined.

    On import, OpenVINO sends usage events to Google Analytics unless the
    user opted out; it declines when the environment says CI, so the import
    runs with `CI=true` for its duration. Only `openvino.convert_model`
    would ask again, and densenet_hub never calls it.
    """
    if "openvino" in sys.modules:
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
