"""`create_app(model_or_preset)`: the ASGI app (Starlette) that serves a
classifier over HTTP: the Open Inference Protocol v2, an image-upload route
with Grad-CAM, Prometheus metrics and a web page.

Routes:

- `GET /`: the web page.
- `GET /v2`, `/v2/health/live`, `/v2/health/ready`: server metadata,
  liveness, readiness (503 until the batcher runs and while shutting down).
- `GET /v2/models/{name}[/versions/1]`, `.../ready`: the model's metadata
  (inputs, outputs, datatypes, shapes; see `protocol`) and readiness.
- `POST /v2/models/{name}[/versions/1]/infer`: inference on tensors.
- `POST /classify`: one image file, as multipart form field `image` or as
  the raw body; query `top_k`, `grad_cam=true`, `class` (name or index of
  the class to explain, default the most probable). Answers
  `{"model", "image", "width", "height", "kind", "predictions" |
  "findings", "grad_cam"?: {"index", "label", "probability", "heat_map",
  "overlay"}}` (see `results.classification`).
- `GET /metrics`: Prometheus text.

Every refusal is JSON `{"error": message}` with a 4xx status (400 malformed
request, not an image, wrong shape or datatype, over the pixel cap; 404
unknown model or route; 413 over the body cap; 503 queue full or shutting
down; 504 past the timeout), and the server goes on serving.
"""

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import tempfile
import time

import keras
import numpy as np

from densenet_hub.base.optional import MissingOptionalPackageError
from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional
from densenet_hub.data.images import read_image
from densenet_hub.serving import protocol
from densenet_hub.serving.batcher import MicroBatcher
from densenet_hub.serving.batcher import batch_buckets
from densenet_hub.serving.batcher import bucket_of
from densenet_hub.serving.errors import RequestError
from densenet_hub.serving.errors import bad_request
from densenet_hub.serving.errors import busy
from densenet_hub.serving.errors import timed_out
from densenet_hub.serving.errors import too_large
from densenet_hub.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from densenet_hub.serving.metrics import ServerMetrics
from densenet_hub.serving.model import ServedModel
from densenet_hub.serving.model import load_served_model
from densenet_hub.serving.page import page
from densenet_hub.serving.results import classification
from densenet_hub.serving.results import overlay_png
from densenet_hub.serving.settings import DEFAULT_MAX_BATCH
from densenet_hub.serving.settings import DEFAULT_MAX_BODY_BYTES
from densenet_hub.serving.settings import DEFAULT_MAX_PIXELS
from densenet_hub.serving.settings import DEFAULT_MAX_QUEUE
from densenet_hub.serving.settings import DEFAULT_MAX_WAIT_MS
from densenet_hub.serving.settings import DEFAULT_TIMEOUT_S
from densenet_hub.version import __version__

_PURPOSE = "Serving"
applications = import_optional("starlette.applications", extra_fix("serve"), _PURPOSE)
requests = import_optional("starlette.requests", extra_fix("serve"), _PURPOSE)
responses = import_optional("starlette.responses", extra_fix("serve"), _PURPOSE)
routing = import_optional("starlette.routing", extra_fix("serve"), _PURPOSE)

LOGGER = logging.getLogger("densenet_hub.serving")
# What the metrics call a client that went away before its answer (nginx's).
CLIENT_CLOSED = 499


def create_app(
    model_or_preset,
    *,
    name=None,
    runtime=None,
    precision="float32",
    labels=None,
    max_batch=DEFAULT_MAX_BATCH,
    max_wait_ms=DEFAULT_MAX_WAIT_MS,
    max_queue=DEFAULT_MAX_QUEUE,
    timeout_s=DEFAULT_TIMEOUT_S,
    max_body_bytes=DEFAULT_MAX_BODY_BYTES,
    max_pixels=DEFAULT_MAX_PIXELS,
    warm_up=True,
):
    """The ASGI app serving a classifier; run it with any ASGI server
    (`densenet_hub.serving.serve` runs uvicorn).

    Concurrent requests' images are gathered into batches of up to
    `max_batch`, waiting at most `max_wait_ms` for company, and run one
    batch at a time in a worker thread, so the event loop stays free.
    Under JAX, which compiles the preprocessing for each new batch shape, a
    batch is padded up to the next of a few sizes (powers of two, and
    `max_batch`), each run once here (`warm_up`) so that no request waits
    for a compilation; under TensorFlow and PyTorch batches run as they are.

    Args:
        model_or_preset: what `load_served_model` takes (a classifier
            preset, an accelerated folder, an `ImageClassifier`, an
            `AcceleratedModel`), or a `ServedModel`.
        name, runtime, precision, labels: as for `load_served_model`.
        max_batch: the most images run together.
        max_wait_ms: how long a batch's first image waits for others.
        max_queue: the most images waiting; past it requests get 503.
        timeout_s: the most seconds from a request's body to its answer;
            past it the answer is 504 (and its images are dropped if they
            had not run yet).
        max_body_bytes: the largest request body; larger ones get 413.
        max_pixels: the most pixels (height x width) an image may have.
        warm_up: under JAX, run each padded batch size once now, at the
            preprocessor's image size (images of other sizes still compile
            once per size).

    Returns:
        A Starlette app; `app.state.served_model` is the `ServedModel` and
        `app.state.metrics` the `ServerMetrics`.

    Example:
    ```python
    import densenet_hub
    from densenet_hub.serving import create_app

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    app = create_app(classifier, name="tiny", max_batch=8)
    assert app.state.served_model.name == "tiny"
    # serve it: densenet_hub.serving.serve(app, port=8000), or any ASGI server
    ```
    """
    served = model_or_preset
    if not isinstance(served, ServedModel):
        served = load_served_model(
            model_or_preset, name=name, runtime=runtime, precision=precision, labels=labels
        )
    check_limits(max_batch=max_batch, max_wait_ms=max_wait_ms, max_queue=max_queue,
                 timeout_s=timeout_s, max_body_bytes=max_body_bytes, max_pixels=max_pixels)  # fmt: skip
    if warm_up and _padded_sizes(max_batch) is not None:
        served.warm_up(_padded_sizes(max_batch))
    service = _Service(served, max_batch=max_batch, max_wait_ms=max_wait_ms,
                       max_queue=max_queue, timeout_s=timeout_s,
                       max_body_bytes=max_body_bytes, max_pixels=max_pixels)  # fmt: skip
    app = applications.Starlette(
        routes=service.routes(),
        lifespan=service.lifespan,
        exception_handlers={404: service.unmatched, 405: service.unmatched},
    )
    app.state.served_model = served
    app.state.metrics = service.metrics
    app.state.timeout_s = timeout_s
    return app


def check_limits(**limits):
    """Raises `ValueError` for a batching option or limit of `create_app`
    (`max_batch`, `max_queue`, `max_body_bytes`, `max_pixels`: positive
    integers; `max_wait_ms`, `timeout_s`: numbers >= 0) that it cannot
    take, so that a caller starting the app elsewhere (a Ray Serve replica)
    hears of a bad value before anything starts.

    Example:
    ```python
    from densenet_hub.serving.app import check_limits

    check_limits(max_batch=8, max_wait_ms=0)
    try:
        check_limits(max_batch=0)
    except ValueError as error:
        assert "`max_batch` must be a positive integer, got 0" in str(error)
    ```
    """
    for key, value in limits.items():
        if key in ("max_wait_ms", "timeout_s"):
            if not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError(f"create_app: `{key}` must be a number >= 0, got {value!r}.")
        elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"create_app: `{key}` must be a positive integer, got {value!r}.")


def _padded_sizes(max_batch):
    """The sizes batches are padded to, or `None` to run them as they are:
    JAX compiles every new input shape (a second or more each), the other
    backends do not."""
    return batch_buckets(max_batch) if keras.backend.backend() == "jax" else None


class _Service:
    """The app's state and endpoints."""

    def __init__(self, served, *, max_batch, max_wait_ms, max_queue, timeout_s,
                 max_body_bytes, max_pixels):  # fmt: skip
        self.served = served
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.max_pixels = max_pixels
        self.padded_sizes = _padded_sizes(max_batch)
        self.batcher = None
        self.executor = None
        self.ready = False
        self.metrics = ServerMetrics(
            queue_length=lambda: 0 if self.batcher is None else self.batcher.queue_length
        )

    def routes(self):
        model = "/v2/models/{name}"
        versioned = "/v2/models/{name}/versions/{version}"
        table = [
            ("/", self.page, "GET"),
            ("/v2", self.server_metadata, "GET"),
            ("/v2/health/live", self.live, "GET"),
            ("/v2/health/ready", self.server_ready, "GET"),
            (model, self.model_metadata, "GET"),
            (versioned, self.model_metadata, "GET"),
            (f"{model}/ready", self.model_ready, "GET"),
            (f"{versioned}/ready", self.model_ready, "GET"),
            (f"{model}/infer", self.infer, "POST"),
            (f"{versioned}/infer", self.infer, "POST"),
            ("/classify", self.classify, "POST"),
            ("/metrics", self.metrics_text, "GET"),
        ]
        return [
            routing.Route(path, self._endpoint(path, handler), methods=[method])
            for path, handler, method in table
        ]

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        self.executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="densenet-hub-inference"
        )
        self.batcher = MicroBatcher(
            self._run_batch, self.executor, max_batch=self.max_batch,
            max_wait_ms=self.max_wait_ms, max_queue=self.max_queue,
            on_batch=self.metrics.observe_batch,
        )  # fmt: skip
        self.batcher.start()
        self.ready = True
        try:
            yield
        finally:
            # The ASGI server has finished the requests in flight; what is
            # still queued runs before the worker thread goes.
            self.ready = False
            await self.batcher.close()
            self.executor.shutdown(wait=True)

    # === Plumbing: limits, errors and metrics around every endpoint ===

    def _endpoint(self, route, handler):
        async def endpoint(request):
            started = time.perf_counter()
            try:
                self._check_length(request.headers.get("content-length"))
                capped = requests.Request(request.scope, self._capped(request.receive))
                response = await handler(capped)
            except RequestError as error:
                response = _error(error.status, str(error))
            except requests.ClientDisconnect:
                response = _error(CLIENT_CLOSED, "the client went away before its answer.")
            except Exception as error:  # answered, logged, and serving goes on
                LOGGER.exception("%s failed", route)
                response = _error(500, f"internal error: {type(error).__name__}: {error}")
            self.metrics.observe_request(route, response.status_code, time.perf_counter() - started)
            return response

        return endpoint

    async def unmatched(self, request, error):
        self.metrics.observe_request("unmatched", error.status_code, 0.0)
        return _error(
            error.status_code,
            f"{request.method} {request.url.path} is not a route of this server "
            f"({error.detail}); see GET /v2/models/{self.served.name} and POST /classify.",
        )

    def _check_length(self, length):
        if length is None:
            return
        if not length.isdigit():
            raise bad_request(f"the Content-Length header must be a number, got {length!r}.")
        if int(length) > self.max_body_bytes:
            raise self._too_large(int(length))

    def _capped(self, receive):
        received = 0

        async def capped_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise self._too_large(received)
            return message

        return capped_receive

    def _too_large(self, size):
        return too_large(
            f"the request body is {size:,} bytes or more, over the "
            f"{self.max_body_bytes:,} allowed; send a smaller image or fewer "
            "images per request."
        )

    def _check_model(self, request):
        name = request.path_params["name"]
        if name != self.served.name:
            raise RequestError(
                404, f"unknown model {name!r}; this server serves {self.served.name!r}."
            )
        version = request.path_params.get("version", protocol.MODEL_VERSION)
        if version != protocol.MODEL_VERSION:
            raise RequestError(
                404,
                f"unknown version {version!r} of {name!r}; the only version is "
                f"{protocol.MODEL_VERSION!r}.",
            )

    async def _answer_in_time(self, awaitable):
        try:
            return await asyncio.wait_for(awaitable, self.timeout_s)
        except asyncio.TimeoutError:
            raise timed_out(
                f"no answer within the server's timeout of {self.timeout_s:g} s; "
                "the server is overloaded: retry later, or with fewer images."
            ) from None

    def _run_batch(self, images):
        """One result per image: `(prediction row, probability row)`, or the
        error of an image the model refused. A batch that fails is run again
        image by image, so that one bad image fails alone."""
        count = len(images)
        if self.padded_sizes is not None:
            images = images + images[-1:] * (bucket_of(count, self.padded_sizes) - count)
        try:
            predictions, probabilities = self.served.predict(images)
            return list(zip(predictions[:count], probabilities[:count]))
        except Exception:
            if len(images) == 1:
                raise
        results = []
        for image in images:
            try:
                results.append(self._run_batch([image])[0])
            except ValueError as error:
                results.append(bad_request(f"the model refused the image: {error}"))
            except Exception as error:
                results.append(error)
        return results

    # === Endpoints ===

    async def page(self, request):
        text, headers = page(self.served.name)
        return responses.HTMLResponse(text, headers=headers)

    async def server_metadata(self, request):
        return _json({"name": "densenet_hub", "version": __version__,
                      "extensions": ["binary_tensor_data"]})  # fmt: skip

    async def live(self, request):
        return _json({"live": True})

    async def server_ready(self, request):
        return _json({"ready": self.ready}, 200 if self.ready else 503)

    async def model_metadata(self, request):
        self._check_model(request)
        served = self.served
        return _json(protocol.model_metadata(served.name, served.num_classes, served.platform))

    async def model_ready(self, request):
        self._check_model(request)
        return _json({"name": self.served.name, "ready": self.ready}, 200 if self.ready else 503)

    async def metrics_text(self, request):
        return responses.Response(self.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def infer(self, request):
        self._check_model(request)
        self._check_ready()
        body = await request.body()
        parsed = protocol.parse_infer_request(
            body, request.headers.get(protocol.HEADER_LENGTH),
            max_images=self.max_queue, max_pixels=self.max_pixels,
        )  # fmt: skip
        rows = await self._answer_in_time(self._submit(list(parsed.images)))
        tensors = {
            "predictions": np.stack([prediction for prediction, _ in rows]),
            "probabilities": np.stack([probability for _, probability in rows]),
        }
        content, headers = protocol.encode_infer_response(self.served.name, parsed, tensors)
        return responses.Response(content, headers=headers)

    async def classify(self, request):
        self._check_ready()
        options = _ClassifyOptions(request.query_params, self.served)
        data, filename = await _uploaded_image(request)
        image, probabilities, explained = await self._answer_in_time(
            self._classify(data, filename, options)
        )
        answer = {
            "model": self.served.name,
            "image": filename,
            "height": int(image.shape[0]),
            "width": int(image.shape[1]),
            **classification(
                probabilities, self.served.labels, options.top_k, self.served.multi_label
            ),
        }
        if explained is not None:
            answer["grad_cam"] = explained
        return _json(answer)

    # === The work behind the endpoints ===

    def _check_ready(self):
        if not self.ready:
            raise busy("the server is not ready (starting or shutting down); retry shortly.")

    async def _submit(self, images):
        results = await self.batcher.submit(images)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def _classify(self, data, filename, options):
        image = await asyncio.to_thread(self._decode, data, filename)
        ((_, probabilities),) = await self._submit([image])
        if not options.grad_cam:
            return image, probabilities, None
        index = options.class_index
        if index is None:
            index = int(np.argmax(probabilities))
        loop = asyncio.get_running_loop()
        try:
            explanation = await loop.run_in_executor(
                self.executor, self.served.explain, image, index
            )
        except ValueError as error:
            raise bad_request(str(error)) from None
        explained = {
            "index": index,
            "label": self.served.labels.names[index],
            "probability": float(probabilities[index]),
            "heat_map": np.round(explanation.heat, 4).tolist(),
            "overlay": await asyncio.to_thread(overlay_png, explanation.image, explanation.heat),
        }
        return image, probabilities, explained

    def _decode(self, data, filename):
        """The uploaded bytes as an image array, read as image files are
        everywhere in densenet_hub (16-bit and DICOM included)."""
        with tempfile.TemporaryDirectory(prefix="densenet-hub-upload-") as folder:
            path = os.path.join(folder, "upload")
            with open(path, "wb") as file:
                file.write(data)
            try:
                return read_image(path, self.max_pixels)
            except (ValueError, MissingOptionalPackageError) as error:
                message = str(error).replace(repr(path), repr(filename))
                raise bad_request(
                    f"{message}. Upload a PNG, JPEG, TIFF, BMP, GIF, WebP or DICOM image."
                ) from None


class _ClassifyOptions:
    """The query parameters of `POST /classify`, checked."""

    def __init__(self, query, served):
        known = {"top_k", "grad_cam", "class"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise bad_request(
                f"unknown query parameter(s) {', '.join(unknown)}; /classify takes "
                "top_k, grad_cam and class."
            )
        self.top_k = None
        if "top_k" in query:
            text = query["top_k"]
            if not text.isdigit() or int(text) < 1:
                raise bad_request(f"top_k must be a positive integer, got {text!r}.")
            self.top_k = int(text)
        flag = query.get("grad_cam", "false").lower()
        if flag not in ("true", "false", "1", "0"):
            raise bad_request(f"grad_cam must be true or false, got {query['grad_cam']!r}.")
        self.grad_cam = flag in ("true", "1")
        self.class_index = None
        if "class" in query:
            self.class_index = _class_index(query["class"], served.labels.names)
            self.grad_cam = True


def _class_index(requested, names):
    if requested in names:
        return names.index(requested)
    if requested.isdigit() and int(requested) < len(names):
        return int(requested)
    raise bad_request(
        f"class {requested!r} is neither a class name of the model nor an index "
        f"below {len(names)}; see GET /v2/models/... for the outputs."
    )


async def _uploaded_image(request):
    """`(bytes, filename)` of the uploaded image: the multipart field `image`,
    or the whole body."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=8)
        except (requests.ClientDisconnect, RequestError):
            raise
        except Exception as error:  # Starlette's parse errors, as a 400
            raise bad_request(f"the multipart form could not be read: {error}.") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise bad_request(
                "the form has no file field `image`; send the image as "
                "`image=@photo.jpg` (multipart) or as the raw request body."
            )
        data, filename = await upload.read(), upload.filename or "upload"
        await form.close()
    else:
        data, filename = await request.body(), "upload"
    if not data:
        raise bad_request("the request holds no image; send an image file.")
    return data, filename


def _json(value, status=200):
    return responses.Response(
        json.dumps(value, separators=(",", ":")), status_code=status,
        media_type=protocol.JSON_CONTENT_TYPE,
    )  # fmt: skip


def _error(status, message):
    return _json({"error": message}, status)
