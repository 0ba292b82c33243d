"""One worker process per candidate, driven in turn by the benchmark.

Every inference library keeps its own thread pool, and pools that spin or
oversubscribe two cores slow whichever library runs next in the same
process. Each candidate therefore lives in its own process, built once and
idle (blocked on its pipe) while the others are timed; the parent still
alternates them round by round, so a slow period hits all alike.
"""

import socket
import subprocess
import sys
from multiprocessing.connection import Connection

# A fresh interpreter rather than multiprocessing's "spawn", which re-imports
# the parent's main module (and with it Keras, hence TensorFlow on that
# backend) before any code of ours could import torch first: torch after
# TensorFlow crashes.
_BOOT = """
import importlib.util
import sys

if importlib.util.find_spec("torch") is not None:
    import torch
if sys.argv[2] == "torchvision" and importlib.util.find_spec("torchvision") is not None:
    import torchvision
from multiprocessing.connection import Connection
from densenet_hub.profiling.worker_child import serve

serve(Connection(int(sys.argv[1])), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
"""


class Worker:
    """A candidate in its own process (a fresh interpreter: no state shared
    with the parent), talking over a socket pair."""

    def __init__(self, name, depth, size):
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(theirs.fileno()), name, str(depth), str(size)],
                pass_fds=[theirs.fileno()],
            )
        self.connection = Connection(ours.detach())
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
        if self.process.poll() is None and self.available:
            self.connection.send(("stop", 0, 0))
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.connection.close()

    def _receive(self):
        if not self.connection.poll(1800):
            raise RuntimeError("bench worker did not answer within 30 minutes")
        try:
            return self.connection.recv()
        except EOFError:
            raise RuntimeError(
                f"bench worker died (exit code {self.process.wait(timeout=30)}); run the "
                "candidate alone to see its error"
            ) from None
