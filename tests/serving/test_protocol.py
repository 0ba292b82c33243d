"""The Open Inference Protocol v2 request reader and response writer, the
micro-batcher and the metrics text, without a server."""

import asyncio
import concurrent.futures
import json

import numpy as np
import pytest

from densenet_hub.serving.batcher import MicroBatcher
from densenet_hub.serving.errors import RequestError
from densenet_hub.serving.metrics import ServerMetrics
from densenet_hub.serving.protocol import HEADER_LENGTH
from densenet_hub.serving.protocol import encode_infer_response
from densenet_hub.serving.protocol import parse_infer_request


def _parse(document, binary=b"", header=None, max_images=8, max_pixels=10_000):
    body = json.dumps(document).encode() if not isinstance(document, bytes) else document
    if binary:
        header = str(len(body))
    return parse_infer_request(body + binary, header, max_images=max_images, max_pixels=max_pixels)


def _tensor(**changes):
    tensor = {"name": "images", "datatype": "UINT8", "shape": [1, 2, 2, 3], "data": list(range(12))}
    tensor.update(changes)
    return {"inputs": [tensor]}


def test_reads_json_data_flat_or_nested_and_binary_data():
    flat = _parse(_tensor()).images
    nested = _parse(_tensor(data=np.arange(12).reshape(1, 2, 2, 3).tolist())).images
    pixels = np.arange(12, dtype="float32").reshape(1, 2, 2, 3) / 2
    binary = _parse(
        _tensor(datatype="FP32", data=None, parameters={"binary_data_size": 48}),
        binary=pixels.tobytes(),
    ).images
    assert flat.dtype == np.uint8 and np.array_equal(flat, nested)
    assert binary.dtype == np.float32 and np.array_equal(binary, pixels)


@pytest.mark.parametrize(
    "document, expected",
    [
        (b"{not json", "not valid JSON"),
        ([1, 2], "must be a JSON object"),
        ({"inputs": []}, "a list of one tensor"),
        (_tensor(name="pixels"), "input is named 'images'"),
        (_tensor(datatype="INT64"), 'datatype "INT64"; send UINT8'),
        (_tensor(shape=[1, 2, 2]), "shape [batch, height, width, 3]"),
        (_tensor(shape=[1, 2, 2, 4]), "shape [batch, height, width, 3]"),
        (_tensor(shape=[0, 2, 2, 3], data=[]), "shape [batch, height, width, 3]"),
        (_tensor(shape=[9, 2, 2, 3]), "9 images, over the 8"),
        (_tensor(shape=[1, 200, 200, 3]), "over the 10,000 allowed"),
        (_tensor(data=list(range(11))), "holds 11 values, but shape [1, 2, 2, 3] needs 12"),
        (_tensor(data=[[1, 2], [3]]), "ragged nested list"),
        (_tensor(data=[300] * 12), "UINT8 values of 'images' must be 0 to 255"),
        (_tensor(data=[0.5] * 12), "must be integers"),
        (_tensor(data=["a"] * 12), "must be integers"),
        (_tensor(data=None), "needs `data`"),
        (_tensor(datatype="FP32", data=[float("nan")] * 12), "NaN or infinite"),
        ({**_tensor(), "outputs": [{"name": "logits"}]}, "unknown output \"logits\""),
        ({**_tensor(), "parameters": {"binary_data_output": "yes"}}, "must be true or false"),
    ],
)
def test_refuses_malformed_requests_naming_the_problem(document, expected):
    with pytest.raises(RequestError) as caught:
        _parse(document)
    assert caught.value.status == 400
    assert expected in str(caught.value)


def test_refuses_binary_data_of_the_wrong_size_and_a_bad_header_length():
    declared = _tensor(data=None, parameters={"binary_data_size": 12})
    with pytest.raises(RequestError, match="may be truncated"):
        _parse(declared, binary=bytes(11))
    with pytest.raises(RequestError, match="must be 12 bytes"):
        _parse(_tensor(data=None, parameters={"binary_data_size": 10}), binary=bytes(10))
    with pytest.raises(RequestError, match=HEADER_LENGTH):
        _parse(_tensor(), header="99999")


