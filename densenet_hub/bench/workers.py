"""One worker process per candidate, driven in turn by the benchmark.

Every inference library keeps its own thread pool, and pools that spin or
oversubscribe two cores slow whichever library runs next in the same
process. Each candidate therefore lives in its own process, built once and
idle (blocked on its pipe) while the others are timed; the parent still
alternates them round by round, so a slow period hits all alike.
"""

import multiprocessing
import time

import numpy as np


def _serve(connection, name, depth, size):
    # Runs in the child: build the candidate once, then answer commands.
    from densenet_hub.bench import inference
    from densenet_hub.bench import peers

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


class Worker:
    """A candidate in its own process (multiprocessing "spawn": no state
    shared with the parent)."""

    def __init__(self, name, depth, size):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, name, depth, size), daemon=True)
        self.process.start()
        status, self.reason = self._receive()
        self.available = status == "ready"

    def outputs(self, batch):
        """Warms up on `batch` images and returns the outputs."""
        self.connection.send(("outputs", batch, 0))
        return self._receive()

    def seconds_per_call(self, batch, min_seconds):
        self.connection.send(("time", batch, min_seconds))
        return self._receive()

    def stop(self):
        if self.process.is_alive():
            if self.available:
                self.connection.send(("stop", 0, 0))
            self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()

    def _receive(self):
        if not self.connection.poll(1800):
            raise RuntimeError("bench worker did not answer within 30 minutes")
        try:
            return self.connection.recv()
        except EOFError:
            raise RuntimeError(
                f"bench worker died (exit code {self.process.exitcode}); run the "
                "candidate alone to see its error"
            ) from None
