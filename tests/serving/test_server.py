"""The app served by uvicorn on 127.0.0.1: the Open Inference Protocol v2 over
httpx and over a generic client (tritonclient), the image-upload route with
class names, thresholds and Grad-CAM, micro-batching, metrics, and models
from an accelerated folder."""

import concurrent.futures

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from serving_helpers import CLIENT_TIMEOUT_S
from serving_helpers import FINDINGS
from serving_helpers import NAMES
from serving_helpers import THRESHOLDS
from serving_helpers import images
from serving_helpers import infer_body
from serving_helpers import png_bytes
from serving_helpers import start_server

from densenet_hub.explain import explain_image
from densenet_hub.inference import to_probabilities
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.runtime import accelerate
from densenet_hub.serving import ServerThread
from densenet_hub.serving import load_served_model

TOLERANCE = 1e-5


@pytest.fixture
def client(server, guard):
    with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as session:
        yield session


def _outputs(answer):
    return {
        output["name"]: np.asarray(output["data"], "float32").reshape(output["shape"])
        for output in answer["outputs"]
    }


def test_health_metadata_and_readiness(client, served):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/tiny/ready").json() == {"name": "tiny", "ready": True}
    metadata = client.get("/v2/models/tiny").json()
    assert metadata == client.get("/v2/models/tiny/versions/1").json()
    assert metadata["inputs"] == [{"name": "images", "datatype": "UINT8", "shape": [-1, -1, -1, 3]}]
    assert metadata["outputs"] == [
        {"name": "predictions", "datatype": "FP32", "shape": [-1, 5]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 5]},
    ]
    assert client.get("/v2").json()["extensions"] == ["binary_tensor_data"]


