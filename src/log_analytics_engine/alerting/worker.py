"""A bounded queue served by one lazily started daemon thread, in submission order.

Alert evaluation and alert delivery both run this way, off the ingest path: `put` either waits for
room (evaluation: no write may go unevaluated) or refuses when full (delivery: a notice is dropped
and counted rather than slowing ingest). `join` waits until everything put so far was handled.
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

    def put(self, item: T, wait: bool = True) -> bool:
        """Queue an item; with `wait=False` a full queue refuses it (False) instead of waiting."""
        try:
            self._queue.put(item, block=wait)
        except queue.Full:
            return False
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return True

    def join(self) -> None:
        """Wait until every item put so far has been handled (at once on the worker thread itself)."""
        if threading.current_thread() is not self._thread:
            self._queue.join()

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
