"""The Open Inference Protocol v2 (KServe / Triton REST) as this server speaks
it: the model's metadata, reading an inference request and writing its
response, with the binary tensor extension that generic clients such as
`tritonclient.http` use by default.

The model has one input and two outputs:

- `images`: datatype `UINT8` (8-bit images) or `FP32` (pixel levels 0-255
  with the extra precision of 16-bit scans and DICOM), shape
  `[batch, height, width, 3]`, RGB, channels last, any height and width up
  to the pixel cap. These are raw pixels, what `model.predict` takes: the
  server applies the model's own preprocessing (resize, crop, scale,
  normalise), so a client cannot get a preset's normalisation wrong.
- `predictions`: FP32 `[batch, classes]`, what `model.predict` returns
  (logits for a head without activation).
- `probabilities`: FP32 `[batch, classes]`, one probability per class
  (softmax of logits; a softmax or sigmoid head's outputs as they are).

A request is JSON, `{"id"?, "inputs": [{"name", "datatype", "shape",
"data" | "parameters": {"binary_data_size"}}], "outputs"?: [{"name",
"parameters"?: {"binary_data"}}], "parameters"?: {"binary_data_output"}}`,
optionally followed by the binary tensors, the JSON's length then in the
`Inference-Header-Content-Length` header. `data` may be flat (row-major) or
nested. A response is `{"model_name", "model_version", "id"?, "outputs":
[{"name", "datatype", "shape", "data" | "parameters": {"binary_data_size"}}]}`,
likewise followed by the binary outputs that were asked for so.
"""

import dataclasses
import json
import math

import numpy as np

from densenet_hub.serving.errors import bad_request

INPUT_NAME = "images"
DATATYPES = {"UINT8": np.dtype("uint8"), "FP32": np.dtype("float32")}
OUTPUT_NAMES = ("predictions", "probabilities")
MODEL_VERSION = "1"
HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_CONTENT_TYPE = "application/octet-stream"
JSON_CONTENT_TYPE = "application/json"


@dataclasses.dataclass
class InferRequest:
    """A checked inference request.

    Attributes:
        id: the client's request id, echoed in the response, or `None`.
        images: the `images` tensor, `(batch, height, width, 3)`, uint8 or
            float32.
        outputs: `[(name, binary)]`, the outputs to return, in order, and
            whether each goes back as binary data.
    """

    id: object
    images: np.ndarray
    outputs: list


def model_metadata(name, num_classes, platform):
    """The `GET /v2/models/{name}` answer: the model's inputs and outputs.

    The `images` input is listed as UINT8, the usual form; FP32 is accepted
    too (see the module's docstring).

    Example:
    ```python
    from densenet_hub.serving.protocol import model_metadata

    metadata = model_metadata("digits", 10, "densenet_hub_onnxruntime")
    (images,) = metadata["inputs"]
    assert images == {"name": "images", "datatype": "UINT8", "shape": [-1, -1, -1, 3]}
    assert [output["shape"] for output in metadata["outputs"]] == [[-1, 10], [-1, 10]]
    ```
    """
    return {
        "name": name,
        "versions": [MODEL_VERSION],
        "platform": platform,
        "inputs": [{"name": INPUT_NAME, "datatype": "UINT8", "shape": [-1, -1, -1, 3]}],
        "outputs": [
            {"name": output, "datatype": "FP32", "shape": [-1, num_classes]}
            for output in OUTPUT_NAMES
        ],
    }


