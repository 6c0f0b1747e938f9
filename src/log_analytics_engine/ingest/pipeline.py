"""The write path every ingest goes through: pre-ingest hooks, the store, then the batch listeners.

A hook is a plain callable `LogEntry -> LogEntry | None` (None drops the entry). Listeners
(alert evaluation, counters) are called once per committed write with its seq range, outside
the store's write lock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from log_analytics_engine.ingest.batch import Batch, to_batch
from log_analytics_engine.model import LogEntry
from log_analytics_engine.storage.embedded import EmbeddedStore, WriteResult

Hook = Callable[[LogEntry], LogEntry | None]
Listener = Callable[[WriteResult], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntriesResult:
    """What `ingest_entries` did: the committed write and how many entries hooks dropped."""

    write: WriteResult
    dropped: int


class Pipeline:
    """Hooks, store and listeners wired together; safe to call from many threads."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self._hooks: list[Hook] = []
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

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

    def ingest_entries(self, entries: Sequence[LogEntry]) -> EntriesResult:
        """Hooks, then one Arrow append; durable when this returns."""
        kept = self.apply_hooks(entries)
        batch = to_batch(kept, time.time_ns())
        write = self.store.append(batch.table)
        write = dataclasses.replace(
            write, bad_timestamps=batch.bad_timestamps, entries=kept, table=batch.table
        )
        self._notify(write)
        return EntriesResult(write, len(entries) - len(kept))

    def ingest_batch(self, batch: Batch) -> WriteResult:
        """Store a prebuilt Arrow batch (no hooks: the caller checks `has_hooks`); durable on return."""
        write = self.store.append(batch.table)
        write = WriteResult(
            write.first_seq, write.last_seq, write.rows, batch.bad_timestamps, None, batch.table
        )
        self._notify(write)
        return write

    def ingest_select(self, select_sql: str, chunk: pa.Table) -> WriteResult:
        """Insert a format's SELECT over a chunk of lines (the no-hook fast path)."""
        now = time.time_ns()
        write = self.store.append_select(select_sql, [now, now], chunk)
        self._notify(write)
        return write

    def _notify(self, write: WriteResult) -> None:
        if write.rows == 0:
            return
        for listener in self._listeners:
            listener(write)
