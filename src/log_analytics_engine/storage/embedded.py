"""The embedded store: DuckDB holds every row (the record); a tantivy index follows on a thread.

Writes are serialised by one lock that covers seq allocation, the insert and its commit, so the
committed rows always form a seq prefix. Reads run on per-thread DuckDB cursors and never take
that lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from log_analytics_engine.errors import DiskFullError, StorageError
from log_analytics_engine.model import STORED_SCHEMA, LogEntry
from log_analytics_engine.storage.commitmark import CommitMark, stored_high
from log_analytics_engine.storage.indexer import Indexer
from log_analytics_engine.storage.recent import RecentRows
from log_analytics_engine.storage.schema import ALERTS_DDL, LOGS_DDL, RULES_DDL
from log_analytics_engine.storage.textindex import TextIndex
from log_analytics_engine.timeparse import TimestampError, parse_timestamp, storable

log = logging.getLogger(__name__)
DB_FILE = "logs.duckdb"
LOCK_FILE = "LOCK"
# Bulk appends go through the WAL and are compressed at checkpoint. DuckDB's default (writing large
# appends to the file before commit) measured no faster here and, with a commit per file chunk,
# left up to 45% of the file as free blocks after the checkpoint rewrote partial row groups.
# Checkpoints stall every commit while they run (~0.2 s per 100k logs): at DuckDB's 16MB default
# a stream of 1,000-log inserts stalled every ~60k logs and cost 7.0 ms of CPU a batch; at 64MB,
# 4.8 ms, the rest paid by fewer, larger checkpoints, which the indexer also runs when writes pause.
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_optimistic_write": False,
    "checkpoint_threshold": "64MB",
    # DuckDB's own default is 80% of RAM, which its buffer cache fills and keeps: under the abuse
    # benchmark the server peaked at 2.4 GB and held 985 MB after (3.7x its RSS before); at 512MB,
    # 1.2 GB and 614 MB, with the 1M-log benchmark queries no slower (work past it spills to disk).
    "memory_limit": "512MB",
}
INDEX_DIR = "index"
_FIX_TS_SQL = """
UPDATE logs SET
    ts = coalesce(fix.ts, logs.ingested_at),
    metadata = CASE WHEN fix.ts IS NULL THEN logs.metadata
               ELSE nullif(json_merge_patch(logs.metadata, '{"timestamp_raw":null}'), '{}') END
FROM fix WHERE logs.seq = fix.seq
"""


# How DuckDB words a write that found the disk full (the OS's ENOSPC text).
_NO_SPACE = "No space left on device"


@contextlib.contextmanager
def _disk_full_is_507(path: Path | None) -> Iterator[None]:
    """Turn DuckDB's error for a full disk into a DiskFullError (the transaction was rolled back)."""
    try:
        yield
    except duckdb.Error as exc:
        if _NO_SPACE not in str(exc):
            raise
        raise DiskFullError(
            f"the disk holding {path} is full; nothing of this write was stored. Free space and retry"
        ) from exc


@dataclass(frozen=True)
class WriteResult:
    """What one committed write stored: its seq range, row count and timestamps it could not parse;
    for a write of entries, the entries and their Arrow columns too (listeners then need no read)."""

    first_seq: int
    last_seq: int
    rows: int
    bad_timestamps: int
    entries: Sequence[LogEntry] | None = None
    table: pa.Table | None = None