def parse_infer_request(body, header_length, *, max_images, max_pixels):
    """Reads and checks an inference request's body.

    Args:
        body: the request body, bytes.
        header_length: the `Inference-Header-Content-Length` header (the
            JSON part's length when binary tensors follow), or `None`.
        max_images: the most images one request may hold.
        max_pixels: the most pixels (height x width) an image may have.

    Returns:
        An `InferRequest`.

    Raises:
        RequestError: status 400 for a malformed request, or one over
            `max_images` or `max_pixels`, naming the field, what was expected
            and what came.

    Example:
    ```python
    import json
    from densenet_hub.serving.protocol import parse_infer_request

    body = json.dumps({"inputs": [{"name": "images", "datatype": "UINT8",
                                   "shape": [1, 2, 2, 3], "data": list(range(12))}]})
    request = parse_infer_request(body.encode(), None, max_images=8, max_pixels=100)
    assert request.images.shape == (1, 2, 2, 3) and request.images.dtype == "uint8"
    assert request.outputs == [("predictions", False), ("probabilities", False)]
    ```
    """
    document, binary = _split_body(body, header_length)
    if not isinstance(document, dict):
        raise bad_request(
            f"the request must be a JSON object with an `inputs` list, got "
            f"{type(document).__name__}."
        )
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise bad_request(
            f"`inputs` must be a list of one tensor, `{INPUT_NAME}`; got "
            f"{_short(inputs)}."
        )
    images = _read_images(inputs[0], binary, max_images, max_pixels)
    return InferRequest(document.get("id"), images, _requested_outputs(document))


def encode_infer_response(model_name, request, tensors):
    """The response to `request`: `(body, headers)`.

    Args:
        model_name: the served model's name.
        request: the `InferRequest` answered.
        tensors: `{output name: float32 array}`, at least every output the
            request asked for.

    Example:
    ```python
    import json
    import numpy as np
    from densenet_hub.serving.protocol import InferRequest, encode_infer_response

    request = InferRequest("7", np.zeros((1, 2, 2, 3), "uint8"), [("probabilities", False)])
    body, headers = encode_infer_response("m", request, {"probabilities": np.array([[0.25, 0.75]])})
    answer = json.loads(body)
    assert answer["id"] == "7" and answer["outputs"][0]["data"] == [0.25, 0.75]
    ```
    """
    outputs, blobs = [], []
    for name, binary in request.outputs:
        array = np.ascontiguousarray(tensors[name], dtype="float32")
        entry = {"name": name, "datatype": "FP32", "shape": list(array.shape)}
        if binary:
            blob = array.tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = array.ravel().tolist()
        outputs.append(entry)
    document = {"model_name": model_name, "model_version": MODEL_VERSION}
    if request.id is not None:
        document["id"] = request.id
    document["outputs"] = outputs
    header = json.dumps(document, separators=(",", ":")).encode("utf-8")
    if not blobs:
        return header, {"content-type": JSON_CONTENT_TYPE}
    return header + b"".join(blobs), {
        "content-type": BINARY_CONTENT_TYPE,
        HEADER_LENGTH.lower(): str(len(header)),
    }