def test_response_gives_json_and_binary_outputs_as_asked():
    scores = np.array([[0.25, 0.75]], dtype="float32")
    request = _parse({**_tensor(), "id": "a1", "outputs": [
        {"name": "probabilities", "parameters": {"binary_data": True}},
        {"name": "predictions"},
    ]})  # fmt: skip
    body, headers = encode_infer_response("m", request, {"probabilities": scores,
                                                         "predictions": scores})  # fmt: skip
    split = int(headers[HEADER_LENGTH.lower()])
    document = json.loads(body[:split])
    assert document["id"] == "a1" and document["model_name"] == "m"
    binary, plain = document["outputs"]
    assert binary["parameters"] == {"binary_data_size": 8} and "data" not in binary
    assert np.array_equal(np.frombuffer(body[split:], "float32").reshape(1, 2), scores)
    assert plain["data"] == [0.25, 0.75] and plain["shape"] == [1, 2]


def _run(coroutine):
    return asyncio.run(coroutine)


def test_batcher_gathers_concurrent_items_and_keeps_their_order():
    sizes = []

    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(lambda items: [item * 10 for item in items], pool,
                                   max_batch=4, max_wait_ms=200, max_queue=64,
                                   on_batch=sizes.append)  # fmt: skip
            batcher.start()
            results = await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(4)))
            await batcher.close()
            return results

    assert _run(main()) == [[i * 10, (i + 100) * 10] for i in range(4)]
    assert sizes == [4, 4]


def test_batcher_refuses_past_its_queue_and_fails_only_the_items_that_failed():
    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            def run_batch(items):
                return [ValueError("bad") if item < 0 else item for item in items]

            batcher = MicroBatcher(run_batch, pool, max_batch=8, max_wait_ms=50, max_queue=3)
            batcher.start()
            with pytest.raises(RequestError) as caught:
                await batcher.submit([1, 2, 3, 4])
            assert caught.value.status == 503 and "queue is full" in str(caught.value)
            results = await batcher.submit([1, -1, 2])
            await batcher.close()
            with pytest.raises(RequestError, match="shutting down"):
                await batcher.submit([1])
            return results

    first, failed, last = _run(main())
    assert (first, last) == (1, 2) and isinstance(failed, ValueError)


def test_batcher_close_runs_what_is_queued():
    ran = []

    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(lambda items: ran.extend(items) or items, pool,
                                   max_batch=2, max_wait_ms=1000, max_queue=8)  # fmt: skip
            batcher.start()
            pending = asyncio.ensure_future(batcher.submit([1]))
            await asyncio.sleep(0.01)
            await batcher.close()
            return await pending

    assert _run(main()) == [1] and ran == [1]


def test_metrics_text_follows_the_prometheus_format():
    metrics = ServerMetrics(queue_length=lambda: 2)
    metrics.observe_request('/a"b', 200, 0.02)
    metrics.observe_request('/a"b', 200, 7.0)
    metrics.observe_batch(3)
    lines = metrics.render().splitlines()
    assert 'densenet_hub_requests_total{route="/a\\"b",status="200"} 2' in lines
    assert 'densenet_hub_request_duration_seconds_bucket{route="/a\\"b",le="0.025"} 1' in lines
    assert 'densenet_hub_request_duration_seconds_bucket{route="/a\\"b",le="+Inf"} 2' in lines
    assert 'densenet_hub_batch_size_bucket{le="2"} 0' in lines
    assert 'densenet_hub_batch_size_bucket{le="4"} 1' in lines
    assert "densenet_hub_batch_size_sum 3.0" in lines and "densenet_hub_queue_length 2" in lines
    assert "# TYPE densenet_hub_request_duration_seconds histogram" in lines
