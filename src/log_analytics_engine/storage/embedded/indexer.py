"""The background thread that feeds committed rows to the text index and commits it on a timer."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa

from log_analytics_engine.storage.embedded.commitmark import stored_high

if TYPE_CHECKING:
    from log_analytics_engine.storage.embedded.store import EmbeddedStore
    from log_analytics_engine.storage.embedded.textindex import TextIndex

log = logging.getLogger(__name__)

# What `Indexer.state` can be.
# Rows read from DuckDB per round trip (two are in memory at once, ~8 MB of JSON each: the one sent
# and the next one read), and the most queued in tantivy before a commit.
FETCH_ROWS = 32_768
COMMIT_ROWS = 1_000_000
# Documents per message to the writer process (~2 MB of JSON): what it holds of them at once, as bytes
# and as the strings it splits them into, is one message (a whole fetch was ~16 MB, and ~50 MB parsed).
PIECE_ROWS = 8_192
# Niceness of the indexer thread and of the tantivy threads it spawns (in memory; on disk see WRITER_NICE).
INDEXER_NICE = 10
# How often an idle thread checks whether its store still exists.
IDLE_CHECK_SECONDS = 5.0
# A pause in writes this long (after the index caught up) triggers a checkpoint.
CHECKPOINT_IDLE_SECONDS = 1.0
# A catch-up commits at least this often (besides every COMMIT_ROWS rows).
COMMIT_SECONDS = 2.0
# After a failed catch-up, the pause before the next try (doubling up to the max).
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
# Backpressure: a write waits while the healthy index is more than this many rows behind (queries scan
# the rows it does not hold; unbounded, that scan grew with every second of saturating ingest, as
# the indexer runs at a lower priority than ingest), at most LAG_WAIT_SECONDS a write.
MAX_INDEX_LAG = 1_000_000
LAG_WAIT_SECONDS = 10.0
# The most time closing spends on the last catch-up (a SIGTERM must end the process promptly).
CLOSE_CATCH_UP_SECONDS = 5.0
# Each document's JSON ends with a newline (JSON text holds none of its own), so a fetch's Arrow
# data buffers are the documents one a line, handed to the index without a Python object each.
_DOCS_SQL = """
SELECT to_json({'seq': seq, 'ts': ts, 'severity': severity, 'level': level, 'source': source,
                'message': message, 'tags': tags}) || chr(10) AS doc
FROM logs WHERE seq > ? AND seq <= ?
"""


def json_lines(column: pa.ChunkedArray, piece_rows: int = PIECE_ROWS) -> list[memoryview]:
    """The bytes of a string column's values, each run of up to `piece_rows` of them as one view of
    its Arrow data buffer (zero-copy: 65k documents cost a few Python objects, not 65k strings)."""
    pieces = []
    for whole in column.chunks:
        if not (pa.types.is_string(whole.type) or pa.types.is_large_string(whole.type)):
            whole = whole.cast(pa.large_string())  # a string view, say: to the offsets layout
        _, offsets, data = whole.buffers()
        kind = np.int64 if pa.types.is_large_string(whole.type) else np.int32
        bounds = np.frombuffer(offsets, dtype=kind)
        for first in range(0, len(whole), piece_rows):
            last = min(len(whole), first + piece_rows)
            start, end = int(bounds[whole.offset + first]), int(bounds[whole.offset + last])
            pieces.append(memoryview(data)[start:end])
    return pieces


def lower_thread_priority() -> None:
    """Give the calling thread (and threads it starts) a lower CPU priority where the OS allows it.

    On Linux a thread id is a valid PRIO_PROCESS target, so ingest and queries keep the cores first
    and the index catches up with what is left; elsewhere this does nothing.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), INDEXER_NICE)


