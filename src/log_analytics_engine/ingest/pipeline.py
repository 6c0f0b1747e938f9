"""The write path every ingest goes through: pre-ingest hooks, the store, then the batch listeners.

A hook is a plain callable `LogEntry -> LogEntry | None` (None drops the entry). Listeners
(alert evaluation, counters) are called once per committed write with its seq range, outside
the store's write lock. A listener may return a follow-up (alert notification hooks), which the
ingest call runs on its own thread before it returns, once it holds no lock at all: not even a
group commit's, so the next group is written meanwhile. The other callers of a group commit wait
for the follow-ups of the write that held their batches before they return too.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from log_analytics_engine.ingest.batch import Batch, to_batch
from log_analytics_engine.model import INGEST_SCHEMA, LogEntry
from log_analytics_engine.storage.embedded import EmbeddedStore, WriteResult

Hook = Callable[[LogEntry], LogEntry | None]
FollowUp = Callable[[], None]
Listener = Callable[[WriteResult], FollowUp | None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntriesResult:
    """What `ingest_entries` did: the committed write and how many entries hooks dropped."""

    write: WriteResult
    dropped: int


@dataclass
class _Slot:
    """One caller's batch waiting for a group commit, and what became of it. `wake` is set when the
    batch is written (or failed), or when its thread is to lead the next group."""

    batch: Batch
    wake: threading.Event = field(default_factory=threading.Event)
    followed: threading.Event = field(default_factory=threading.Event)  # the group's follow-ups ran
    lead: bool = False
    written: bool = False
    write: WriteResult | None = None
    error: BaseException | None = None


class Pipeline:
    """Hooks, store and listeners wired together; safe to call from many threads."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self._hooks: list[Hook] = []
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.listener_failures = 0
        self._group_lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._leading = False

    @property
    def has_hooks(self) -> bool:
        """True when pre-ingest hooks are registered (file ingest then builds entries)."""
        return bool(self._hooks)

    def add_hook(self, hook: Hook) -> None:
        """Run `hook` on every entry before it is stored, in registration order."""
        with self._lock:
            self._hooks = [*self._hooks, hook]

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` after every committed write."""
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
        over its logs when any are set (entries built only then), then a group-committed append;
        durable when this returns. `bad_timestamps` of its rows were given the ingest time already;
        rows whose `ts` is NULL are given it here, with hooks only (after them)."""
        if not self._hooks:
            return EntriesResult(self.ingest_batch(Batch(table, bad_timestamps)), 0)
        entries = entries_of(table)
        kept = self.apply_hooks(entries)
        batch = to_batch(kept, time.time_ns())  # a time still None (or None'd by a hook) is counted
        write = self.ingest_batch(Batch(batch.table, batch.bad_timestamps + bad_timestamps))
        return EntriesResult(write, len(entries) - len(kept))

    def ingest_entries(self, entries: Sequence[LogEntry]) -> EntriesResult:
        """Hooks, then one Arrow append; durable when this returns."""
        kept = self.apply_hooks(entries)
        batch = to_batch(kept, time.time_ns())
        write = self.store.append(batch.table)
        write = dataclasses.replace(
            write, bad_timestamps=batch.bad_timestamps, entries=kept, table=batch.table
        )
        self._follow_up(self._notify(write))
        return EntriesResult(write, len(entries) - len(kept))

    def ingest_batch(self, batch: Batch) -> WriteResult:
        """Store a prebuilt Arrow batch (no hooks: the caller checks `has_hooks`); durable on return.

        Group commit: batches that arrive while another group is being written wait together; when
        that write ends, the first of them leads the next group, which takes every batch waiting by
        then (parallel HTTP requests cost one commit, not one each). A leader writes one group and
        returns, so its caller parses its next request while the next group is written. The
        result's `rows` and `bad_timestamps` are the caller's own.
        """
        if batch.table.num_rows == 0:
            return self.store.append(batch.table)
        slot = _Slot(batch)
        with self._group_lock:
            self._pending.append(slot)
            if not self._leading:
                self._leading = slot.lead = True
        if not slot.lead:
            slot.wake.wait()
        if not slot.written:  # this thread leads the next group (its own batch is in it)
            later, group = self._write_group()
            try:
                self._follow_up(later)
            finally:
                for s in group:
                    s.followed.set()
        else:  # the write holding this batch may have fired alerts: their hooks run before we return
            slot.followed.wait()
        if slot.error is not None:
            raise slot.error
        assert slot.write is not None
        return slot.write

    def _write_group(self) -> tuple[list[FollowUp], list[_Slot]]:
        """Write the waiting batches as one; returns the listeners' follow-ups, for the leader to run
        once the next group may start, and the group, whose callers wait for them."""
        with self._group_lock:
            group, self._pending = self._pending, []
        later: list[FollowUp] = []
        try:
            tables = [s.batch.table for s in group]
            table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
            write = self.store.append(table)
            bad = sum(s.batch.bad_timestamps for s in group)
            later = self._notify(dataclasses.replace(write, bad_timestamps=bad, table=table))
            for s in group:
                s.write = dataclasses.replace(
                    write, rows=s.batch.table.num_rows, bad_timestamps=s.batch.bad_timestamps
                )
        except Exception as exc:  # every caller of the group hears of it
            for s in group:
                s.error = exc
        finally:
            with self._group_lock:
                for s in group:
                    s.written = True
                    if not later:  # nothing for them to wait for
                        s.followed.set()
                    s.wake.set()
                if self._pending:
                    following = self._pending[0]
                    following.lead = True
                    following.wake.set()
                else:
                    self._leading = False
        return later, group

    def ingest_select(
        self, select_sql: str, chunk: pa.Table, params: Sequence[object] | None = None
    ) -> WriteResult:
        """Insert a format's SELECT over a chunk (the no-hook fast path); `params` follow the first
        seq (by default the ingest time twice)."""
        now = time.time_ns()
        write = self.store.append_select(select_sql, [now, now] if params is None else list(params), chunk)
        self._follow_up(self._notify(write))
        return write

    def _notify(self, write: WriteResult) -> list[FollowUp]:
        """Tell the listeners of a committed write; returns their follow-ups. The write is durable
        already, so a listener that fails is logged and counted, and the ingest still succeeds (a
        client must not resend it)."""
        later: list[FollowUp] = []
        if write.rows == 0:
            return later
        for listener in self._listeners:
            try:
                after = listener(write)
            except Exception:
                self.listener_failures += 1
                log.exception("write listener %r failed after a committed write", listener)
            else:
                if after is not None:
                    later.append(after)
        return later

    def _follow_up(self, later: list[FollowUp]) -> None:
        """Run the listeners' follow-ups (the caller holds no lock); a failure is logged and counted."""
        for after in later:
            try:
                after()
            except Exception:
                self.listener_failures += 1
                log.exception("write follow-up %r failed after a committed write", after)


def entries_of(table: pa.Table) -> list[LogEntry]:
    """The logs of a decoded table (model.INGEST_SCHEMA) as entries, for pre-ingest hooks."""
    columns = [table.column(name).to_pylist() for name in INGEST_SCHEMA.names]
    return [LogEntry.from_stored((None, *row)) for row in zip(*columns, strict=True)]
