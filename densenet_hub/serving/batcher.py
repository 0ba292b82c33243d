"""Micro-batching: images of concurrent requests gathered into one batch and
run together, off the event loop."""

import asyncio
import collections
import time

from densenet_hub.serving.errors import busy


def batch_buckets(max_batch):
    """The batch sizes a batch is padded up to: the powers of two below
    `max_batch`, and `max_batch`.

    Example:
    ```python
    from densenet_hub.serving.batcher import batch_buckets

    assert batch_buckets(12) == [1, 2, 4, 8, 12]
    ```
    """
    sizes = [1 << power for power in range(max_batch.bit_length()) if 1 << power < max_batch]
    return [*sizes, max_batch]


def bucket_of(count, buckets):
    """The smallest of `buckets` that holds `count` items."""
    return next(size for size in buckets if size >= count)


class MicroBatcher:
    """Gathers the items of concurrent requests into batches for `run_batch`.

    A batch is run as soon as it holds `max_batch` items, or `max_wait_ms`
    after its first item arrived, whichever comes first; while one batch
    runs, the next one gathers. `run_batch` runs in `executor`, so the event
    loop keeps accepting requests. At most `max_queue` items wait; a
    request that would exceed that is refused at once (`RequestError` 503),
    so a slow server sheds load instead of growing without bound.

    Use it inside a running event loop: `start()`, then `await submit(...)`
    from any number of tasks, then `await close()`, which finishes what is
    queued.

    Args:
        run_batch: a function of a list of items returning one result per
            item, in order. Called in `executor`, one batch at a time.
        executor: a `concurrent.futures.Executor`, e.g. a one-thread pool.
        max_batch: the most items in one batch.
        max_wait_ms: how long the first item of a batch waits for others.
        max_queue: the most items waiting for a batch.
        on_batch: `None`, or a function called with each batch's size.

    Example:
    ```python
    import asyncio
    import concurrent.futures
    from densenet_hub.serving.batcher import MicroBatcher

    sizes = []

    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(lambda items: [2 * item for item in items], pool,
                                   max_batch=8, max_wait_ms=50, max_queue=64,
                                   on_batch=sizes.append)
            batcher.start()
            results = await asyncio.gather(*(batcher.submit([i]) for i in range(5)))
            await batcher.close()
        return results

    assert asyncio.run(main()) == [[0], [2], [4], [6], [8]]
    assert sizes == [5]  # five concurrent requests, one batch
    ```
    """

    def __init__(self, run_batch, executor, *, max_batch, max_wait_ms, max_queue, on_batch=None):
        self.run_batch = run_batch
        self.executor = executor
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._waiting = collections.deque()
        self._arrived = None
        self._worker = None
        self._closing = False
        self._running = 0

    @property
    def queue_length(self):
        """Items waiting for a batch (not those of the batch running)."""
        return len(self._waiting)

    @property
    def in_flight(self):
        """Items queued or in the batch running."""
        return len(self._waiting) + self._running

    def start(self):
        """Starts gathering batches; call from the running event loop."""
        self._arrived = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._gather_and_run())

    async def submit(self, items):
        """Queues `items` and returns their results once their batches ran.

        Raises:
            RequestError: 503 when the queue has no room for `items`, or
                the batcher is closing.
            Exception: whatever `run_batch` raised for their batch.
        """
        if self._closing:
            raise busy("the server is shutting down; send the request to another replica.")
        if len(self._waiting) + len(items) > self.max_queue:
            raise busy(
                f"the queue is full ({len(self._waiting)} of {self.max_queue} images "
                f"waiting, this request adds {len(items)}); retry shortly, or run "
                "more replicas."
            )
        loop = asyncio.get_running_loop()
        futures = []
        for item in items:
            future = loop.create_future()
            self._waiting.append((item, future, time.monotonic()))
            futures.append(future)
        self._arrived.set()
        return list(await asyncio.gather(*futures))

    async def close(self):
        """Stops taking items, runs every queued one, then stops."""
        self._closing = True
        if self._worker is None:
            return
        while self._waiting or self._running:
            await asyncio.sleep(0.005)
        self._worker.cancel()
        try:
            await self._worker
        except asyncio.CancelledError:
            pass

    async def _gather_and_run(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            deadline = self._waiting[0][2] + self.max_wait
            while len(self._waiting) < self.max_batch and time.monotonic() < deadline:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break
            batch = self._take_batch()
            if not batch:
                continue
            self._running = len(batch)
            try:
                results = await loop.run_in_executor(
                    self.executor, self.run_batch, [item for item, _ in batch]
                )
            except Exception as error:  # each waiting request answers it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for (_, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
            finally:
                self._running = 0
            if self.on_batch is not None:
                self.on_batch(len(batch))

    def _take_batch(self):
        """Up to `max_batch` items whose requests still wait (a request that
        timed out or went away has cancelled its futures)."""
        batch = []
        while self._waiting and len(batch) < self.max_batch:
            item, future, _ = self._waiting.popleft()
            if not future.cancelled():
                batch.append((item, future))
        return batch
