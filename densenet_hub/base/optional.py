"""Optional packages, imported when first needed, with the pip command that
installs them: `import densenet_hub` works without any of them, and a
missing one is a user's fix, not a crash (the command line prints it in one
line)."""

import importlib


class MissingOptionalPackageError(ImportError):
    """An optional package (a hub client, an export or runtime package,
    matplotlib for plots) is not installed."""


def import_optional(
    module, pip_fix, purpose, error_class=MissingOptionalPackageError, alternative=None
):
    """Import `module` or raise `error_class` naming `purpose` and `pip_fix`
    (and `alternative`, another way round, when given).

    Example:
    ```python
    from densenet_hub.base.optional import MissingOptionalPackageError, import_optional

    try:
        import_optional("no_such_package", "pip install no_such_package", "Plotting")
    except MissingOptionalPackageError as error:
        assert "Fix: `pip install no_such_package`" in str(error)
    ```
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise error_class(
            f"{purpose} needs the optional package `{module}`, which is not "
            f"installed. Fix: `{pip_fix}`"
            + (f", or {alternative}." if alternative else ".")
        ) from error


def extra_fix(extra):
    """The pip command that installs densenet_hub's extra `extra`."""
    return f"pip install 'densenet-hub[{extra}]'"


class MissingExportPackageError(MissingOptionalPackageError):
    """An optional package an export format needs (`onnx`, `onnxruntime`,
    `openvino`, `tensorflow`) is not installed."""


def import_package(module, extra, purpose):
    """Import `module` or raise `MissingExportPackageError` naming the extra."""
    return import_optional(module, extra_fix(extra), purpose, MissingExportPackageError)
