"""The one strict JSON reader: reads a preset's JSON files (and this
library's own, such as a training checkpoint's state) as plain data,
refusing anything a preset writer would not produce: files over a size cap,
a byte-order mark, duplicate keys, NaN and Infinity (unless asked), anything
but a JSON object at the top (unless asked); and `json_bytes`, what this
library's JSON files hold."""

import json
import pathlib

MAX_JSON_BYTES = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"


PRESET_FIX = "Re-download or re-save the preset."


def read_json(
    path, max_bytes=MAX_JSON_BYTES, *, allow_non_finite=False, any_value=False, fix=PRESET_FIX
):
    """Parses a preset JSON file into a dict, refusing anything but a plain
    UTF-8 JSON object of at most `max_bytes` bytes.

    Args:
        path: the file.
        max_bytes: the size cap, or `None` for a file this library wrote
            itself and may grow with the data, such as a training
            checkpoint's state (it lists every image).
        allow_non_finite: accept `NaN`, `Infinity` and `-Infinity`, which
            Python's `json` writes for such floats.
        any_value: accept any JSON value at the top, e.g. the list of a
            preset's `class_names.json`, not only an object.
        fix: the sentence the errors end with, saying how to get a good
            file; `None` for none (the caller says it).

    Returns:
        the object as a dict (with `any_value`, whatever value it holds).

    Raises:
        ValueError: the file is too big, not strict JSON or not an object.
        OSError: it cannot be read.

    Example:
    ```python
    import math, pathlib, tempfile
    from densenet_hub.base.json_files import read_json

    path = pathlib.Path(tempfile.mkdtemp()) / "state.json"
    path.write_text('{"val_accuracy": NaN}')
    assert math.isnan(read_json(path, None, allow_non_finite=True)["val_accuracy"])
    try:
        read_json(path)
    except ValueError as error:
        assert "non-standard constant NaN" in str(error)
    path.write_text('["cat", "dog"]')
    assert read_json(path, any_value=True) == ["cat", "dog"]
    ```
    """
    path = pathlib.Path(path)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise _too_big(path, size, max_bytes)
    with open(path, "rb") as file:
        data = file.read() if max_bytes is None else file.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise _too_big(path, len(data), max_bytes)
    if data.startswith(UTF8_BOM):
        raise ValueError(
            f"{path} starts with a UTF-8 byte-order mark, which JSON does not "
            "allow. Save the file as UTF-8 without a BOM."
        )
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_object_without_duplicates,
            **({} if allow_non_finite else {"parse_constant": _reject_constant}),
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}.{_then(fix)}") from None
    if not any_value and not isinstance(value, dict):
        raise ValueError(
            f"{path} must hold a JSON object, got a JSON "
            f"{type(value).__name__}.{_then(fix)}"
        )
    return value


def json_bytes(value):
    """The bytes of a JSON file holding `value`: UTF-8, indented by 4 as
    KerasHub writes its presets.

    Args:
        value: JSON-serialisable data.

    Example:
    ```python
    from densenet_hub.base.json_files import json_bytes

    assert json_bytes({"a": [1]}) == b'{\n    "a": [\n        1\n    ]\n}'
    ```
    """
    return json.dumps(value, indent=4).encode("utf-8")


def _then(fix):
    return f" {fix}" if fix else ""


def _too_big(path, size, max_bytes):
    return ValueError(
        f"{path} is {size} bytes, over the {max_bytes}-byte limit for preset "
        "JSON files; it is not a densenet_hub or KerasHub preset file. "
        "Re-download or re-save the preset."
    )


def _object_without_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name):
    raise ValueError(f"non-standard constant {name}")
