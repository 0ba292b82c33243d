"""The child side of a benchmark worker: builds one candidate, then answers
the parent's commands over the connection (see `workers.Worker`)."""

import time

import numpy as np

from densenet_hub.profiling import inference
from densenet_hub.profiling import peers


def serve(connection, name, depth, size):
    """Builds candidate `name` once, then answers commands until "stop"."""
    try:
        runner = inference.build_one(name, depth, size)
    except peers.Unavailable as reason:
        connection.send(("unavailable", str(reason)))
        return
    connection.send(("ready", None))
    while True:
        command, batch, min_seconds = connection.recv()
        if command == "stop":
            return
        images = peers.random_batch(batch, size)
        if command == "outputs":
            for _ in range(inference.WARMUP_CALLS):
                outputs = runner(images)
            connection.send(np.asarray(outputs))
            continue
        calls = 0
        start = time.perf_counter()
        while True:
            runner(images)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        connection.send(elapsed / calls)
