"""What the serving tests share: servers started in a background thread on
127.0.0.1 and a free port, a gate that holds the model's batches while a
test fills the queue or shuts down, and request builders."""

import contextlib
import io
import threading

import numpy as np
import PIL.Image

from densenet_hub.serving import ServerThread

NAMES = ["cat", "dog", "fox", "owl", "yak"]
FINDINGS = ["Edema", "Effusion", "Mass"]
THRESHOLDS = [0.5, 0.3, 0.7]
# A loaded 2-core machine can take seconds for a first (compiling) batch.
CLIENT_TIMEOUT_S = 120


def start_server(served, **options):
    """A `ServerThread` of `served` with `options`, started."""
    return ServerThread(served, **options).start()


@contextlib.contextmanager
def gated(served):
    """Holds every batch of `served` until the yielded gate is set; the
    second event is set once a batch waits at the gate."""
    gate, entered = threading.Event(), threading.Event()
    original = served.predict

    def held_predict(images):
        entered.set()
        if not gate.wait(CLIENT_TIMEOUT_S):
            raise RuntimeError("the test never opened the gate")
        return original(images)

    served.predict = held_predict
    try:
        yield gate, entered
    finally:
        gate.set()
        del served.predict


def images(count=2, height=32, width=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), dtype="uint8")


def png_bytes(image):
    buffer = io.BytesIO()
    PIL.Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def infer_body(array, datatype="UINT8"):
    return {
        "inputs": [
            {"name": "images", "datatype": datatype, "shape": list(array.shape),
             "data": array.ravel().tolist()}
        ]
    }  # fmt: skip
