"""The write path every ingest goes through: pre-ingest hooks, the store, then the listeners.

A hook is a plain callable `LogEntry -> LogEntry | None` (None drops the entry). A write is
acknowledged once the store has it in its write-ahead log; listeners (alert evaluation) run later,
on the store's listener thread, once per applied commit: a `Listener` gets the commit's rows and the
span (first seq, last seq, time acknowledged) of each write in it, and returns each write's
follow-up (the alert notification hooks to call, or None). A writer that must see its follow-ups
run before it returns (`waits_for_follow_ups()`: notification hooks are registered) waits for its
own evaluation and runs them on its own thread, holding no lock; a follow-up no writer waits for
runs on a helper thread, never the applier's (a hook may query the store, which waits for it).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest.batch import Batch, stored_row, to_batch
from log_analytics_engine.model import INGEST_SCHEMA, LogEntry
from log_analytics_engine.storage.base import Acknowledged, Store, WriteResult
from log_analytics_engine.storage.embedded.store import EmbeddedStore

Hook = Callable[[LogEntry], LogEntry | None]
FollowUp = Callable[[], None]
# (first seq, last seq, the clock's time when acknowledged) of one write
Span = tuple[int, int, float]
Listener = Callable[[pa.Table | None, Sequence[Span]], Sequence[FollowUp | None]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntriesResult:
    """What `ingest_entries` did: the acknowledged write and how many entries hooks dropped."""

    write: WriteResult
    dropped: int


class Pipeline:
    """Hooks, store and listeners wired together; safe to call from many threads. `clock` stamps
    each write (its rules are evaluated at that time); `on_write` is told of each acknowledged write
    at once (counters); `waits_for_follow_ups` says whether a writer waits for its evaluation."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        on_write: Callable[[WriteResult], None] | None = None,
        waits_for_follow_ups: Callable[[], bool] = lambda: False,
        bulk: EmbeddedStore | None = None,
    ) -> None:
        self.store = store
        # file ingest parses and inserts chunks by SQL on the embedded store's own DuckDB (one
        # 122,880-line commit each, never materialised in Python); None for another backend
        self.bulk = bulk
        self._clock = clock
        self._on_write = on_write
        self._waits = waits_for_follow_ups
        self._hooks: list[Hook] = []
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.listener_failures = 0
        self._orphans: ThreadPoolExecutor | None = None
        store.on_applied = self._applied

    @property
    def has_hooks(self) -> bool:
        """True when pre-ingest hooks are registered (file ingest then builds entries)."""
        return bool(self._hooks)

    def add_hook(self, hook: Hook) -> None:
        """Run `hook` on every entry before it is stored, in registration order."""
        with self._lock:
            self._hooks = [*self._hooks, hook]

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` for every applied commit (and every file chunk stored)."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def apply_hooks(self, entries: Sequence[LogEntry]) -> list[LogEntry]:
        """Entries after every hook; an entry a hook maps to None is dropped."""
        hooks = self._hooks
        if not hooks:
            return list(entries)
        kept = []
        for entry in entries:
            current: LogEntry | None = entry
            for hook in hooks:
                current = hook(current)  # type: ignore[arg-type]  # the loop breaks on None
                if current is None:
                    break
            if current is not None:
                kept.append(current)
        return kept

    def ingest(self, table: pa.Table, bad_timestamps: int = 0) -> EntriesResult:
        """The one way into the store for a decoded table (model.INGEST_SCHEMA): the pre-ingest hooks
        over its logs when any are set (entries built only then), then an append; acknowledged when
        this returns. `bad_timestamps` of its rows were given the ingest time already; rows whose
        `ts` is NULL are given it here, with hooks only (after them)."""
        if not self._hooks:
            return EntriesResult(self.ingest_batch(Batch(table, bad_timestamps)), 0)
        entries = entries_of(table)
        kept = self.apply_hooks(entries)
        batch = to_batch(kept, time.time_ns())  # a time still None (or None'd by a hook) is counted
        write = self.ingest_batch(Batch(batch.table, batch.bad_timestamps + bad_timestamps))
        return EntriesResult(write, len(entries) - len(kept))

    def ingest_entries(self, entries: Sequence[LogEntry]) -> EntriesResult:
        """Hooks, then one append (one log: a row, no Arrow batch); acknowledged when this returns."""
        kept = self.apply_hooks(entries)
        if len(kept) == 1 and _plain(kept[0]):
            row, bad = stored_row(kept[0], time.time_ns())
            write = self.store.append_row(row, self._clock(), evaluated=self._waits())
            write = dataclasses.replace(write, bad_timestamps=int(bad))
            self._acknowledged(write)
        else:
            write = self.ingest_batch(to_batch(kept, time.time_ns()))
        return EntriesResult(write, len(entries) - len(kept))

    def ingest_batch(self, batch: Batch) -> WriteResult:
        """Store a prebuilt Arrow batch (no hooks: the caller checks `has_hooks`); acknowledged on
        return, with the follow-ups of its evaluation run first when a writer waits for them."""
        write = self.store.append(batch.table, self._clock(), evaluated=self._waits())
        write = dataclasses.replace(write, bad_timestamps=batch.bad_timestamps)
        self._acknowledged(write)
        return write

    def _acknowledged(self, write: WriteResult) -> None:
        if self._on_write is not None and write.rows:
            self._on_write(write)
        chunk = write.chunk
        if chunk is not None and chunk.evaluated is not None:
            chunk.evaluated.wait()
            self._follow_up(chunk.follow_ups)

    def ingest_select(
        self, select_sql: str, chunk: pa.Table, params: Sequence[object] | None = None
    ) -> WriteResult:
        """Insert a format's SELECT over a chunk (the no-hook fast path); `params` follow the first
        seq (by default the ingest time twice). Stored in DuckDB when this returns; its listeners run
        here, on the caller's thread."""
        now = time.time_ns()
        write = self.bulk_store.append_select(
            select_sql, [now, now] if params is None else list(params), chunk
        )
        if write.rows:
            if self._on_write is not None:
                self._on_write(write)
            later = self._listen(None, [(write.first_seq, write.last_seq, self._clock())])
            self._follow_up([f for f in later if f is not None])
        return write

    @property
    def bulk_store(self) -> EmbeddedStore:
        """The embedded store file ingest writes to by SQL (an IngestError for another backend)."""
        if self.bulk is None:
            raise IngestError("file ingest by SQL needs the embedded store")
        return self.bulk

    def _listen(self, table: pa.Table | None, spans: Sequence[Span]) -> list[FollowUp | None]:
        """Each listener over one commit; returns each write's follow-ups, combined. A listener that
        fails is logged and counted: the writes are stored already (a client must not resend)."""
        out: list[list[FollowUp]] = [[] for _ in spans]
        for listener in self._listeners:
            try:
                results = listener(table, spans)
            except Exception:
                self.listener_failures += 1
                log.exception("write listener %r failed after a stored write", listener)
                continue
            for calls, result in zip(out, results, strict=True):
                if result is not None:
                    calls.append(result)
        return [_chain(calls) for calls in out]

    def _applied(self, chunks: Sequence[Acknowledged], table: pa.Table) -> None:
        """The store's applier ran a commit: the listeners over it; each write's follow-ups go to
        its waiting writer, or to the helper thread when none waits."""
        later = self._listen(table, [(c.first_seq, c.last_seq, c.stamp) for c in chunks])
        for chunk, follow_up in zip(chunks, later, strict=True):
            if follow_up is None:
                continue
            if chunk.evaluated is not None:
                chunk.follow_ups.append(follow_up)
            else:
                if self._orphans is None:
                    self._orphans = ThreadPoolExecutor(1, thread_name_prefix="log-analytics-follow-up")
                self._orphans.submit(self._follow_up, [follow_up])

    def _follow_up(self, later: Sequence[FollowUp]) -> None:
        """Run the listeners' follow-ups (the caller holds no lock); a failure is logged and counted."""
        for after in later:
            try:
                after()
            except Exception:
                self.listener_failures += 1
                log.exception("write follow-up %r failed after a stored write", after)

    def close(self) -> None:
        """Wait for follow-ups running on the helper thread."""
        if self._orphans is not None:
            self._orphans.shutdown()


def _plain(entry: LogEntry) -> bool:
    """Whether an entry's columns have the types the row path stores as they are (the Arrow path
    checks them, and refuses what it cannot store)."""
    return (
        type(entry.message) is str
        and type(entry.source) is str
        and all(type(t) is str for t in entry.tags)
        and all(v is None or type(v) is str for v in (entry.thread_id, entry.request_id, entry.user_id))
    )


def _chain(calls: list[FollowUp]) -> FollowUp | None:
    if not calls:
        return None
    if len(calls) == 1:
        return calls[0]

    def run_all() -> None:
        for call in calls:
            call()

    return run_all


def entries_of(table: pa.Table) -> list[LogEntry]:
    """The logs of a decoded table (model.INGEST_SCHEMA) as entries, for pre-ingest hooks."""
    columns = [table.column(name).to_pylist() for name in INGEST_SCHEMA.names]
    return [LogEntry.from_stored((None, *row)) for row in zip(*columns, strict=True)]
