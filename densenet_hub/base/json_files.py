"""Reads a preset's JSON files as plain data, refusing anything a preset
writer would not produce: files over a size cap, a byte-order mark,
duplicate keys, NaN and Infinity, anything but a JSON object at the top."""

import json
import pathlib

MAX_JSON_BYTES = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"


def read_json(path, max_bytes=MAX_JSON_BYTES):
    """Parses a preset JSON file into a dict, refusing anything but a plain
    UTF-8 JSON object of at most `max_bytes` bytes."""
    path = pathlib.Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise _too_big(path, size, max_bytes)
    with open(path, "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
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
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(
            f"{path} is not valid JSON: {error}. Re-download or re-save the "
            "preset."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{path} must hold a JSON object, got a JSON "
            f"{type(value).__name__}. Re-download or re-save the preset."
        )
    return value


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
