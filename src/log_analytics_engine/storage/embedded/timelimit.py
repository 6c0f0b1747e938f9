"""The time limit of one query call: DuckDB statements still running when it passes are interrupted,
and the call fails with a QueryError naming the limit.

Without it a search had no bound: a 14 KB regex query took 36-42 s. DuckDB has no statement timeout,
but a cursor can be interrupted from another thread; text-index lookups cannot be, so the planner
checks the limit after each (the costliest measured, 512 negated prefix and word pairs over 1M logs,
took 0.7-0.9 s).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

import duckdb

from log_analytics_engine.errors import QueryError

if TYPE_CHECKING:
    from log_analytics_engine.storage.embedded.store import EmbeddedStore

__all__ = ("QUERY_SECONDS", "TimeLimit")

QUERY_SECONDS = 30.0
# DuckDB drops an interrupt that arrives between two statements (the next one starts afresh), so once
# the limit has passed the interrupt is repeated this often until the call ends.
_REPEAT_SECONDS = 0.02


class TimeLimit:
    """`with TimeLimit(store, seconds):` bounds what this thread asks of the store inside the block:
    a statement running (or started) once `seconds` have passed is interrupted, and the block raises
    a QueryError saying so; `check()` raises it between steps that cannot be interrupted."""

    def __init__(self, store: EmbeddedStore, seconds: float) -> None:
        self.seconds = seconds
        self._cursor = store.cursor()  # this thread's: the one every statement of the block runs on
        self._ended = threading.Event()
        # held while interrupting, and to end the block: no interrupt can reach a statement after it
        self._lock = threading.Lock()
        self._passed = False
        self._watcher = threading.Thread(target=self._watch, name="query-time-limit", daemon=True)

    def _watch(self) -> None:
        if self._ended.wait(self.seconds):
            return
        self._passed = True
        while True:
            with self._lock:
                if self._ended.is_set():
                    return
                self._cursor.interrupt()
            if self._ended.wait(_REPEAT_SECONDS):
                return

    def error(self) -> QueryError:
        """The error of a query stopped by this limit."""
        return QueryError(
            f"the query ran longer than the limit of {self.seconds:g} s and was stopped; narrow it "
            "(a time range, fewer or simpler regexes and field terms)"
        )

    def check(self) -> None:
        """Raise the limit's QueryError once the limit has passed."""
        if self._passed:
            raise self.error()

    def __enter__(self) -> TimeLimit:
        self._watcher.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._ended.set()
        if isinstance(exc, duckdb.InterruptException):
            raise self.error() from exc