class Indexer:
    """Catches the index up with the table every `interval` seconds (tantivy commits are ~25 ms).

    It starts catching up as soon as it starts (rows stored while the index was behind, say before a
    crash, are not left waiting for the next write), commits every COMMIT_ROWS rows or
    COMMIT_SECONDS, so a process that keeps dying still makes progress, and survives any failure:
    a failed round is retried after a pause that doubles up to RETRY_MAX_SECONDS, new rows or not,
    and a damaged index is rebuilt. Queries stay exact throughout (the planner scans what the index
    does not hold).
    """

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
        self.failures = 0  # catch-up rounds that failed
        self.last_error: str | None = None  # the failure of the last round, None once one succeeds
        self._rebuild_target = 0  # the table's last seq when the index last started anew
        self._room = threading.Condition()
        self._urgent = threading.Event()  # a write waits for the index: catch up now
        self.lag_waits = 0  # writes that waited for the index (backpressure)
        self.lag_wait_seconds = 0.0
        index.on_damage = self.poke

    def start(self) -> None:
        """Start the thread; it catches up at once when the index is behind the table."""
        store = self._store()
        if store is not None and self._index.rebuilds:  # set aside when opened
            self._rebuild_target = store.last_seq
        if store is not None and (store.last_seq > self._index.watermark or self._index.damaged):
            self._wake.set()
        self._thread.start()

    def poke(self) -> None:
        """Note that rows were committed (the thread still waits for its interval)."""
        self._wake.set()

    def wait_for_room(self, last_seq: int) -> None:
        """Backpressure for a write: while the index is healthy (`ok` or `catching up`) and more than
        MAX_INDEX_LAG rows behind `last_seq`, wait for it, at most LAG_WAIT_SECONDS. A failing or
        rebuilding index holds no write back: the table is the record."""
        if last_seq - self._index.watermark <= MAX_INDEX_LAG or self._stop.is_set():
            return
        started = time.monotonic()
        deadline = started + LAG_WAIT_SECONDS
        self._wake.set()
        self._urgent.set()
        with self._room:
            while (
                last_seq - self._index.watermark > MAX_INDEX_LAG
                and self.last_error is None
                and not self._index.damaged
                and self._index.watermark >= self._rebuild_target
                and not self._stop.is_set()
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._room.wait(min(left, 0.5))
        self.lag_waits += 1
        self.lag_wait_seconds += time.monotonic() - started

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No catch-up runs within (a delete owns the index writer meanwhile)."""
        with self._lock:
            yield

    def _commit(self, seq: int) -> None:
        self._index.commit(seq)
        with self._room:
            self._room.notify_all()

    @property
    def state(self) -> str:
        """`ok`, `catching up` (rows wait to be indexed), `rebuilding` (a damaged index was set aside
        and is refilled) or `failing` (the last round failed; retrying)."""
        if self.last_error is not None:
            return "failing"
        if self._index.damaged or self._index.watermark < self._rebuild_target:
            return "rebuilding"
        store = self._store()
        return "catching up" if store is not None and store.last_seq > self._index.watermark else "ok"

    def stop(self) -> None:
        """A final catch-up of at most CLOSE_CATCH_UP_SECONDS (the rest is indexed after the next
        open), then end the thread. Never raises for the index: it is derived data."""
        self._stop.set()
        self._wake.set()
        self._urgent.set()
        with self._room:
            self._room.notify_all()  # no write waits for an index that is stopping
        self._thread.join()
        try:
            self.catch_up_now(deadline=time.monotonic() + CLOSE_CATCH_UP_SECONDS)
        except Exception as exc:
            log.error("text index: the final catch-up failed (%s); the next open continues it", str(exc))
        finally:
            self._pool.shutdown()

    def _run(self) -> None:
        lower_thread_priority()
        written = False  # rows came since the last checkpoint
        retry = 0.0  # after a failed round: seconds until the next try, new rows or not
        while not self._stop.is_set():
            self._index.drop_pages()  # this thread wakes every few seconds, busy or idle
            if retry:
                if self._stop.wait(retry):
                    return
            else:
                if not self._wake.wait(CHECKPOINT_IDLE_SECONDS if written else IDLE_CHECK_SECONDS):
                    if written:
                        written = False
                        self._checkpoint()
                    elif self._store() is None:
                        return
                    continue
                # the interval, cut short by a write held back (backpressure) or by stop()
                self._urgent.wait(self._interval)
                self._urgent.clear()
                if self._stop.is_set():
                    return
            self._wake.clear()
            written = True
            try:
                self.catch_up_now()
            except Exception:  # the thread must survive; the tail scan keeps queries exact
                retry = min(RETRY_MAX_SECONDS, max(retry * 2, RETRY_FIRST_SECONDS))
            else:
                retry = 0.0

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

    def catch_up_now(self, deadline: float | None = None) -> int:
        """Index every committed row above the watermark (or, given a `time.monotonic()` deadline,
        as many as fit before it), committing as it goes; returns the rows indexed. A damaged index
        is rebuilt first. A failure is recorded (`last_error`, `failures`, one log line per change of
        error) and raised.
        """
        with self._lock:
            try:
                if self._index.damaged:
                    store = self._store()
                    self._rebuild_target = store.last_seq if store is not None else 0
                    self._index.rebuild()
                total = self._catch_up(deadline)
            except Exception as exc:
                self.failures += 1
                error = f"{type(exc).__name__}: {exc}"
                if error != self.last_error:
                    log.error(
                        "text index catch-up failed (%s); queries stay exact by scanning the rows not "
                        "indexed, and it is retried",
                        error,
                    )
                self.last_error = error
                raise
            if self.last_error is not None:
                log.warning("text index catch-up works again after: %s", self.last_error)
                self.last_error = None
            return total

    def _catch_up(self, deadline: float | None) -> int:
        """One read transaction gives a stable snapshot: its committed seqs form a prefix (writes are
        serialised and commit in seq order), so walking seq ranges up to its max misses no row.
        The next range is read from DuckDB on a helper thread while this one feeds the index (a
        writer process, on disk: this thread only hands it each range's bytes).
        """
        store = self._store()
        if store is None:
            return 0
        started = time.perf_counter()
        cur = store.cursor()
        with contextlib.suppress(duckdb.Error):
            cur.execute("ROLLBACK").fetchall()  # a transaction its thread left open (or aborted)
        cur.execute("BEGIN TRANSACTION").fetchall()
        try:
            # up to the highest seq ever stored: rows deleted at the top are passed, not waited for
            top = stored_high(cur)
            done = self._index.resume()
            queued = total = 0
            last_commit = time.monotonic()

            def fetch(low: int) -> tuple[list[memoryview], int]:
                high = min(top, low + FETCH_ROWS)
                docs = cur.sql(_DOCS_SQL, params=[low, high]).to_arrow_table()["doc"]
                return json_lines(docs), len(docs)

            ahead = self._pool.submit(fetch, done) if done < top else None
            try:
                while ahead is not None:
                    docs, count = ahead.result()
                    upto = min(top, done + FETCH_ROWS)
                    now = time.monotonic()
                    last = upto >= top or (deadline is not None and now >= deadline)
                    ahead = None if last else self._pool.submit(fetch, upto)
                    self._index.add_docs(docs)
                    queued += count
                    done = upto
                    if queued >= COMMIT_ROWS or now - last_commit >= COMMIT_SECONDS:
                        self._commit(done)
                        total += queued
                        queued = 0
                        last_commit = time.monotonic()
            finally:
                if ahead is not None:  # a failure left a read in flight: let it end before COMMIT
                    with contextlib.suppress(Exception):
                        ahead.result()
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # never leave this thread's cursor aborted
                cur.execute("ROLLBACK").fetchall()
            raise
        cur.execute("COMMIT").fetchall()
        if queued or done > self._index.watermark:
            self._commit(done)
            total += queued
        if total:
            self.indexed_rows += total
            self.index_seconds += time.perf_counter() - started
        return total
