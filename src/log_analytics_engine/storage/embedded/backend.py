"""The embedded store behind the Store protocol (storage/base.py): `EmbeddedStore`'s rows, WAL and
text index, queried through the planner, the pipe runner, the in-store aggregator and field
discovery, all of them DuckDB SQL plus tantivy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from log_analytics_engine.errors import QueryError
from log_analytics_engine.memory import MEMORY_LIMIT
from log_analytics_engine.model import LogEntry
from log_analytics_engine.query.ast import Node, Pipe, TimeRange, has_text
from log_analytics_engine.query.results import FieldsResult, QueryResult
from log_analytics_engine.storage.base import (
    DAY_NS,
    AppliedListener,
    BackupReport,
    Matches,
    Page,
    Sort,
    WriteResult,
)
from log_analytics_engine.storage.embedded.aggregate import StoreAggregator
from log_analytics_engine.storage.embedded.fields import discover
from log_analytics_engine.storage.embedded.pipes import PipeRunner
from log_analytics_engine.storage.embedded.planner import Planner
from log_analytics_engine.storage.embedded.sql import TOKENS_SQL, compile_where
from log_analytics_engine.storage.embedded.stats import StatsReader
from log_analytics_engine.storage.embedded.store import EmbeddedStore
from log_analytics_engine.storage.embedded.typed import SAMPLE_ROWS


@contextlib.contextmanager
def _within(memory_limit: str) -> Iterator[None]:
    """A query that DuckDB could not fit in its memory limit, spilling to disk included, fails with a
    QueryError naming the limit (DuckDB's own error names settings of its own)."""
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        reason = str(exc).split("\n", 1)[0]
        raise QueryError(
            f"the query needs more memory than the store's memory_limit of {memory_limit} allows, even "
            f"spilling to disk ({reason}); narrow it (a time range, fewer groups) or raise memory_limit"
        ) from exc


class EmbeddedBackend:
    """A directory (or memory) holding DuckDB rows and their tantivy index: the embedded Store."""

    def __init__(
        self,
        path: Path | None,
        *,
        index_interval: float = 1.0,
        recover: bool = False,
        durability: str = "os",
        promote_after: int | None = SAMPLE_ROWS,
        memory_limit: str = MEMORY_LIMIT,
    ) -> None:
        self.store = EmbeddedStore(
            path,
            index_interval=index_interval,
            recover=recover,
            durability=durability,
            promote_after=promote_after,
            memory_limit=memory_limit,
        )
        self._planner = Planner(self.store)
        self._runner = PipeRunner(self._planner)
        self._aggregator = StoreAggregator(self._planner)
        self._stats = StatsReader(self.store)

    # -- writes ---------------------------------------------------------------------------------

    @property
    def on_applied(self) -> AppliedListener | None:
        return self.store.on_applied

    @on_applied.setter
    def on_applied(self, listener: AppliedListener | None) -> None:
        self.store.on_applied = listener

    def append(self, table: pa.Table, stamp: float = 0.0, *, evaluated: bool = False) -> WriteResult:
        return self.store.append(table, stamp, evaluated=evaluated)

    def append_row(self, row: tuple[Any, ...], stamp: float = 0.0, *, evaluated: bool = False) -> WriteResult:
        chunk = self.store.append_row(row, stamp, evaluated=evaluated)
        return WriteResult(chunk.first_seq, chunk.last_seq, 1, 0, chunk=chunk)

    def delete(self, node: Node) -> int:
        return self.store.delete(node)

    def backup(self, dest: Path) -> BackupReport:
        return self.store.backup(dest)

    def drop_days(self, days: Sequence[int]) -> int:
        return sum(self.delete(TimeRange(lo, hi, include_end=False)) for lo, hi in day_ranges(days))

    # -- reads ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self, seconds: float) -> Iterator[None]:
        with self.store.read_snapshot(), self._planner.time_limit(seconds), _within(self.store.memory_limit):
            yield

    def applied_reads(self) -> contextlib.AbstractContextManager[None]:
        return self.store.applied_reads()

    def count(self, node: Node) -> int:
        return self._planner.count(node)

    def select(self, node: Node, sort: Sort, offset: int = 0, limit: int | None = None) -> list[LogEntry]:
        return self._planner.find(node, sort, offset, limit)

    def search(self, node: Node, limit: int, before: tuple[int, int] | None = None) -> Page:
        logs, total = self._planner.search(node, limit, before)
        return Page(logs, total)

    def after(self, node: Node, low: int, high: int, limit: int) -> list[LogEntry]:
        return self._planner.after(node, low, high, limit)

    def around(
        self, seq: int, before: int, after: int
    ) -> tuple[LogEntry, list[LogEntry], list[LogEntry]] | None:
        return self._planner.around(seq, before, after)

    def fetch(self, seqs: Sequence[int]) -> list[LogEntry]:
        return self.store.fetch_seqs(seqs)

    def run(self, node: Node, pipes: tuple[Pipe, ...]) -> QueryResult:
        return self._runner.run(node, pipes)

    def aggregate(
        self,
        node: Node,
        group_by: str | None,
        histogram: str | None,
        top_n: Mapping[str, int] | None,
        interval: str | int | float | None,
    ) -> dict[str, Any]:
        return self._aggregator.aggregate(node, group_by, histogram, top_n, interval)

    def fields(self, node: Node) -> FieldsResult:
        return discover(self._planner, node)

    def matches(self, node: Node, ts_after: int, seq_through: int, limit: int | None = None) -> Matches:
        flt = compile_where(node, typed=self.store.typed)
        sql = f"SELECT ts, seq FROM logs WHERE {flt.sql} AND ts > ? AND seq <= ?"
        params = [*flt.params, ts_after, seq_through]
        if limit is not None:
            sql += " ORDER BY ts, seq LIMIT ?"
            params.append(limit)
        found = self.store.numpy(sql, params)
        return Matches(np.asarray(found["ts"], dtype=np.int64), np.asarray(found["seq"], dtype=np.int64))

    def count_applied(self, node: Node, ts_after: int, ts_through: int, seq_through: int = 0) -> int:
        flt = compile_where(node, typed=self.store.typed)
        upto = "AND seq <= ?" if seq_through else ""
        row = self.store.applied_row(
            f"SELECT count(*) FROM logs WHERE {flt.sql} AND ts > ? AND ts <= ? {upto}",
            [*flt.params, ts_after, ts_through, *([seq_through] if seq_through else [])],
        )
        return int(row[0]) if row else 0

    def match_rows(self, nodes: Sequence[Node], first_seq: int, last_seq: int) -> list[Matches]:
        # the rows' messages are tokenized once for every node's words (see compile_where)
        text = any(has_text(node) for node in nodes)
        parts, params = [], []
        for i, node in enumerate(nodes):
            flt = compile_where(node, tokens="_tokens" if text else None, typed=self.store.typed)
            parts.append(f"coalesce({flt.sql}, false) AS m{i}")
            params.extend(flt.params)
        tokens = f", {TOKENS_SQL} AS _tokens" if text else ""
        found = self.store.numpy(
            f"SELECT ts, seq, {', '.join(parts)} FROM (SELECT *{tokens} FROM logs WHERE seq BETWEEN ? AND ?)",
            [*params, first_seq, last_seq],
        )
        ts = np.asarray(found["ts"], dtype=np.int64)
        seqs = np.asarray(found["seq"], dtype=np.int64)
        masks = [np.asarray(found[f"m{i}"], dtype=bool) for i in range(len(nodes))]
        return [Matches(ts[m], seqs[m]) for m in masks]

    def summary(self) -> dict[str, Any]:
        return self._stats.summary()

    # -- alerts and rules -----------------------------------------------------------------------

    def write_alert(self, rule_name: str, triggered_at: float, body: dict[str, Any]) -> None:
        self.store.write_alert(rule_name, triggered_at, body)

    def update_alert(self, rule_name: str, triggered_at: float, body: dict[str, Any]) -> None:
        self.store.update_alert(rule_name, triggered_at, body)

    def alert_bodies(self, limit: int) -> list[str]:
        rows = self.store.rows(
            "SELECT body FROM (SELECT * FROM alerts ORDER BY triggered_at DESC, id DESC LIMIT ?) "
            "ORDER BY triggered_at, id",
            [limit],
        )
        return [str(body) for (body,) in rows]

    def write_rule(self, name: str, body: dict[str, Any]) -> None:
        self.store.write_rule(name, body)

    def delete_rule(self, name: str) -> None:
        self.store.delete_rule(name)

    def stored_rules(self) -> list[dict[str, Any]]:
        return self.store.stored_rules()

    # -- watermarks and lifecycle ---------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self.store.last_seq

    @property
    def index_state(self) -> dict[str, Any]:
        return self.store.index_state

    @property
    def wal_state(self) -> dict[str, Any]:
        return self.store.wal_state

    @property
    def applying_fails(self) -> bool:
        return self.store.applying_fails

    def bytes_on_disk(self) -> int:
        return self.store.bytes_on_disk()

    def disk_usage(self) -> int:
        return self.store.disk_usage()

    def days(self) -> list[tuple[int, int]]:
        # floor division, exact for times before 1970 too
        rows = self.store.rows(
            "SELECT (ts - ((ts % ?) + ?) % ?) // ? AS day, count(*) FROM logs GROUP BY day ORDER BY day",
            [DAY_NS, DAY_NS, DAY_NS, DAY_NS],
        )
        return [(int(day), int(n)) for day, n in rows]

    def wait_evaluated(self, timeout: float | None = None) -> None:
        self.store.wait_evaluated(timeout)

    def flush_index(self) -> None:
        self.store.flush_index()

    def close(self) -> None:
        self.store.close()


def day_ranges(days: Sequence[int]) -> list[tuple[int, int]]:
    """Event days as [start, end) ns ranges, consecutive days joined."""
    ranges: list[tuple[int, int]] = []
    for day in sorted(set(days)):
        start, end = day * DAY_NS, (day + 1) * DAY_NS
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges
