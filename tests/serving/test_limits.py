"""Limits and failures: every refusal is a JSON 4xx (or 503 / 504) naming the
problem, the server answers good requests after each, a full queue answers
503 at once, a timeout 504, and a shutdown finishes the requests in flight."""

import concurrent.futures
import socket
import time

import httpx
import numpy as np
import pytest
from serving_helpers import CLIENT_TIMEOUT_S
from serving_helpers import gated
from serving_helpers import images
from serving_helpers import infer_body
from serving_helpers import png_bytes
from serving_helpers import start_server

GOOD = images(1, seed=1)
INFER = "/v2/models/tiny/infer"


def _still_serving(client, served):
    response = client.post(INFER, json=infer_body(GOOD))
    assert response.status_code == 200, response.text
    predictions = np.asarray(response.json()["outputs"][0]["data"], "float32")
    assert np.abs(predictions - served.classifier.predict(GOOD, verbose=0)[0]).max() < 1e-5


def _tensor(**changes):
    body = infer_body(GOOD)
    body["inputs"][0].update(changes)
    return body


BAD_REQUESTS = [
    ("not JSON", "post", INFER, {"content": b"\x00\x01 not json"}, 400, "not valid JSON"),
    ("wrong datatype", "post", INFER, {"json": _tensor(datatype="INT32")}, 400, "datatype"),
    ("wrong shape", "post", INFER, {"json": _tensor(shape=[1, 32, 32])}, 400, "shape [batch"),
    ("channels first", "post", INFER, {"json": _tensor(shape=[1, 3, 32, 32])}, 400, "shape [batch"),
    ("data of another shape", "post", INFER, {"json": _tensor(shape=[2, 32, 32, 3])}, 400,
     "needs 6144"),
    ("over the pixel cap", "post", INFER,
     {"json": _tensor(shape=[1, 3000, 3000, 3], data=[0])}, 400, "over the 4,000,000"),
    ("unknown model", "post", "/v2/models/other/infer", {"json": infer_body(GOOD)}, 404,
     "unknown model 'other'"),
    ("unknown version", "get", "/v2/models/tiny/versions/2", {}, 404, "unknown version '2'"),
    ("unknown route", "get", "/v3/anything", {}, 404, "is not a route"),
    ("wrong method", "get", INFER, {}, 405, "is not a route"),
    ("not an image", "post", "/classify",
     {"files": {"image": ("notes.txt", b"just some text", "text/plain")}}, 400,
     "cannot read the image 'notes.txt'"),
    ("truncated image", "post", "/classify",
     {"files": {"image": ("cut.png", png_bytes(GOOD[0])[:60], "image/png")}}, 400,
     "cannot read the image 'cut.png'"),
    ("empty upload", "post", "/classify", {"content": b""}, 400, "holds no image"),
    ("form without the field", "post", "/classify", {"files": {"photo": ("a.png", b"x")}}, 400,
     "no file field `image`"),
    ("unknown class", "post", "/classify", {"params": {"class": "zebra"},
                                            "content": png_bytes(GOOD[0])}, 400,
     "class 'zebra' is neither"),
    ("bad top_k", "post", "/classify", {"params": {"top_k": "0"}, "content": b"x"}, 400,
     "top_k must be a positive integer"),
    ("unknown query", "post", "/classify", {"params": {"topk": "3"}, "content": b"x"}, 400,
     "unknown query parameter(s) topk"),
    ("image over the pixel cap", "post", "/classify",
     {"content": png_bytes(np.zeros((2100, 2000, 3), "uint8"))}, 400, "over the 4,000,000"),
    ("body over the cap", "post", INFER, {"content": bytes(300_000)}, 413,
     "over the 262,144 allowed"),
]


