"""Load test of `densenet-hub serve` on 127.0.0.1: concurrent clients for a
fixed time against DenseNet-121 at 224x224 (random weights) on ONNX Runtime,
with bad requests mixed in.

Prints the latency of good requests (p50, p99), the served throughput against
the same runtime's offline throughput at the server's batch size (images
already in memory, no HTTP), the mean batch size the server ran, the status
counts (bad requests must all get their 400, good ones 200, nothing else),
and the server's resident memory growth from the first to the last ten
seconds of the load. Exits with status 1 when a target is missed: an
unexpected status, throughput under 80% of offline, memory growth over 5%.

    KERAS_BACKEND=jax python benchmarks/bench_serving.py
    KERAS_BACKEND=jax python benchmarks/bench_serving.py --depth tiny --image-size 32 --seconds 5 --clients 4

Traffic goes to 127.0.0.1 only; the load is bounded by `--seconds` and the
script stops the server (SIGTERM) before it ends.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import numpy as np
import psutil

import densenet_hub
from densenet_hub.inference import default_preprocessor
from densenet_hub.models.densenet.densenet_layout import DEPTHS
from densenet_hub.runtime import accelerate

HOST = "127.0.0.1"
LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")
TINY = {"stackwise_num_repeats": [2, 2], "growth_rate": 4}
MIN_THROUGHPUT_RATIO = 0.8
MAX_MEMORY_GROWTH = 0.05
WINDOW_S = 10.0


def build_classifier(depth, image_size):
    config = TINY if depth == "tiny" else DEPTHS[int(depth)].config()
    backbone = densenet_hub.models.DenseNetBackbone(
        **config, image_shape=(image_size, image_size, 3)
    )
    return densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=1000, preprocessor=default_preprocessor((image_size, image_size))
    )


def offline_throughput(classifier, batch, seconds):
    """Images/s of the accelerated model on in-memory batches of `batch` raw
    images, as the server runs them."""
    fast = accelerate(classifier, runtime="onnxruntime")
    images = list(_images(batch, classifier.preprocessor.image_size[0], seed=1))
    fast.predict_on_batch(images)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fast.predict_on_batch(images)
        count += batch
    return count / (time.perf_counter() - started), fast


def _images(count, size, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype="uint8")


def start_server(preset, args):
    command = [
        sys.executable, "-m", "densenet_hub", "serve", preset, "--host", HOST, "--port", "0",
        "--runtime", "onnxruntime", "--max-batch", str(args.max_batch),
        "--max-wait-ms", str(args.max_wait_ms), "--max-queue", str(args.max_queue),
        "--timeout", "60", "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        match = LISTENING.search(line)
        if match:
            # Drain its log so that it never blocks on a full pipe.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, match.group(1)
    process.kill()
    raise SystemExit("the server did not start within 600 s")


def infer_request(image):
    """An Open Inference Protocol request with the image as binary data, as
    generic clients send it: `(body, headers)`."""
    header = json.dumps({
        "inputs": [{"name": "images", "datatype": "UINT8", "shape": [1, *image.shape],
                    "parameters": {"binary_data_size": image.nbytes}}],
        "outputs": [{"name": "predictions"}],
    }).encode()  # fmt: skip
    return header + image.tobytes(), {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream",
    }


BAD_REQUESTS = (
    # A non-image upload, a tensor of the wrong datatype, a tensor of the wrong shape.
    ("/classify", b"this is not an image", {"Content-Type": "image/png"}),
    ("/v2/models/model/infer", json.dumps({"inputs": [
        {"name": "images", "datatype": "INT64", "shape": [1, 2, 2, 3], "data": [0] * 12}]}).encode(),
     {"Content-Type": "application/json"}),
    ("/v2/models/model/infer", json.dumps({"inputs": [
        {"name": "images", "datatype": "UINT8", "shape": [1, 3, 2, 2], "data": [0] * 12}]}).encode(),
     {"Content-Type": "application/json"}),
)  # fmt: skip


async def load(url, images, args):
    """Runs `args.clients` clients for `args.seconds`; returns the records."""
    latencies, statuses = [], {}
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        deadline = time.monotonic() + args.seconds

        issued = 0

        async def one_client():
            nonlocal issued
            while time.monotonic() < deadline:
                issued += 1
                sent = issued
                if args.bad_every and sent % args.bad_every == 0:
                    path, body, headers = BAD_REQUESTS[sent // args.bad_every % len(BAD_REQUESTS)]
                    response = await client.post(path, content=body, headers=headers)
                    key = f"bad:{response.status_code}"
                else:
                    body, headers = infer_request(images[sent % len(images)])
                    started = time.perf_counter()
                    response = await client.post("/v2/models/model/infer", content=body,
                                                 headers=headers)  # fmt: skip
                    latencies.append(time.perf_counter() - started)
                    key = f"good:{response.status_code}"
                statuses[key] = statuses.get(key, 0) + 1

        started = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(args.clients)))
        elapsed = time.monotonic() - started
        metrics = (await client.get("/metrics")).text
    return latencies, statuses, elapsed, metrics


def sample_memory(pid, stop, samples):
    process = psutil.Process(pid)
    while not stop.is_set():
        samples.append((time.monotonic(), process.memory_info().rss))
        stop.wait(0.5)


def check_answer(url, fast, image):
    body, headers = infer_request(image)
    response = httpx.post(f"{url}/v2/models/model/infer", content=body, headers=headers, timeout=120)
    (output,) = response.json()["outputs"]
    served = np.asarray(output["data"], "float32").reshape(output["shape"])
    return float(np.abs(served - fast.predict_on_batch([image])).max())


def metric_value(metrics, name):
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", default="121", help="121, 169, 201, 161, 264 or tiny")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warm-up", type=float, default=5.0, help="seconds of load not counted")
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--max-queue", type=int, default=256)
    parser.add_argument("--bad-every", type=int, default=10,
                        help="every Nth request sent is a bad one (0: none)")
    parser.add_argument("--offline-seconds", type=float, default=10.0)
    args = parser.parse_args()

    classifier = build_classifier(args.depth, args.image_size)
    offline, fast = offline_throughput(classifier, args.max_batch, args.offline_seconds)
    print(f"offline (ONNX Runtime, batches of {args.max_batch}, images in memory): "
          f"{offline:.1f} images/s", flush=True)  # fmt: skip
    folder = tempfile.mkdtemp(prefix="bench-serving-")
    preset = os.path.join(folder, "model")
    classifier.save_to_preset(preset)
    process, url = start_server(preset, args)
    try:
        images = _images(8, args.image_size, seed=2)
        difference = check_answer(url, fast, images[0])
        print(f"served answer vs offline: max |diff| {difference:.2e}", flush=True)
        if args.warm_up:
            warm = argparse.Namespace(**{**vars(args), "seconds": args.warm_up})
            asyncio.run(load(url, images, warm))
        stop, samples = threading.Event(), []
        sampler = threading.Thread(target=sample_memory, args=(process.pid, stop, samples))
        sampler.start()
        latencies, statuses, elapsed, metrics = asyncio.run(load(url, images, args))
        stop.set()
        sampler.join()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(120)
    report(args, offline, difference, latencies, statuses, elapsed, metrics, samples)


def report(args, offline, difference, latencies, statuses, elapsed, metrics, samples):
    good = statuses.get("good:200", 0)
    bad = sum(count for key, count in statuses.items() if key.startswith("bad:"))
    unexpected = {key: count for key, count in statuses.items()
                  if key not in ("good:200", "bad:400")}  # fmt: skip
    served = good / elapsed
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    batches = metric_value(metrics, "densenet_hub_batch_size_count")
    batch_images = metric_value(metrics, "densenet_hub_batch_size_sum")
    start, end = samples[0][0], samples[-1][0]
    first = [rss for when, rss in samples if when - start <= WINDOW_S]
    last = [rss for when, rss in samples if end - when <= WINDOW_S]
    growth = statistics.mean(last) / statistics.mean(first) - 1
    print(f"load: {args.clients} clients, {elapsed:.1f} s, DenseNet-{args.depth} at "
          f"{args.image_size}x{args.image_size}, --max-batch {args.max_batch} "
          f"--max-wait-ms {args.max_wait_ms:g}")  # fmt: skip
    print(f"good requests: {good} answered 200; latency p50 {1000 * quantiles[49]:.1f} ms, "
          f"p99 {1000 * quantiles[98]:.1f} ms")  # fmt: skip
    print(f"bad requests mixed in: {bad}, answered 400: {statuses.get('bad:400', 0)}")
    print(f"unexpected statuses: {unexpected or 'none'}")
    print(f"throughput: {served:.1f} images/s served = {served / offline:.0%} of offline "
          f"{offline:.1f} images/s (target >= {MIN_THROUGHPUT_RATIO:.0%})")  # fmt: skip
    print(f"mean batch size run by the server (warm-up included): {batch_images / batches:.2f}")
    print(f"server resident memory: {statistics.mean(first) / 2**20:.0f} MiB in the first "
          f"{WINDOW_S:g} s, {statistics.mean(last) / 2**20:.0f} MiB in the last: "
          f"{growth:+.1%} (target < {MAX_MEMORY_GROWTH:.0%})")  # fmt: skip
    print(f"served answer vs offline: max |diff| {difference:.2e}")
    missed = bool(unexpected) or served < MIN_THROUGHPUT_RATIO * offline or growth > MAX_MEMORY_GROWTH
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