def _claim(path: Path) -> IO[str]:
    """Take the directory's lock file (an exclusive flock: it also excludes a second engine of this
    process, which DuckDB alone would allow) and write our pid in it."""
    handle = (path / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise StorageError(
            f"the data directory {path} is in use by another engine (pid {owner}); one process, and "
            "one engine in it, owns a directory at a time: close that engine or talk to its server"
        ) from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class EmbeddedStore:
    """DuckDB table `logs` plus the tantivy text index, in a directory or in memory (`path=None`)."""

    def __init__(self, path: Path | None, *, index_interval: float = 1.0, recover: bool = False) -> None:
        self.path = path
        target = ":memory:"
        self._lock_file: IO[str] | None = None
        self.commit_mark: CommitMark | None = None
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._lock_file = _claim(path)
            target = str(path / DB_FILE)
        try:
            if path is not None:
                self.commit_mark = CommitMark(path / DB_FILE)
                self.commit_mark.check_replay(DUCKDB_CONFIG, recover=recover)
            self._db = duckdb.connect(target, config=DUCKDB_CONFIG)
        except duckdb.IOException as exc:
            self._release()
            if "lock" in str(exc).lower():  # a process that opened the file itself, not an engine
                raise StorageError(
                    f"cannot open the data directory {path}: {exc}. Another process (a running "
                    "`log-analytics serve`?) owns it; talk to that process instead."
                ) from exc
            raise StorageError(
                f"the data directory {path} holds a database file that cannot be read ({exc}); it was "
                f"left as it is: restore {DB_FILE} from a backup, or move it aside to start anew"
            ) from exc
        except BaseException:
            self._release()
            raise
        stored = stored_high(self._db)  # before the tables are made: a connect without a WAL writes nothing
        if self.commit_mark is not None:
            try:
                self.commit_mark.check(stored, recover=recover)
            except BaseException:
                self._db.close()
                self._release()
                raise
        self._db.execute("SET TimeZone='UTC'")
        self._db.execute(LOGS_DDL)
        self._db.execute(ALERTS_DDL)
        self._db.execute(RULES_DDL)
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._next_seq = stored + 1
        self.index = TextIndex(None if path is None else path / INDEX_DIR)
        if self.index.watermark >= self._next_seq:
            self.index.rollback_above(self._next_seq - 1)
        self._indexer = Indexer(self, self.index, index_interval)
        self._indexer.start()
        self._recent = RecentRows()

    # -- connections ----------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own DuckDB cursor (cursors are not shared between threads)."""
        if self._closed:
            raise StorageError("the store is closed")
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._db.cursor()
            cur.execute("SET TimeZone='UTC'").fetchall()
            self._local.cursor = cur
            with self._cursors_lock:
                self._cursors.append(cur)
        return cur

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run read-only SQL on this thread's cursor with bound parameters; every row."""
        result: list[tuple[Any, ...]] = self.cursor().execute(sql, list(params)).fetchall()
        return result

    def numpy(self, sql: str, params: Sequence[object] = ()) -> dict[str, np.ndarray]:
        """Run read-only SQL with bound parameters; the result's columns as NumPy arrays."""
        result: dict[str, np.ndarray] = self.cursor().execute(sql, list(params)).fetchnumpy()
        return result

    def row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        """The first row of read-only SQL (the result is consumed whole, as DuckDB requires)."""
        found = self.rows(sql, params)
        return found[0] if found else None

    @property
    def next_seq(self) -> int:
        """The seq the next stored row will get."""
        return self._next_seq

    @property
    def last_seq(self) -> int:
        """The largest seq any committed write may hold (0 when empty)."""
        return self._next_seq - 1

    # -- writes ---------------------------------------------------------------------------------

    def append(self, table: pa.Table) -> WriteResult:
        """Store a batch whose columns are STORED_SCHEMA without `seq`; durable when this returns."""
        n = table.num_rows
        if n == 0:
            return WriteResult(self._next_seq, self._next_seq - 1, 0, 0)
        self._indexer.wait_for_room(self._next_seq - 1)
        with self._write_lock:
            first = self._next_seq
            seqs = pa.array(range(first, first + n), pa.int64())
            # One INSERT is one transaction. DuckDB finds `batch_in` by its Python name (a replacement
            # scan): ~1.5 ms less per call than registering a view and an explicit BEGIN/COMMIT.
            batch_in = table.add_column(0, "seq", seqs).select(STORED_SCHEMA.names)
            with _disk_full_is_507(self.path):
                self.cursor().execute("INSERT INTO logs SELECT * FROM batch_in").fetchall()
            self._next_seq = first + n
            if self.commit_mark is not None:
                self.commit_mark.record(first + n - 1)
            self._recent.add(first, batch_in)
        self._indexer.poke()
        return WriteResult(first, first + n - 1, n, 0)

    def checkpoint(self) -> None:
        """Write what the WAL holds into the database file (a no-op in memory)."""
        if self.path is not None:
            self.cursor().execute("CHECKPOINT").fetchall()

    @contextlib.contextmanager
    def _transaction(self, name: str, table: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's cursor inside one transaction, with `table` registered as `name`; commits on
        success, rolls back on a DuckDB error. The caller holds the write lock."""
        cur = self.cursor()
        cur.register(name, table)
        try:
            cur.execute("BEGIN").fetchall()
            try:
                yield cur
                cur.execute("COMMIT").fetchall()
            except BaseException:
                # whatever failed, COMMIT included: a cursor left in an aborted transaction failed
                # every later statement of its thread (the indexer's catch-ups among them)
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK").fetchall()
                raise
        finally:
            cur.unregister(name)

    def append_select(self, select_sql: str, params: Sequence[object], chunk: pa.Table) -> WriteResult:
        """Insert `select_sql` (reading relation `chunk`, seq = first parameter + column `n`) in one commit.

        Rows whose `ts` came out NULL carry `metadata.timestamp_raw`; the scalar parser gets a second
        try at them, and what it cannot read gets the ingest time (and is counted).
        """
        span = chunk.num_rows
        if span == 0:
            return WriteResult(self._next_seq, self._next_seq - 1, 0, 0)
        self._indexer.wait_for_room(self._next_seq - 1)
        with self._write_lock, _disk_full_is_507(self.path):
            first = self._next_seq
            with self._transaction("chunk", chunk) as cur:
                inserted = cur.execute(f"INSERT INTO logs {select_sql}", [first, *params]).fetchall()[0]
                bad = self._fix_timestamps(cur, first, first + span)
                # the mark is the highest seq stored (rejected lines leave gaps, at the end too): ~1 ms
                # a 64k-line chunk, under 0.5% of its ingest
                high = cur.execute("SELECT max(seq) FROM logs WHERE seq >= ?", [first]).fetchall()[0][0]
            self._next_seq = first + span
            if self.commit_mark is not None and high is not None:
                self.commit_mark.record(int(high))
        self._indexer.poke()
        return WriteResult(first, first + span - 1, int(inserted[0]) if inserted else 0, bad)

    @staticmethod
    def _fix_timestamps(cur: duckdb.DuckDBPyConnection, first: int, end: int) -> int:
        rows = cur.execute(
            "SELECT seq, json_extract_string(metadata, '$.timestamp_raw') FROM logs "
            "WHERE seq >= ? AND seq < ? AND ts IS NULL",
            [first, end],
        ).fetchall()
        if not rows:
            return 0
        parsed: list[int | None] = []
        for _, raw in rows:
            try:
                ns = parse_timestamp(raw)
            except TimestampError:
                parsed.append(None)
            else:
                parsed.append(ns if storable(ns) else None)
        fix = pa.table({"seq": [r[0] for r in rows], "ts": pa.array(parsed, pa.int64())})
        cur.register("fix", fix)
        try:
            cur.execute(_FIX_TS_SQL).fetchall()
        finally:
            cur.unregister("fix")
        return sum(1 for p in parsed if p is None)

    # -- reads ----------------------------------------------------------------------------------

    def entries(self, sql: str, params: Sequence[object] = ()) -> list[LogEntry]:
        """Fresh LogEntry objects for a query selecting every stored column (`SELECT *`)."""
        return [LogEntry.from_stored(row) for row in self.rows(sql, params)]

    @property
    def holds_recent(self) -> bool:
        """True when a copy of recent writes is kept (after Arrow appends; not after file ingest)."""
        return bool(self._recent)

    def recent_entries(self, seqs: Sequence[int]) -> list[LogEntry] | None:
        """The logs with these seqs from the copy of recent writes, in the order given; None unless
        all of them are there."""
        rows = self._recent.rows(seqs)
        return None if rows is None else [LogEntry.from_stored(row) for row in rows]

    def fetch_seqs(self, seqs: Sequence[int]) -> list[LogEntry]:
        """The stored rows with these seqs, in the order given."""
        if not seqs:
            return []
        recent = self.recent_entries(seqs)
        if recent is not None:
            return recent
        # The seq range lets DuckDB skip row groups by their min/max before testing membership.
        found = self.entries(
            "SELECT * FROM logs WHERE seq BETWEEN ? AND ? AND seq IN (SELECT unnest(?::BIGINT[]))",
            [min(seqs), max(seqs), list(seqs)],
        )
        by_seq = {e.seq: e for e in found}
        return [by_seq[s] for s in seqs if s in by_seq]

    def bytes_on_disk(self) -> int:
        """Bytes the data directory holds (0 in memory)."""
        if self.path is None:
            return 0
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    # -- alerts table ---------------------------------------------------------------------------

    def write_alert(self, rule_name: str, triggered_at: float, body: dict[str, Any]) -> None:
        """Store one fired alert."""
        with self._write_lock, _disk_full_is_507(self.path):
            self.cursor().execute(
                "INSERT INTO alerts SELECT coalesce(max(id), 0) + 1, ?, ?, ? FROM alerts",
                [rule_name, triggered_at, orjson.dumps(body).decode()],
            ).fetchall()

    def update_alert(self, rule_name: str, triggered_at: float, body: dict[str, Any]) -> None:
        """Replace the stored body of one alert (a firing that has since resolved).

        Matched within a microsecond: alert times are microsecond datetimes now, and an alert stored
        by an earlier version holds the clock's float with digits below that."""
        with self._write_lock, _disk_full_is_507(self.path):
            self.cursor().execute(
                "UPDATE alerts SET body = ? WHERE rule_name = ? AND abs(triggered_at - ?) < 0.000001",
                [orjson.dumps(body).decode(), rule_name, triggered_at],
            ).fetchall()

    # -- alert rules table ----------------------------------------------------------------------

    def write_rule(self, name: str, body: dict[str, Any]) -> None:
        """Store (or replace) the rule `name`, its settings in the rules-file schema."""
        text = orjson.dumps(body).decode()
        with self._write_lock, _disk_full_is_507(self.path):
            self.cursor().execute("INSERT OR REPLACE INTO alert_rules VALUES (?, ?)", [name, text]).fetchall()

    def delete_rule(self, name: str) -> None:
        """Forget the stored rule `name` (no error when there is none)."""
        with self._write_lock, _disk_full_is_507(self.path):
            self.cursor().execute("DELETE FROM alert_rules WHERE name = ?", [name]).fetchall()

    def stored_rules(self) -> list[dict[str, Any]]:
        """Every stored rule's settings, by name."""
        rows = self.rows("SELECT body FROM alert_rules ORDER BY name")
        return [orjson.loads(body) for (body,) in rows]

    # -- lifecycle ------------------------------------------------------------------------------

    def flush_index(self) -> None:
        """Bring the text index up to the last committed row and commit it (blocks)."""
        try:
            self._indexer.catch_up_now()
        except Exception as exc:
            raise StorageError(
                f"the text index could not catch up ({exc}); queries stay exact (they scan the rows "
                "not indexed) and the index retries on its own"
            ) from exc

    @property
    def index_state(self) -> dict[str, Any]:
        """The text index's state (`ok`, `catching up`, `rebuilding`, `failing`), how many rows wait
        to be indexed, its failed rounds and rebuilds, the last error while failing, and how many
        writes waited for it (backpressure) and for how long in all."""
        return {
            "state": self._indexer.state,
            "lag": max(0, self.last_seq - self.index.snapshot()[1]),
            "failures": self._indexer.failures,
            "rebuilds": self.index.rebuilds,
            "last_error": self._indexer.last_error,
            "lag_waits": self._indexer.lag_waits,
            "lag_wait_seconds": self._indexer.lag_wait_seconds,
        }

    def close(self) -> None:
        """Stop the indexer after a final catch-up, checkpoint DuckDB and release the directory."""
        if self._closed:
            return
        self._indexer.stop()
        self.index.close()
        self._closed = True
        with self._cursors_lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
        try:
            if self.path is not None:
                try:
                    self._db.execute("CHECKPOINT")
                except duckdb.Error as exc:  # e.g. the disk is full: the WAL still holds every row
                    log.error("checkpoint at close failed (%s); the next open replays the WAL", str(exc))
            self._db.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self.commit_mark is not None:
            self.commit_mark.close()
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor drops the flock
            self._lock_file = None