@pytest.fixture(scope="module")
def limited(served):
    server = start_server(served, max_body_bytes=256 << 10, max_pixels=4_000_000)
    yield server
    server.stop()


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_each_bad_request_gets_a_clear_json_error_and_serving_goes_on(limited, served, case, guard):
    _, method, path, arguments, status, expected = case
    with httpx.Client(base_url=limited.url, timeout=CLIENT_TIMEOUT_S) as client:
        response = getattr(client, method)(path, **arguments)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert expected in response.json()["error"]
        _still_serving(client, served)


def test_a_connection_dropped_mid_body_leaves_the_server_serving(limited, served, guard):
    host, port = limited.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"POST /classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
            f"Content-Length: 5000\r\n\r\n".encode() + png_bytes(GOOD[0])[:100]
        )
    with httpx.Client(base_url=limited.url, timeout=CLIENT_TIMEOUT_S) as client:
        _still_serving(client, served)


def test_a_full_queue_answers_503_at_once_and_the_queued_requests_complete(served, guard):
    server = start_server(served, max_batch=1, max_wait_ms=0, max_queue=2)
    try:
        with (
            httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client,
            concurrent.futures.ThreadPoolExecutor(3) as pool,
            gated(served) as (gate, entered),
        ):
            running = pool.submit(client.post, INFER, json=infer_body(GOOD))
            assert entered.wait(CLIENT_TIMEOUT_S)
            queued = [pool.submit(client.post, INFER, json=infer_body(GOOD)) for _ in range(2)]
            _wait_for(lambda: "densenet_hub_queue_length 2" in client.get("/metrics").text)
            refused = client.post(INFER, json=infer_body(GOOD))
            # Answered while the first batch is still held and the queue
            # full: the refusal waited for no batch.
            held = client.get("/metrics").text
            assert "densenet_hub_batch_size_count 0" in held
            assert "densenet_hub_queue_length 2" in held
            assert not running.done() and not any(future.done() for future in queued)
            gate.set()
            answers = [running.result(), *(future.result() for future in queued)]
            assert refused.status_code == 503 and "queue is full" in refused.json()["error"]
            assert [answer.status_code for answer in answers] == [200, 200, 200]
            metrics = client.get("/metrics").text
            assert 'route="/v2/models/{name}/infer",status="503"} 1' in metrics
            _still_serving(client, served)
    finally:
        server.stop()


def test_a_request_past_its_timeout_gets_504_and_serving_goes_on(served, guard):
    server = start_server(served, timeout_s=0.5)
    try:
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
            with gated(served) as (gate, _):
                late = client.post(INFER, json=infer_body(GOOD))
                gate.set()
            assert late.status_code == 504 and "timeout of 0.5 s" in late.json()["error"]
            # A first batch of a new size may compile for longer than 0.5 s.
            _wait_for(lambda: client.post(INFER, json=infer_body(GOOD)).status_code == 200)
    finally:
        server.stop()


def test_shutdown_finishes_the_request_in_flight(served, guard):
    server = start_server(served)
    with concurrent.futures.ThreadPoolExecutor(2) as pool, gated(served) as (gate, entered):
        in_flight = pool.submit(
            httpx.post, f"{server.url}{INFER}", json=infer_body(GOOD), timeout=CLIENT_TIMEOUT_S
        )
        assert entered.wait(CLIENT_TIMEOUT_S)
        stopping = pool.submit(server.stop)
        # Stopping closes the listening socket first, then waits for the
        # request in flight.
        _wait_for(lambda: _refused(server.url))
        assert not stopping.done()
        gate.set()
        answer = in_flight.result(CLIENT_TIMEOUT_S)
        stopping.result(CLIENT_TIMEOUT_S)
    assert answer.status_code == 200
    expected = served.classifier.predict(GOOD, verbose=0)
    assert np.abs(np.asarray(answer.json()["outputs"][0]["data"]) - expected[0]).max() < 1e-5


def _refused(url):
    try:
        httpx.get(f"{url}/v2/health/live", timeout=5)
    except httpx.ConnectError:
        return True
    return False


def _wait_for(condition, timeout_s=CLIENT_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)