def _split_body(body, header_length):
    """The request's JSON document and the binary data after it."""
    split = len(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise bad_request(
                f"the {HEADER_LENGTH} header must be the length of the JSON part "
                f"of the body, a number from 0 to {len(body)}; got {header_length!r}."
            )
        split = int(header_length)
    try:
        document = json.loads(body[:split])
    except (UnicodeDecodeError, ValueError) as error:
        raise bad_request(
            f"the request body is not valid JSON ({error}); send an inference "
            "request of the Open Inference Protocol v2, e.g. {\"inputs\": "
            '[{"name": "images", "datatype": "UINT8", "shape": [1, 224, 224, 3], '
            '"data": [...]}]}.'
        ) from None
    return document, memoryview(body)[split:]


def _read_images(tensor, binary, max_images, max_pixels):
    name = tensor.get("name")
    if name != INPUT_NAME:
        raise bad_request(f"the model's input is named {INPUT_NAME!r}, got {_short(name)}.")
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise bad_request(
            f"the input {INPUT_NAME!r} has datatype {_short(datatype)}; send "
            "UINT8 (8-bit images) or FP32 (pixel levels 0-255)."
        )
    shape = _checked_shape(tensor.get("shape"), max_images, max_pixels)
    dtype = DATATYPES[datatype]
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise bad_request(
            f"`parameters` of {INPUT_NAME!r} must be an object, got {_short(parameters)}."
        )
    if "binary_data_size" in parameters:
        images = _from_binary(parameters["binary_data_size"], binary, shape, dtype)
    else:
        if len(binary):
            raise bad_request(
                f"{len(binary)} bytes of binary data follow the JSON, but "
                f"{INPUT_NAME!r} has no `binary_data_size` parameter; give it, or "
                f"drop the {HEADER_LENGTH} header."
            )
        images = _from_json(tensor.get("data"), shape, dtype, datatype)
    if dtype == np.float32 and not np.isfinite(images).all():
        raise bad_request(f"the FP32 input {INPUT_NAME!r} holds NaN or infinite values.")
    return images


def _checked_shape(shape, max_images, max_pixels):
    valid = (
        isinstance(shape, list)
        and len(shape) == 4
        and all(isinstance(size, int) and not isinstance(size, bool) for size in shape)
        and all(size >= 1 for size in shape)
        and shape[3] == 3
    )
    if not valid:
        raise bad_request(
            f"the input {INPUT_NAME!r} must have shape [batch, height, width, 3] "
            f"(RGB, channels last, every size at least 1), got {_short(shape)}."
        )
    batch, height, width, _ = shape
    if batch > max_images:
        raise bad_request(
            f"the request holds {batch} images, over the {max_images} one request "
            "may hold; send fewer per request."
        )
    if height * width > max_pixels:
        raise bad_request(
            f"the images are {height}x{width}, {height * width:,} pixels, over the "
            f"{max_pixels:,} allowed; shrink them before sending."
        )
    return tuple(shape)


def _from_binary(size, binary, shape, dtype):
    expected = math.prod(shape) * dtype.itemsize
    if size != expected or isinstance(size, bool):
        raise bad_request(
            f"`binary_data_size` of {INPUT_NAME!r} must be {expected} bytes for "
            f"shape {list(shape)} of {dtype.name}, got {_short(size)}."
        )
    if len(binary) != expected:
        raise bad_request(
            f"the body holds {len(binary)} bytes after the JSON, but "
            f"{INPUT_NAME!r} declares {expected}; the upload may be truncated."
        )
    return np.frombuffer(binary, dtype=dtype).reshape(shape)


def _from_json(data, shape, dtype, datatype):
    if not isinstance(data, list):
        raise bad_request(
            f"the input {INPUT_NAME!r} needs `data`, a list of numbers (flat or "
            f"nested), or binary data; got {_short(data)}."
        )
    try:
        values = np.asarray(data)
    except ValueError:
        raise bad_request(
            f"the `data` of {INPUT_NAME!r} is a ragged nested list; give it as "
            f"a flat list of {math.prod(shape)} numbers."
        ) from None
    if values.size != math.prod(shape):
        raise bad_request(
            f"the `data` of {INPUT_NAME!r} holds {values.size} values, but shape "
            f"{list(shape)} needs {math.prod(shape)}."
        )
    integral = values.dtype.kind in "iu"
    if not (integral or (values.dtype.kind == "f" and dtype == np.float32)):
        kind = "integers" if dtype == np.uint8 else "numbers"
        raise bad_request(
            f"the `data` of the {datatype} input {INPUT_NAME!r} must be {kind}, "
            f"got values of type {values.dtype.name}."
        )
    if dtype == np.uint8 and values.size and (values.min() < 0 or values.max() > 255):
        raise bad_request(
            f"UINT8 values of {INPUT_NAME!r} must be 0 to 255, got "
            f"{values.min()} to {values.max()}."
        )
    return values.astype(dtype).reshape(shape)


def _requested_outputs(document):
    default_binary = _flag(document.get("parameters"), "binary_data_output")
    requested = document.get("outputs")
    if requested is None:
        return [(name, default_binary) for name in OUTPUT_NAMES]
    if not isinstance(requested, list) or not requested:
        raise bad_request(f"`outputs` must be a non-empty list, got {_short(requested)}.")
    outputs = []
    for entry in requested:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name not in OUTPUT_NAMES:
            raise bad_request(
                f"unknown output {_short(name)}; the model's outputs are "
                f"{', '.join(map(repr, OUTPUT_NAMES))}."
            )
        binary = _flag(entry.get("parameters"), "binary_data", default_binary)
        outputs.append((name, binary))
    return outputs


def _flag(parameters, key, default=False):
    if parameters is None:
        return default
    value = parameters.get(key, default) if isinstance(parameters, dict) else None
    if not isinstance(value, bool):
        raise bad_request(f"the parameter {key!r} must be true or false, got {_short(value)}.")
    return value


def _short(value, limit=80):
    """`value` as JSON, cut to `limit` characters, for error messages."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
