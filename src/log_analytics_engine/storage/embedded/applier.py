"""The applier: moves acknowledged writes from memory into DuckDB in large commits, on its own thread.

A write is acknowledged once it is in the write-ahead log (in the OS, or on the disk in fsync mode)
and in `Applier`'s memory queue. The thread takes what is queued (up to APPLY_ROWS rows), inserts it
in one DuckDB commit, and only then drops it from the queue, so every acknowledged row is always in
one of the two. It gathers writes for up to GATHER_SECONDS while no reader waits: a stream of small
writes costs a commit every few milliseconds, not one each. A read first waits for the rows
acknowledged before it (`wait_applied`), which wakes the thread at once, so reads stay exact.

Each applied commit then goes to the listener thread (alert evaluation), so that a slow evaluation
(an alert storm) never holds back the commits reads wait for.

A commit that fails (a full disk) is retried with a pause doubling up to RETRY_MAX_SECONDS; the rows
stay queued and in the WAL meanwhile. Writers wait while the rows not yet applied and evaluated hold
more than MAX_PENDING_BYTES (backpressure), at most ROOM_WAIT_SECONDS, then get an OverloadedError
(HTTP 429).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from log_analytics_engine.errors import OverloadedError, StorageError

log = logging.getLogger(__name__)

# The most rows one commit takes (DuckDB inserts ~50k rows in ~25 ms here).
APPLY_ROWS = 65_536
# While no reader waits and fewer than APPLY_ROWS rows are queued, the first write queued waits at
# most this long for others to share its commit.
GATHER_SECONDS = 0.005
# The memory the queue may hold before writers wait for the applier (backpressure). Two threads
# ingesting 1,000-log bodies at 60k logs/s queued at most 10 MiB (60k logs); a checkpoint stalls the
# applier ~0.5 s (64MB of DuckDB's WAL), ~10 MB more. At 128 MiB a stalled applier let the queue grow
# to a quarter of the engine's memory bound.
MAX_PENDING_BYTES = 32 << 20
ROOM_WAIT_SECONDS = 10.0
# How long a read waits for the rows acknowledged before it (only a failing commit takes long).
READ_WAIT_SECONDS = 10.0
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 1.0


@dataclass
class Chunk:
    """One acknowledged write waiting to be applied: its rows (an Arrow table of STORED_SCHEMA, or
    for a write of one log its row, seq first), their bytes, the clock's time when it was
    acknowledged (its alert rules are evaluated at that time), and, for a writer that waits for its
    own evaluation, the event set once listeners ran, with their follow-ups."""

    first_seq: int
    rows: int
    size: int
    stamp: float
    table: pa.Table | None = None
    row: tuple[Any, ...] | None = None
    evaluated: threading.Event | None = None
    follow_ups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.rows - 1


Apply = Callable[[Sequence[Chunk]], pa.Table]
AfterApply = Callable[[Sequence[Chunk], pa.Table], None]


class Applier:
    """The queue of acknowledged writes and the thread that applies it (`apply` commits the chunks
    given; `after` runs on the same thread once they are applied: WAL release), then the thread
    that hands each applied commit to `listen` (alert evaluation)."""

    def __init__(self, apply: Apply, after: AfterApply, listen: AfterApply, applied_seq: int) -> None:
        self._apply = apply
        self._after = after
        self._listen = listen
        self._applied: list[tuple[list[Chunk], pa.Table]] = []  # waiting for the listener thread
        self.applied_seq = applied_seq  # every row up to it is in DuckDB
        self.queued_seq = applied_seq  # the last row queued
        self.listened_seq = applied_seq  # the last row whose listeners ran
        self._chunks: list[Chunk] = []
        self._rows = 0
        self._bytes = 0
        self._cond = threading.Condition()
        self._urgent = False  # a reader (or close) waits: apply without gathering
        self._stopping = False
        self._stopped = False
        self._applying_done = False  # the applier thread ended: the listener ends once idle
        self._give_up_at = 0.0
        self.commits = 0
        self.applied_rows = 0
        self.failures = 0
        self.last_error: str | None = None
        self.room_waits = 0
        self.read_waits = 0  # reads that waited for the applier, and for how long in all
        self.read_wait_seconds = 0.0
        self.room_wait_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="log-analytics-applier", daemon=True)
        self._listener = threading.Thread(target=self._run_listen, name="log-analytics-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._listener.start()

    # -- writers --------------------------------------------------------------------------------

    def wait_for_room(self) -> None:
        """Backpressure before a write: wait while the queue is over MAX_PENDING_BYTES, at most
        ROOM_WAIT_SECONDS; then OverloadedError."""
        if self._bytes <= MAX_PENDING_BYTES:
            return
        started = time.monotonic()
        deadline = started + ROOM_WAIT_SECONDS
        with self._cond:
            self.room_waits += 1
            self._urgent = True
            self._cond.notify_all()
            while self._bytes > MAX_PENDING_BYTES and not self._stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.room_wait_seconds += time.monotonic() - started
                    raise OverloadedError(
                        f"{self._bytes >> 20} MiB of acknowledged logs wait to be stored, over the "
                        f"{MAX_PENDING_BYTES >> 20} MiB bound, and none left for {ROOM_WAIT_SECONDS:g} s"
                        f"{self._cause()}; retry later"
                    )
                self._cond.wait(left)
            self.room_wait_seconds += time.monotonic() - started

    def add(self, chunk: Chunk) -> None:
        """Queue an acknowledged write (callers add in seq order, under their write lock)."""
        with self._cond:
            if self._stopped:
                raise StorageError("the store is closed")
            wake = not self._chunks or self._rows < APPLY_ROWS <= self._rows + chunk.rows
            self._chunks.append(chunk)
            self._rows += chunk.rows
            self._bytes += chunk.size
            self.queued_seq = chunk.last_seq
            if wake:  # the thread waits for a first write, or to gather more: not for each
                self._cond.notify_all()

    def mark_applied(self, seq: int) -> None:
        """Rows up to `seq` reached DuckDB another way (file ingest, which drains the queue first)."""
        with self._cond:
            if self._chunks:
                raise StorageError("rows were stored around the applier while it held writes")
            self.applied_seq = self.queued_seq = self.listened_seq = max(self.applied_seq, seq)
            self._cond.notify_all()

    @property
    def pending(self) -> tuple[int, int]:
        """Rows and bytes queued, not yet in DuckDB."""
        with self._cond:
            return self._rows, self._bytes

    # -- readers --------------------------------------------------------------------------------

    def wait_applied(self, seq: int, timeout: float | None = None) -> None:
        """Return once every row up to `seq` is in DuckDB; StorageError past `timeout`, or at once when
        the applier has stopped short of it (the rows wait in the WAL for the next open)."""
        if self.applied_seq >= seq or threading.current_thread() is self._thread:
            return
        timeout = READ_WAIT_SECONDS if timeout is None else timeout
        started = time.monotonic()
        deadline = started + timeout
        with self._cond:
            self.read_waits += 1
            try:
                self._wait_applied(seq, timeout, deadline)
            finally:
                self.read_wait_seconds += time.monotonic() - started

    def _wait_applied(self, seq: int, timeout: float, deadline: float) -> None:
        """The wait of `wait_applied`, holding the lock."""
        while self.applied_seq < seq:
            if self._stopped:
                raise StorageError(
                    f"the store is closed with logs {self.applied_seq + 1}-{seq} not yet in its "
                    "database; they are in the write-ahead log and are applied at the next open"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise StorageError(
                    f"acknowledged logs {self.applied_seq + 1}-{seq} are not in the database after "
                    f"{timeout:g} s{self._cause()}; they are safe in the write-ahead log and are "
                    "applied as soon as that clears"
                )
            self._urgent = True
            self._cond.notify_all()
            self._cond.wait(min(left, 0.5))

    def wait_listened(self, timeout: float | None = None) -> None:
        """Return once the listeners ran for every row applied so far (alert evaluation)."""
        if threading.current_thread() in (self._thread, self._listener):
            return
        timeout = READ_WAIT_SECONDS if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self.applied_seq
            while self.listened_seq < target and not self._stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StorageError(f"the listeners of logs up to {target} did not run in {timeout:g} s")
                self._cond.wait(left)

    def _cause(self) -> str:
        return f": applying them fails ({self.last_error})" if self.last_error else ""

    # -- the thread -----------------------------------------------------------------------------

    def _take(self) -> list[Chunk] | None:
        """The chunks of the next commit (None once stopping with nothing left); holds the lock."""
        while True:
            if not self._chunks:
                if self._stopping:
                    return None
                self._cond.wait()
                continue
            if not self._urgent and not self._stopping and self._rows < APPLY_ROWS:
                self._cond.wait(GATHER_SECONDS)
            self._urgent = False
            taken: list[Chunk] = []
            rows = 0
            for chunk in self._chunks:
                if taken and rows + chunk.rows > APPLY_ROWS:
                    break
                taken.append(chunk)
                rows += chunk.rows
            return taken

    def _run(self) -> None:
        retry = 0.0
        while True:
            with self._cond:
                taken = self._take()
            if taken is None:
                break
            try:
                table = self._apply(taken)
            except Exception as exc:
                self.failures += 1
                error = f"{type(exc).__name__}: {exc}"
                if error != self.last_error:
                    log.error("applying acknowledged logs to the database failed (%s); retrying", error)
                self.last_error = error
                retry = min(RETRY_MAX_SECONDS, max(retry * 2, RETRY_FIRST_SECONDS))
                with self._cond:
                    if self._stopping and time.monotonic() >= self._give_up_at:
                        break
                    self._cond.wait(retry)
                continue
            if self.last_error is not None:
                log.warning("applying logs to the database works again after: %s", self.last_error)
                self.last_error = None
            retry = 0.0
            with self._cond:
                del self._chunks[: len(taken)]
                self._rows -= table.num_rows
                self.applied_seq = taken[-1].last_seq
                self.commits += 1
                self.applied_rows += table.num_rows
                self._applied.append((taken, table))
                self._cond.notify_all()
            try:
                self._after(taken, table)
            except Exception:
                log.exception("after applying logs %d-%d", taken[0].first_seq, taken[-1].last_seq)
        with self._cond:
            self._applying_done = True
            self._cond.notify_all()

    def _run_listen(self) -> None:
        """The listener thread: each applied commit to `listen`, in order; its bytes are released
        (room for writers) once that ran."""
        while True:
            with self._cond:
                while not self._applied and not self._applying_done:
                    self._cond.wait()
                if not self._applied:
                    break
                taken, table = self._applied.pop(0)
            try:
                self._listen(taken, table)
            except Exception:
                log.exception("listening to logs %d-%d", taken[0].first_seq, taken[-1].last_seq)
            with self._cond:
                self._bytes -= sum(c.size for c in taken)
                self.listened_seq = taken[-1].last_seq
                self._cond.notify_all()

    def stop(self, seconds: float) -> bool:
        """Apply what is queued (failing commits retried for at most `seconds`), then end the thread;
        True when nothing was left behind."""
        with self._cond:
            self._stopping = True
            self._give_up_at = time.monotonic() + seconds
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        with self._cond:
            self._applying_done = True
            self._cond.notify_all()
        if self._listener.is_alive():
            self._listener.join()
        with self._cond:
            self._stopped = True
            left = not self._chunks
            for chunk in self._chunks:  # no writer waits for an evaluation that will not come
                if chunk.evaluated is not None:
                    chunk.evaluated.set()
            self._cond.notify_all()
        return left