@pytest.mark.parametrize("datatype", ["UINT8", "FP32"])
def test_infer_equals_the_models_own_predict(client, served, datatype):
    pixels = images(3, 40, 48).astype("float32" if datatype == "FP32" else "uint8")
    response = client.post("/v2/models/tiny/infer", json={**infer_body(pixels, datatype), "id": "r7"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "r7" and answer["model_name"] == "tiny"
    outputs = _outputs(answer)
    expected = served.classifier.predict(pixels, verbose=0)
    assert np.abs(outputs["predictions"] - expected).max() < TOLERANCE
    probabilities = to_probabilities(served.classifier, expected)
    assert np.abs(outputs["probabilities"] - probabilities).max() < TOLERANCE


def test_a_generic_open_inference_protocol_client_calls_it(server, served, guard):
    client = triton.InferenceServerClient(
        url=server.url.removeprefix("http://"), network_timeout=CLIENT_TIMEOUT_S
    )
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("tiny")
        metadata = client.get_model_metadata("tiny")
        assert [output["name"] for output in metadata["outputs"]] == ["predictions", "probabilities"]
        pixels = images(2, 36, 30, seed=3)
        for binary in (True, False):
            tensor = triton.InferInput("images", list(pixels.shape), "UINT8")
            tensor.set_data_from_numpy(pixels, binary_data=binary)
            wanted = [triton.InferRequestedOutput("predictions", binary_data=binary),
                      triton.InferRequestedOutput("probabilities", binary_data=not binary)]
            result = client.infer("tiny", [tensor], outputs=wanted)
            expected = served.classifier.predict(pixels, verbose=0)
            assert np.abs(result.as_numpy("predictions") - expected).max() < TOLERANCE
            assert result.as_numpy("probabilities").shape == (2, 5)
        with pytest.raises(triton.InferenceServerException, match="unknown model 'nope'"):
            client.get_model_metadata("nope")
    finally:
        client.close()


def test_upload_gives_named_top_classes_and_grad_cam(client, served):
    image = images(1, 50, 40, seed=5)[0]
    response = client.post(
        "/classify", params={"grad_cam": "true", "top_k": 3},
        files={"image": ("photo.png", png_bytes(image), "image/png")},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    answer = response.json()
    scores = served.classifier.predict(image[None], verbose=0)
    probabilities = to_probabilities(served.classifier, scores)[0]
    order = np.argsort(-probabilities, kind="stable")[:3]
    assert [entry["label"] for entry in answer["predictions"]] == [NAMES[i] for i in order]
    got = [entry["probability"] for entry in answer["predictions"]]
    assert np.allclose(got, probabilities[order], atol=TOLERANCE)
    assert (answer["image"], answer["height"], answer["width"]) == ("photo.png", 50, 40)
    (explanation,) = explain_image(served.classifier, image, int(order[0]))
    assert answer["grad_cam"]["label"] == NAMES[order[0]]
    assert np.allclose(answer["grad_cam"]["heat_map"], explanation.heat, atol=1e-4)
    assert answer["grad_cam"]["overlay"].startswith("data:image/png;base64,")
    raw = client.post("/classify", content=png_bytes(image), headers={"content-type": "image/png"})
    assert raw.json()["predictions"][:3] == answer["predictions"]
    chosen = client.post("/classify", params={"class": "yak"}, content=png_bytes(image)).json()
    assert chosen["grad_cam"]["index"] == NAMES.index("yak")


def test_multi_label_upload_gives_every_finding_with_its_threshold(multi_label_preset, guard):
    served = load_served_model(multi_label_preset)
    image = images(1, seed=9)[0]
    with ServerThread(served) as server:
        answer = httpx.post(f"{server.url}/classify", content=png_bytes(image),
                            timeout=CLIENT_TIMEOUT_S).json()  # fmt: skip
    probabilities = served.classifier.predict(image[None], verbose=0)[0]
    assert answer["kind"] == "multi_label" and "grad_cam" not in answer
    for finding in answer["findings"]:
        index = FINDINGS.index(finding["finding"])
        assert abs(finding["probability"] - probabilities[index]) < TOLERANCE
        assert finding["threshold"] == THRESHOLDS[index]
        assert finding["positive"] == bool(probabilities[index] >= THRESHOLDS[index])
    assert sorted(f["finding"] for f in answer["findings"]) == sorted(FINDINGS)


def test_concurrent_requests_run_as_one_batch(served, guard):
    server = start_server(served, max_batch=8, max_wait_ms=500)
    try:
        pixels = images(6, seed=11)
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
            def infer(row):
                return client.post("/v2/models/tiny/infer", json=infer_body(pixels[row : row + 1]))

            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                responses = list(pool.map(infer, range(6)))
            metrics = client.get("/metrics").text
    finally:
        server.stop()
    expected = served.classifier.predict(pixels, verbose=0)
    got = np.concatenate([_outputs(r.json())["predictions"] for r in responses])
    assert np.abs(got - expected).max() < TOLERANCE
    sizes = _histogram(metrics, "densenet_hub_batch_size")
    assert sizes["count"] < 6 and sizes["sum"] == 6, metrics  # some batch held > 1 image
    assert 'densenet_hub_requests_total{route="/v2/models/{name}/infer",status="200"} 6' in metrics


def _histogram(text, name):
    values = {}
    for line in text.splitlines():
        for part in ("sum", "count"):
            if line.startswith(f"{name}_{part} "):
                values[part] = float(line.split()[-1])
    return values


def test_an_accelerated_folder_is_served_on_its_engine(served, tmp_path, guard):
    fast = accelerate(served.classifier, runtime="onnxruntime")
    fast.save(tmp_path / "fast", extra_files=ClassLabels(NAMES).files())
    loaded = load_served_model(tmp_path / "fast")
    pixels = images(2, seed=13)
    with ServerThread(loaded) as server, httpx.Client(base_url=server.url,
                                                       timeout=CLIENT_TIMEOUT_S) as client:  # fmt: skip
        metadata = client.get("/v2/models/fast").json()
        answer = client.post("/v2/models/fast/infer", json=infer_body(pixels)).json()
        upload = client.post("/classify", content=png_bytes(pixels[0])).json()
        refused = client.post("/classify", params={"grad_cam": "true"}, content=png_bytes(pixels[0]))
    assert metadata["platform"] == "densenet_hub_onnxruntime"
    assert np.abs(_outputs(answer)["predictions"] - fast.predict(pixels)).max() < TOLERANCE
    assert upload["predictions"][0]["label"] in NAMES
    assert refused.status_code == 400 and "Grad-CAM needs the Keras model" in refused.json()["error"]


def test_the_page_is_served_with_a_strict_content_security_policy(client):
    response = client.get("/")
    assert response.status_code == 200 and "<title>densenet_hub: tiny</title>" in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
