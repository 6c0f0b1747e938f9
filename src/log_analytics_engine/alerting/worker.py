"""A bounded queue served by one lazily started daemon thread, in submission order.

Alert evaluation and alert delivery both run this way, off the ingest path: `put` either waits for
room (evaluation: no write may go unevaluated) or refuses when full (delivery: a notice is dropped
and counted rather than slowing ingest). `join` waits until everything put before it was handled.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)
# An idle thread ends after this long (the next item starts a new one), so an engine dropped
# without close() leaves no thread behind for long.
IDLE_SECONDS = 30.0


class SerialWorker(Generic[T]):
    """Call `handle(item)` for every item put, one at a time on a worker thread."""

    def __init__(self, name: str, handle: Callable[[T], None], max_queue: int) -> None:
        self._name = name
        self._handle = handle
        self._queue: queue.Queue[T] = queue.Queue(max_queue)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.errors = 0
        # items put and items handled: `join` waits for the count put when it was called, not for an
        # empty queue (which a steady stream of items, an alert storm, would never give it)
        self._counts = threading.Condition()
        self._put = 0
        self._handled = 0

    def put(self, item: T, wait: bool = True) -> bool:
        """Queue an item; with `wait=False` a full queue refuses it (False) instead of waiting."""
        with self._counts:  # counted first: a join that sees the item queued waits for it
            self._put += 1
        try:
            self._queue.put(item, block=wait)
        except queue.Full:
            with self._counts:
                self._put -= 1
                self._counts.notify_all()
            return False
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return True

    def join(self) -> None:
        """Wait until every item put before this call has been handled (items put meanwhile are not
        waited for); returns at once on the worker thread itself."""
        if threading.current_thread() is self._thread:
            return
        with self._counts:
            target = self._put
            self._counts.wait_for(lambda: self._handled >= target)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            try:
                self._handle(item)
            except Exception:  # one failed item must not stop the worker
                with self._lock:
                    self.errors += 1
                log.exception("%s: handling %r failed", self._name, item)
            finally:
                self._queue.task_done()
                with self._counts:
                    self._handled += 1
                    self._counts.notify_all()
