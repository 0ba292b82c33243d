"""The server's metrics in Prometheus' text exposition format (version
0.0.4), for `GET /metrics`: requests by route and status, request latency,
batch sizes and queue length. Written here rather than with a client
library: four metrics need no dependency."""

import bisect
import collections
import threading

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "densenet_hub"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Histogram:
    """Counts of observations at or below each bucket's bound, their sum and
    count, as Prometheus histograms keep them (cumulative on output)."""

    def __init__(self, bounds):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value):
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name, labels):
        total = 0
        for bound, count in zip((*self.bounds, "+Inf"), self.counts):
            total += count
            le = bound if bound == "+Inf" else _number(bound)
            yield f"{name}_bucket{_labels({**labels, 'le': le})} {total}"
        yield f"{name}_sum{_labels(labels)} {_number(self.sum)}"
        yield f"{name}_count{_labels(labels)} {self.count}"


class ServerMetrics:
    """What `GET /metrics` shows.

    Args:
        queue_length: a function giving the number of images waiting for a
            batch now.

    Example:
    ```python
    from densenet_hub.serving.metrics import ServerMetrics

    metrics = ServerMetrics(queue_length=lambda: 3)
    metrics.observe_request("/v2/models/{name}/infer", 200, 0.012)
    metrics.observe_batch(4)
    text = metrics.render()
    assert 'densenet_hub_requests_total{route="/v2/models/{name}/infer",status="200"} 1' in text
    assert "densenet_hub_batch_size_count 1" in text and "densenet_hub_queue_length 3" in text
    ```
    """

    def __init__(self, queue_length):
        self.queue_length = queue_length
        self._lock = threading.Lock()
        self._requests = collections.Counter()
        self._latency = {}
        self._batches = Histogram(BATCH_BUCKETS)

    def observe_request(self, route, status, seconds):
        """Counts a request answered with `status` after `seconds`."""
        with self._lock:
            self._requests[(route, str(status))] += 1
            self._latency.setdefault(route, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_batch(self, size):
        """Counts a batch of `size` images run together."""
        with self._lock:
            self._batches.observe(size)

    def render(self):
        """The metrics as Prometheus text."""
        with self._lock:
            lines = [
                *_header("requests_total", "counter", "Requests answered, by route and status."),
                *(
                    f"{PREFIX}_requests_total{_labels({'route': route, 'status': status})} {count}"
                    for (route, status), count in sorted(self._requests.items())
                ),
                *_header(
                    "request_duration_seconds", "histogram",
                    "Time from a request's arrival to its answer, by route.",
                ),  # fmt: skip
                *(
                    line
                    for route, histogram in sorted(self._latency.items())
                    for line in histogram.lines(
                        f"{PREFIX}_request_duration_seconds", {"route": route}
                    )
                ),
                *_header("batch_size", "histogram", "Images per batch run by the model."),
                *self._batches.lines(f"{PREFIX}_batch_size", {}),
                *_header("queue_length", "gauge", "Images waiting for a batch."),
                f"{PREFIX}_queue_length {self.queue_length()}",
            ]
        return "\n".join(lines) + "\n"


def _header(name, kind, help_text):
    return [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]


def _labels(labels):
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _escape(value):
    """A label value as the format quotes it: backslash, quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value):
    return repr(float(value)) if isinstance(value, float) else str(value)
