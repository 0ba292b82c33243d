"""The app on Ray Serve: two replicas of the tiny preset in a private local
Ray (127.0.0.1, its own temporary folder) answer the same tensors and image
uploads as the plain server, both replicas take requests, and shutting down
stops this Ray only. Options are refused before any Ray starts."""

import os

import httpx
import numpy as np
import pytest
import ray
from helpers.models import build_tiny_backbone
from serving_helpers import CLIENT_TIMEOUT_S
from serving_helpers import images
from serving_helpers import infer_body
from serving_helpers import png_bytes

from densenet_hub.serving.ray_deployment import PID_HEADER
from densenet_hub.serving.ray_deployment import REPLICA_HEADER
from densenet_hub.serving.ray_deployment import ReplicaStartError
from densenet_hub.serving.ray_deployment import deploy_on_ray

TOLERANCE = 1e-6
INFER = "/v2/models/tiny/infer"
# Enough requests that missing a replica of two by chance is not a risk
# (Serve picks between replicas at random when neither is busy).
MOST_REQUESTS = 200


@pytest.fixture(scope="module", autouse=True)
def _no_ray_address():
    # RAY_ADDRESS would send deploy_on_ray to another cluster; these tests
    # start and stop their own.
    saved = os.environ.pop("RAY_ADDRESS", None)
    yield
    if saved is not None:
        os.environ["RAY_ADDRESS"] = saved


@pytest.fixture(scope="module")
def on_ray(preset):
    deployment = deploy_on_ray(preset, replicas=2, port=0, num_cpus=0.5, max_batch=4)
    try:
        yield deployment
    finally:
        deployment.shutdown()


def _outputs(response):
    assert response.status_code == 200, response.text
    return {
        output["name"]: np.asarray(output["data"], "float64").reshape(output["shape"])
        for output in response.json()["outputs"]
    }


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"replicas": 0}, "replicas must be a positive integer, got 0"),
        ({"num_cpus": -1}, "num_cpus must be a number >= 0, got -1"),
        ({"max_batch": 0}, "`max_batch` must be a positive integer, got 0"),
        ({"batch_size": 8}, "unknown option(s) batch_size"),
    ],
)
def test_bad_options_are_refused_before_ray_starts(preset, arguments, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        deploy_on_ray(preset, **arguments)
    assert not ray.is_initialized()


def test_a_model_in_memory_or_a_missing_folder_is_refused(served, tmp_path):
    with pytest.raises(ValueError, match="save the model with `save_to_preset"):
        deploy_on_ray(served.classifier)
    with pytest.raises(ValueError, match="does not exist"):
        deploy_on_ray(tmp_path / "nowhere")
    assert not ray.is_initialized()


@pytest.mark.slow
def test_a_replica_that_cannot_start_names_its_error(tmp_path, guard):
    build_tiny_backbone().save_to_preset(str(tmp_path / "backbone"))
    with pytest.raises(ReplicaStartError, match="has no classification head"):
        deploy_on_ray(tmp_path / "backbone", replicas=1, port=0, num_cpus=0.5)
    assert not ray.is_initialized()


@pytest.mark.slow
def test_two_replicas_answer_as_the_plain_server_does(on_ray, server, guard):
    assert on_ray.url.startswith("http://127.0.0.1:")
    with (
        httpx.Client(base_url=on_ray.url, timeout=CLIENT_TIMEOUT_S) as scaled,
        httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as plain,
    ):
        assert scaled.get("/v2/models/tiny").json() == plain.get("/v2/models/tiny").json()
        for pixels in (images(3, 40, 48, seed=5), images(1, seed=6).astype("float32")):
            datatype = "FP32" if pixels.dtype == np.float32 else "UINT8"
            got = _outputs(scaled.post(INFER, json=infer_body(pixels, datatype)))
            expected = _outputs(plain.post(INFER, json=infer_body(pixels, datatype)))
            for name in ("predictions", "probabilities"):
                assert np.abs(got[name] - expected[name]).max() < TOLERANCE
            assert (got["probabilities"].argmax(1) == expected["probabilities"].argmax(1)).all()
        for seed in (7, 8):
            upload = {"image": (f"photo_{seed}.png", png_bytes(images(1, 36, 30, seed)[0]))}
            got = scaled.post("/classify", files=upload, params={"top_k": 5}).json()
            expected = plain.post("/classify", files=upload, params={"top_k": 5}).json()
            assert [p["label"] for p in got["predictions"]] == [
                p["label"] for p in expected["predictions"]
            ]
            assert np.abs(
                np.array([p["probability"] for p in got["predictions"]])
                - [p["probability"] for p in expected["predictions"]]
            ).max() < TOLERANCE


@pytest.mark.slow
def test_both_replicas_serve_requests(on_ray, guard):
    body = infer_body(images(1, seed=9))
    replicas = {}
    with httpx.Client(base_url=on_ray.url, timeout=CLIENT_TIMEOUT_S) as client:
        for _ in range(MOST_REQUESTS):
            response = client.post(INFER, json=body)
            assert response.status_code == 200, response.text
            replicas[response.headers[REPLICA_HEADER]] = int(response.headers[PID_HEADER])
            if len(replicas) == 2:
                break
    assert len(replicas) == 2, f"only replica {replicas} answered {MOST_REQUESTS} requests"
    pids = set(replicas.values())
    assert len(pids) == 2 and os.getpid() not in pids  # two processes, neither this one


@pytest.mark.slow
def test_shutdown_stops_this_ray_and_deletes_its_folder(on_ray, guard):
    # Last in the module: the other tests share this deployment.
    folder = on_ray.temp_dir
    assert os.path.isdir(folder)
    on_ray.shutdown()
    assert not ray.is_initialized() and not os.path.exists(folder)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{on_ray.url}/v2/health/live", timeout=5)
