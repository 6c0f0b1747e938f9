"""The background thread that feeds committed rows to the text index and commits it on a timer."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from log_analytics_engine.storage.embedded import EmbeddedStore
    from log_analytics_engine.storage.textindex import TextIndex

log = logging.getLogger(__name__)

# Rows read from DuckDB per round trip, and the most queued in tantivy before a commit.
FETCH_ROWS = 65_536
COMMIT_ROWS = 1_000_000
# Niceness of the indexer thread and the tantivy threads it spawns.
INDEXER_NICE = 10
# How often an idle thread checks whether its store still exists.
IDLE_CHECK_SECONDS = 5.0
# A pause in writes this long (after the index caught up) triggers a checkpoint.
CHECKPOINT_IDLE_SECONDS = 1.0
_DOCS_SQL = """
SELECT to_json({'seq': seq, 'ts': ts, 'severity': severity, 'level': level, 'source': source,
                'message': message, 'tags': tags}) AS doc
FROM logs WHERE seq > ? AND seq <= ?
"""


def lower_thread_priority() -> None:
    """Give the calling thread (and threads it starts) a lower CPU priority where the OS allows it.

    On Linux a thread id is a valid PRIO_PROCESS target, so ingest and queries keep the cores first
    and the index catches up with what is left; elsewhere this does nothing.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), INDEXER_NICE)


class Indexer:
    """Catches the index up with the table every `interval` seconds (tantivy commits are ~25 ms)."""

    def __init__(self, store: EmbeddedStore, index: TextIndex, interval: float) -> None:
        # A weak reference, so an engine dropped without close() is collected and this thread ends.
        self._store = weakref.ref(store)
        self._index = index
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one catch-up at a time (thread or flush)
        self._thread = threading.Thread(target=self._run, name="log-analytics-indexer", daemon=True)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="log-analytics-index-read")
        self.indexed_rows = 0
        self.index_seconds = 0.0
        self.last_error: str | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def poke(self) -> None:
        """Note that rows were committed (the thread still waits for its interval)."""
        self._wake.set()

    def stop(self) -> None:
        """Final catch-up, then end the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        try:
            self.catch_up_now()
        finally:
            self._pool.shutdown()

    def _run(self) -> None:
        lower_thread_priority()
        written = False  # rows came since the last checkpoint
        while not self._stop.is_set():
            if not self._wake.wait(CHECKPOINT_IDLE_SECONDS if written else IDLE_CHECK_SECONDS):
                if written:
                    written = False
                    self._checkpoint()
                elif self._store() is None:
                    return
                continue
            if self._stop.wait(self._interval):
                return
            self._wake.clear()
            written = True
            try:
                self.catch_up_now()
            except Exception as exc:  # the thread must survive; the tail scan keeps queries exact
                self.last_error = repr(exc)
                log.exception("text index catch-up failed; retrying on the next round")

    def _checkpoint(self) -> None:
        """Once writes pause: fold the WAL into the database file, where searches read compressed,
        summarised row groups (2x faster than the WAL's rows), off the path of any request."""
        store = self._store()
        if store is None:
            return
        try:
            store.checkpoint()
        except Exception:  # a busy or closing store: the next pause, or DuckDB's own threshold, does it
            log.debug("idle checkpoint skipped", exc_info=True)

    def catch_up_now(self) -> int:
        """Index every committed row above the watermark and commit; returns the rows indexed.

        One read transaction gives a stable snapshot: its committed seqs form a prefix (writes are
        serialised and commit in seq order), so walking seq ranges up to its max misses no row.
        The next range is read from DuckDB on a helper thread while this one feeds tantivy (the
        writer takes documents from one thread at a time).
        """
        store = self._store()
        if store is None:
            return 0
        with self._lock:
            started = time.perf_counter()
            cur = store.cursor()
            cur.execute("BEGIN TRANSACTION").fetchall()
            try:
                top = int(cur.execute("SELECT coalesce(max(seq), 0) FROM logs").fetchall()[0][0])
                done = self._index.watermark
                queued = total = 0

                def fetch(low: int) -> list[str]:
                    high = min(top, low + FETCH_ROWS)
                    docs: list[str] = (
                        cur.sql(_DOCS_SQL, params=[low, high]).to_arrow_table()["doc"].to_pylist()
                    )
                    return docs

                ahead = self._pool.submit(fetch, done) if done < top else None
                while ahead is not None:
                    docs = ahead.result()
                    upto = min(top, done + FETCH_ROWS)
                    ahead = self._pool.submit(fetch, upto) if upto < top else None
                    self._index.add_json_docs(docs)
                    queued += len(docs)
                    done = upto
                    if queued >= COMMIT_ROWS:
                        self._index.commit(done)
                        total += queued
                        queued = 0
            finally:
                cur.execute("COMMIT").fetchall()
            if queued or done > self._index.watermark:
                self._index.commit(done)
                total += queued
            if total:
                self.indexed_rows += total
                self.index_seconds += time.perf_counter() - started
            return total
