"""The embedded store: DuckDB holds every row (the record); a tantivy index follows on a thread.

A write of rows is acknowledged once it is in the write-ahead log (`wal/`, in the OS; on the disk in
fsync durability) and queued for the applier (applier.py), which moves the queue into DuckDB in large
commits. Writes are serialised by one lock that covers seq allocation, the WAL append and the queue,
so the rows form a seq prefix in both; the applier applies them in that order. A read first waits
for the rows acknowledged before it to be applied (one commit: milliseconds), then runs on its
thread's own DuckDB cursor without any write lock. Opening replays the WAL frames past the rows
DuckDB holds, each once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from log_analytics_engine.errors import ConfigError, DiskFullError, StorageError
from log_analytics_engine.memory import MEMORY_LIMIT, bound_malloc, memory_limit_bytes
from log_analytics_engine.model import STORED_SCHEMA, LogEntry
from log_analytics_engine.query.ast import Node
from log_analytics_engine.storage.base import DURABILITY_MODES, AppliedListener, BackupReport, WriteResult
from log_analytics_engine.storage.embedded.applier import APPLY_ROWS, Applier, Chunk
from log_analytics_engine.storage.embedded.backup import copy_database, copy_index, finish, prepare
from log_analytics_engine.storage.embedded.commitmark import CommitMark, stored_high
from log_analytics_engine.storage.embedded.deletes import DeleteIntent, delete_rows, deleted_total
from log_analytics_engine.storage.embedded.indexer import Indexer
from log_analytics_engine.storage.embedded.indexproc import is_index_failure
from log_analytics_engine.storage.embedded.recent import RecentRows
from log_analytics_engine.storage.embedded.schema import (
    ALERTS_DDL,
    LOGS_DDL,
    MARKS_DDL,
    RULES_DDL,
    STORED_COLUMNS,
)
from log_analytics_engine.storage.embedded.sql import compile_where
from log_analytics_engine.storage.embedded.textindex import TextIndex
from log_analytics_engine.storage.embedded.transaction import transaction
from log_analytics_engine.storage.embedded.typed import SAMPLE_ROWS, Promoter, TypedFields, load, promote
from log_analytics_engine.storage.embedded.wal import WriteAheadLog, stored_table
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
}
INDEX_DIR = "index"
WAL_DIR = "wal"
# Closing applies what is queued, retrying a failing commit this long (the rest is replayed at open).
CLOSE_APPLY_SECONDS = 5.0
_FIX_TS_SQL = """
UPDATE logs SET
    ts = coalesce(fix.ts, logs.ingested_at),
    metadata = CASE WHEN fix.ts IS NULL THEN logs.metadata
               ELSE nullif(json_merge_patch(logs.metadata, '{"timestamp_raw":null}'), '{}') END
FROM fix WHERE logs.seq = fix.seq
"""


def duckdb_config(memory_limit: str) -> dict[str, str | bool | int | float | list[str]]:
    """DUCKDB_CONFIG with the memory limit (ConfigError unless it is a size of at least MIN_MEMORY_LIMIT):
    its buffer cache and its queries' working memory (sorts, hash tables), which spill to files past it
    (the data directory's logs.duckdb.tmp; in memory, a temporary directory)."""
    return {**DUCKDB_CONFIG, "memory_limit": f"{memory_limit_bytes(memory_limit)}B"}


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


def _tree_bytes(path: Path) -> int:
    """Bytes of the file `path`, or of the files under the directory `path` (0 when absent); files
    removed meanwhile (released WAL segments, merged index segments) count as gone."""
    total = 0
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        with contextlib.suppress(FileNotFoundError):
            if item.is_file():
                total += item.stat().st_size
    return total


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
        """`promote_after`: sampled rows per round of metadata-key promotion (typed.py; None: never)."""
        if durability not in DURABILITY_MODES:
            raise ConfigError(f"durability must be one of {', '.join(DURABILITY_MODES)}, got {durability!r}")
        config = duckdb_config(memory_limit)
        bound_malloc()  # before the store's threads start
        # in memory, a directory of its own to spill to (DuckDB's default: .tmp in the working directory)
        self._spill_dir = None if path is not None else Path(tempfile.mkdtemp(prefix="log-analytics-spill-"))
        if self._spill_dir is not None:
            config["temp_directory"] = str(self._spill_dir)
            # removed at close, or when an engine never closed is collected (or at exit)
            weakref.finalize(self, shutil.rmtree, self._spill_dir, ignore_errors=True)
        self.path = path
        self.durability = durability
        self.memory_limit = memory_limit
        target = ":memory:"
        self._lock_file: IO[str] | None = None
        self.commit_mark: CommitMark | None = None
        self.wal: WriteAheadLog | None = None
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._lock_file = _claim(path)
            target = str(path / DB_FILE)
        try:
            if path is not None:
                self.wal = WriteAheadLog(path / WAL_DIR, fsync=durability == "fsync")
                self.commit_mark = CommitMark(path / DB_FILE, self.wal.covered_through)
                self.commit_mark.check_replay(config, recover=recover)
            self._db = duckdb.connect(target, config=config)
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
        self._db.execute(MARKS_DDL)
        self.typed: TypedFields = load(self._db)
        self._promoter = None if promote_after is None else Promoter(promote_after)
        self.deleted_logs = deleted_total(self._db)  # by deletes, in all
        self._intent = DeleteIntent(path)
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._admin_lock = threading.Lock()  # one delete or backup at a time
        # the alerts and rules tables: their writes wait for no log write (the alert recorder,
        # which the applier may wait for, writes them)
        self._meta_lock = threading.Lock()
        self._closed = False
        self._applier: Applier | None = None
        self.on_applied: AppliedListener | None = None
        self.replayed_rows = 0
        if self.wal is not None:
            try:
                stored = self._replay(stored)
            except BaseException:
                self._db.close()
                self._release()
                raise
        self._next_seq = stored + 1
        self.index = TextIndex(None if path is None else path / INDEX_DIR)
        if self.index.watermark >= self._next_seq:
            self.index.rollback_above(self._next_seq - 1)
        self._recent = RecentRows()
        try:
            self._finish_delete()
        except BaseException:
            self.index.close()
            self._db.close()
            self._release()
            raise
        self._indexer = Indexer(self, self.index, index_interval)
        self._indexer.start()
        self._applier = Applier(self._apply_pending, self._after_apply, self._listen, stored)
        self._applier.start()

    def _replay(self, stored: int) -> int:
        """Apply the WAL frames past `stored` (the rows DuckDB holds), in commits of up to APPLY_ROWS
        rows; returns the last seq stored after. A frame is applied whole or not at all."""
        assert self.wal is not None
        group: list[pa.Table] = []
        for frame in self.wal.replay(stored):
            table = pa.Table.from_batches([frame.batch])
            if frame.first_seq <= stored:  # never written so (frames are applied whole), kept exact
                table = table.slice(stored - frame.first_seq + 1)
            group.append(table)
            self.replayed_rows += table.num_rows
            if sum(t.num_rows for t in group) >= APPLY_ROWS:
                stored = self._replay_group(group)
        if group:
            stored = self._replay_group(group)
        if self.replayed_rows:
            log.warning("replayed %d acknowledged logs from the write-ahead log", self.replayed_rows)
        self.wal.release(stored)
        return max(stored, self.wal.last_seq)

    def _replay_group(self, group: list[pa.Table]) -> int:
        """Insert replayed frames as one commit and empty `group`; the last seq stored."""
        table = pa.concat_tables(group)
        group.clear()
        self._insert(table)
        return int(table.column("seq")[-1].as_py())

    def _insert(self, table: pa.Table) -> None:
        """One INSERT of stored rows (seq included), one transaction, then the commit mark. Metadata
        keys that became frequent are promoted first (typed.py), in the same transaction."""
        # DuckDB finds `batch_in` by its Python name (a replacement scan): ~1.5 ms less per call than
        # registering a view and an explicit BEGIN/COMMIT.
        batch_in = table.select(STORED_SCHEMA.names)  # noqa: F841  # read by the SQL below
        cur = self.cursor()
        with _disk_full_is_507(self.path):
            keys = self._promotions(cur, table)
            if not keys:
                derived, params = self.typed.derived()
                select = f"SELECT *, {derived} FROM batch_in" if derived else "SELECT * FROM batch_in"
                cur.execute(f"INSERT INTO logs {select}", params).fetchall()
            else:
                with transaction(cur):
                    typed = promote(cur, self.typed, keys, int(table.column("seq")[0].as_py()))
                    derived, params = typed.derived()
                    cur.execute(f"INSERT INTO logs SELECT *, {derived} FROM batch_in", params).fetchall()
                self.typed = typed
        if self.commit_mark is not None:
            self.commit_mark.record(int(table.column("seq")[-1].as_py()))

    def _apply_pending(self, chunks: Sequence[Chunk]) -> pa.Table:
        """The applier's commit: queued writes into DuckDB as one INSERT; returns their rows."""
        tables: list[pa.Table] = []
        rows: list[tuple[Any, ...]] = []
        for chunk in chunks:
            if chunk.row is not None:
                rows.append(chunk.row)
                continue
            if rows:
                tables.append(stored_table(rows))
                rows = []
            assert chunk.table is not None
            tables.append(chunk.table)
        if rows:
            tables.append(stored_table(rows))
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables).combine_chunks()
        self._insert(table)
        self._recent.add(chunks[0].first_seq, table)
        return table

    def _after_apply(self, chunks: Sequence[Chunk], table: pa.Table) -> None:
        """On the applier's thread, once `chunks` are in DuckDB: wake the indexer, delete the WAL
        segments applied."""
        self._indexer.poke()
        if self.wal is not None:
            self.wal.release(chunks[-1].last_seq)

    def _listen(self, chunks: Sequence[Chunk], table: pa.Table) -> None:
        """On the listener thread: the listeners (alert evaluation) over an applied commit, then
        writers waiting for their evaluation are released. Its reads see the rows applied."""
        try:
            if self.on_applied is not None:
                with self.applied_reads():
                    self.on_applied(chunks, table)
        finally:
            for chunk in chunks:
                if chunk.evaluated is not None:
                    chunk.evaluated.set()

    # -- connections ----------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own DuckDB cursor (cursors are not shared between threads), once the writes
        acknowledged before this call are in DuckDB."""
        if self._applier is not None and not getattr(self._local, "applied_only", False):
            snapshot: int | None = getattr(self._local, "snapshot", None)
            self._applier.wait_applied(self._next_seq - 1 if snapshot is None else snapshot)
        return self._thread_cursor()

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """The reads of this thread within are one read: each waits for the writes acknowledged
        before it began, not for those acknowledged since (a search's page and total: one wait for
        the applier, not one each, under a steady ingest)."""
        before = getattr(self._local, "snapshot", None)
        if before is None:
            self._local.snapshot = self._next_seq - 1
        try:
            yield
        finally:
            self._local.snapshot = before

    @contextlib.contextmanager
    def applied_reads(self) -> Iterator[None]:
        """Reads of this thread within see what DuckDB holds, not waiting for writes being applied:
        for threads the applier may wait for (the alert recorder), which read only rows applied."""
        before = getattr(self._local, "applied_only", False)
        self._local.applied_only = True
        try:
            yield
        finally:
            self._local.applied_only = before

    def _thread_cursor(self) -> duckdb.DuckDBPyConnection:
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

    def applied_row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        """The first row of read-only SQL over what DuckDB holds now, not waiting for the writes
        being applied (alert window edges, read under the evaluator's lock)."""
        found = self._thread_cursor().execute(sql, list(params)).fetchall()
        return found[0] if found else None

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

    def append(self, table: pa.Table, stamp: float = 0.0, *, evaluated: bool = False) -> WriteResult:
        """Store a batch whose columns are STORED_SCHEMA without `seq`: acknowledged (in the WAL, in
        the OS; on the disk in fsync durability) and readable when this returns, in DuckDB a moment
        later. `stamp` (the clock's time) goes to the listeners with it; `evaluated` gives the result
        a chunk whose event is set once they ran."""
        n = table.num_rows
        if n == 0:
            return WriteResult(self._next_seq, self._next_seq - 1, 0, 0)
        event = threading.Event() if evaluated else None

        def make(first: int) -> Chunk:
            seqs = pa.array(range(first, first + n), pa.int64())
            rows = table.add_column(0, "seq", seqs).select(STORED_SCHEMA.names).combine_chunks()
            return Chunk(first, n, rows.nbytes, stamp, table=rows, evaluated=event)

        chunk = self._enqueue(n, make)
        return WriteResult(chunk.first_seq, chunk.last_seq, n, 0, chunk=chunk)

    def append_row(self, row: tuple[Any, ...], stamp: float = 0.0, *, evaluated: bool = False) -> Chunk:
        """Store one log given as its stored columns without `seq` (the single-log path: no Arrow
        batch, ~10x cheaper than `append` of one row); acknowledged as `append` is. Returns its chunk."""
        event = threading.Event() if evaluated else None
        size = 128 + len(row[5]) + len(row[10] or "")  # its message and metadata dominate

        def make(seq: int) -> Chunk:
            return Chunk(seq, 1, size, stamp, row=(seq, *row), evaluated=event)

        return self._enqueue(1, make)

    def _enqueue(self, rows: int, make: Callable[[int], Chunk]) -> Chunk:
        """Backpressure first; then, under the write lock, the chunk `make(first seq)` builds goes to
        the WAL and the applier's queue, and `rows` seqs are taken; then, in fsync durability, the
        wait for the disk (outside the lock: writers share an fsync)."""
        assert self._applier is not None
        self._indexer.wait_for_room(self._next_seq - 1)
        self._applier.wait_for_room()
        position = 0
        with self._write_lock:
            if self._closed:
                raise StorageError("the store is closed")
            chunk = make(self._next_seq)
            if self.wal is not None:
                if chunk.row is not None:
                    position = self.wal.append_row(chunk.row)
                else:
                    assert chunk.table is not None
                    position = self.wal.append(chunk.first_seq, chunk.table.to_batches()[0])
            self._applier.add(chunk)
            self._next_seq += rows
        if self.wal is not None:
            self.wal.sync(position)
        return chunk

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
            with transaction(cur):
                yield cur
        finally:
            cur.unregister(name)

    def _promotions(self, cur: duckdb.DuckDBPyConnection, table: pa.Table) -> list[str]:
        """The metadata keys a write's rows make frequent enough to promote (sampled, typed.py)."""
        if self._promoter is None or not self._promoter.due(table.num_rows, self.typed):
            return []
        return self._promoter.sample(cur, table, self.typed)

    def append_select(self, select_sql: str, params: Sequence[object], chunk: pa.Table) -> WriteResult:
        """Insert `select_sql` (reading relation `chunk`, seq = first parameter + column `n`) in one commit.

        Rows whose `ts` came out NULL carry `metadata.timestamp_raw`; the scalar parser gets a second
        try at them, and what it cannot read gets the ingest time (and is counted).
        """
        span = chunk.num_rows
        if span == 0:
            return WriteResult(self._next_seq, self._next_seq - 1, 0, 0)
        self._indexer.wait_for_room(self._next_seq - 1)
        assert self._applier is not None
        with self._write_lock, _disk_full_is_507(self.path):
            first = self._next_seq
            # the rows queued before are applied first (cursor() waits for them), so DuckDB's rows
            # stay a seq prefix
            with self._transaction("chunk", chunk) as cur:
                typed = self.typed
                if self._promoter is not None and self._promoter.due(span, typed):
                    # a relation, not a DB-API result: its Arrow table is not copied again
                    head = cur.sql(
                        f"SELECT metadata FROM ({select_sql}) LIMIT {SAMPLE_ROWS}", params=[first, *params]
                    ).to_arrow_table()
                    keys = self._promoter.sample(cur, head, typed)
                    if keys:
                        typed = promote(cur, typed, keys, first)
                derived, extra = typed.derived()
                if derived:  # the promoted columns' parameters come first in the text
                    insert, values = (
                        f"INSERT INTO logs SELECT *, {derived} FROM ({select_sql})",
                        [*extra, first, *params],
                    )
                else:
                    insert, values = f"INSERT INTO logs {select_sql}", [first, *params]
                inserted = cur.execute(insert, values).fetchall()[0]
                bad = self._fix_timestamps(cur, first, first + span)
                # the mark is the highest seq stored (rejected lines leave gaps, at the end too): ~1 ms
                # a 64k-line chunk, under 0.5% of its ingest
                high = cur.execute("SELECT max(seq) FROM logs WHERE seq >= ?", [first]).fetchall()[0][0]
            self.typed = typed  # committed
            self._next_seq = first + span
            self._applier.mark_applied(first + span - 1)
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

    # -- deletes --------------------------------------------------------------------------------

    def delete(self, node: Node) -> int:
        """Delete every stored row `node` matches among those acknowledged before this call, from the
        table, the text index and the copy of recent writes; writes wait meanwhile, so none after it
        is touched. Returns how many rows went."""
        where = compile_where(node, typed=self.typed)
        with self._admin_lock, self._indexer.paused(), self._write_lock:
            if self._closed:
                raise StorageError("the store is closed")
            found = self.numpy(
                f"SELECT seq FROM logs WHERE seq <= ? AND {where.sql} ORDER BY seq",
                [self._next_seq - 1, *where.params],
            )
            seqs = np.asarray(found["seq"], dtype=np.int64)
            if seqs.size:
                self._intent.write(seqs, fsync=self.durability == "fsync")
                with self.index.fenced(int(seqs[0]) - 1):
                    self._delete_rows(seqs)
                    self._delete_docs(seqs, node)
                self._intent.clear()
        self._indexer.poke()  # a delete that re-adds documents wants the indexer now
        return int(seqs.size)

    def _delete_rows(self, seqs: np.ndarray) -> None:
        """The table's part of a delete: one commit (the intent is cleared when it fails)."""
        self._recent.clear()
        try:
            with _disk_full_is_507(self.path), self._transaction("doomed", pa.table({"seq": seqs})) as cur:
                gone = delete_rows(cur, "doomed", int(seqs[0]), int(seqs[-1]))
        except BaseException:
            self._intent.clear()  # nothing was deleted
            raise
        self.deleted_logs += gone

    def _delete_docs(self, seqs: np.ndarray, node: Node | None) -> None:
        """The text index's part of a delete (it is derived data: when it fails, it is set aside and
        rebuilt from the table, and searches scan the table until then)."""
        try:
            how = self.index.delete_seqs(seqs, node)
        except Exception as exc:
            if not is_index_failure(exc):
                raise
            log.error("text index: a delete could not drop its documents (%s); rebuilding it", str(exc))
            try:
                self.index.rebuild()
            except Exception as again:
                if not is_index_failure(again):
                    raise
                # kept damaged, and the intent kept: the next open drops the documents again
                self.index.mark_damaged(f"a delete could not drop its documents: {again}")
                raise StorageError(
                    f"the logs were deleted, but the text index could not follow ({again}); searches "
                    "scan the table until it is rebuilt"
                ) from again
            return
        log.info("deleted %d logs (text index: by %s)", seqs.size, how)

    def _finish_delete(self) -> None:
        """At open, before the indexer starts: complete the delete a crash interrupted."""
        seqs = self._intent.read()
        if seqs is None:
            return
        if seqs.size:
            log.warning("completing a delete of %d logs that a crash interrupted", seqs.size)
            self._delete_rows(seqs)
            self._delete_docs(seqs, None)
        self._intent.clear()

    # -- backup ---------------------------------------------------------------------------------

    def backup(self, dest: Path) -> BackupReport:
        """Copy the store into the new (or empty) directory `dest` while it runs: every row
        acknowledged before this call and the alerts and kept rules, with the text index at a
        committed state; writes go on meanwhile (see backup.py). Opening `dest` restores it."""
        started = time.perf_counter()
        with self._admin_lock:  # no delete meanwhile: the index copy and the table copy agree
            staging = prepare(dest, self.path)
            try:
                self.cursor()  # once the writes acknowledged before are in the table
                copied = False
                if self.path is not None and not self.index.damaged:
                    with self._indexer.paused():
                        copied = copy_index(self.path / INDEX_DIR, staging / INDEX_DIR)
                with _disk_full_is_507(dest):
                    rows, alerts, rules = copy_database(self._thread_cursor(), staging / DB_FILE)
                size = finish(staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        seconds = time.perf_counter() - started
        return BackupReport(dest.resolve(), rows, alerts, rules, copied, size, seconds)

    # -- reads ----------------------------------------------------------------------------------

    def entries(self, sql: str, params: Sequence[object] = ()) -> list[LogEntry]:
        """Fresh LogEntry objects for a query selecting the stored columns first (`SELECT *`)."""
        width = len(STORED_SCHEMA)  # promoted metadata keys' columns follow the stored ones
        return [LogEntry.from_stored(row[:width]) for row in self.rows(sql, params)]

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
            f"SELECT {STORED_COLUMNS} FROM logs "
            "WHERE seq BETWEEN ? AND ? AND seq IN (SELECT unnest(?::BIGINT[]))",
            [min(seqs), max(seqs), list(seqs)],
        )
        by_seq = {e.seq: e for e in found}
        return [by_seq[s] for s in seqs if s in by_seq]

    def disk_usage(self) -> int:
        """Bytes of the directory's live data: DuckDB's used blocks and its WAL (blocks freed by
        deletes are reused by later writes, so they do not count), the text index and our WAL."""
        if self.path is None:
            return 0
        [(block_size, used_blocks)] = (
            self._thread_cursor()
            .execute(
                "SELECT block_size, used_blocks FROM pragma_database_size() "
                "WHERE database_name = current_database()"
            )
            .fetchall()
        )
        side = _tree_bytes(self.path / INDEX_DIR) + _tree_bytes(self.path / WAL_DIR)
        return int(block_size) * int(used_blocks) + side + _tree_bytes(self.path / f"{DB_FILE}.wal")

    def bytes_on_disk(self) -> int:
        """Bytes the data directory holds (0 in memory)."""
        return 0 if self.path is None else _tree_bytes(self.path)

    # -- alerts table ---------------------------------------------------------------------------

    def write_alert(self, rule_name: str, triggered_at: float, body: dict[str, Any]) -> None:
        """Store one fired alert."""
        with self._meta_lock, _disk_full_is_507(self.path):
            self._thread_cursor().execute(
                "INSERT INTO alerts SELECT coalesce(max(id), 0) + 1, ?, ?, ? FROM alerts",
                [rule_name, triggered_at, orjson.dumps(body).decode()],
            ).fetchall()

    def update_alert(self, rule_name: str, triggered_at: float, body: dict[str, Any]) -> None:
        """Replace the stored body of one alert (a firing that has since resolved).

        Matched within a microsecond: alert times are microsecond datetimes now, and an alert stored
        by an earlier version holds the clock's float with digits below that."""
        with self._meta_lock, _disk_full_is_507(self.path):
            self._thread_cursor().execute(
                "UPDATE alerts SET body = ? WHERE rule_name = ? AND abs(triggered_at - ?) < 0.000001",
                [orjson.dumps(body).decode(), rule_name, triggered_at],
            ).fetchall()

    # -- alert rules table ----------------------------------------------------------------------

    def write_rule(self, name: str, body: dict[str, Any]) -> None:
        """Store (or replace) the rule `name`, its settings in the rules-file schema."""
        text = orjson.dumps(body).decode()
        with self._meta_lock, _disk_full_is_507(self.path):
            self._thread_cursor().execute(
                "INSERT OR REPLACE INTO alert_rules VALUES (?, ?)", [name, text]
            ).fetchall()

    def delete_rule(self, name: str) -> None:
        """Forget the stored rule `name` (no error when there is none)."""
        with self._meta_lock, _disk_full_is_507(self.path):
            self._thread_cursor().execute("DELETE FROM alert_rules WHERE name = ?", [name]).fetchall()

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
    def wal_state(self) -> dict[str, Any]:
        """The write-ahead log and the applier: rows and bytes acknowledged but not yet in DuckDB,
        bytes the WAL holds, commits and rows applied, failed commits and the last error while
        failing, reads that waited for the applier and for how long, writers held back
        (backpressure) and for how long, frames dropped torn and rows replayed at open, and the
        durability mode."""
        applier = self._applier
        assert applier is not None
        rows, size = applier.pending
        return {
            "durability": self.durability,
            "pending_rows": rows,
            "pending_bytes": size,
            "bytes": 0 if self.wal is None else self.wal.size,
            "apply_commits": applier.commits,
            "applied_rows": applier.applied_rows,
            "apply_failures": applier.failures,
            "apply_last_error": applier.last_error,
            "read_waits": applier.read_waits,
            "read_wait_seconds": applier.read_wait_seconds,
            "backpressure_waits": applier.room_waits,
            "backpressure_wait_seconds": applier.room_wait_seconds,
            "torn_frames": 0 if self.wal is None else self.wal.torn,
            "replayed_rows": self.replayed_rows,
        }

    @property
    def applying_fails(self) -> bool:
        """Whether the applier's last commit failed (it is retrying)."""
        return self._applier is not None and self._applier.last_error is not None

    def wait_evaluated(self, timeout: float | None = None) -> None:
        """Return once every write acknowledged so far is applied and its listeners ran (StorageError
        past `timeout`, naming why)."""
        applier = self._applier
        assert applier is not None
        applier.wait_applied(self._next_seq - 1, timeout)
        applier.wait_listened(timeout)

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
        complete = False
        if self._applier is not None:
            complete = self._applier.stop(CLOSE_APPLY_SECONDS)
            if not complete:
                rows, _ = self._applier.pending
                where = "the write-ahead log keeps them for the next open" if self.wal else "they are lost"
                log.error("closing with %d acknowledged logs not applied to the database: %s", rows, where)
        self._indexer.stop()
        self.index.close()
        if self.wal is not None:
            self.wal.close()
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
                else:
                    if complete and self.wal is not None:
                        # every acknowledged row is in the database file: the last segment, kept
                        # while appends went to it, goes too (up to 64 MB: 47 B/log at 1M logs)
                        self.wal.release(self._next_seq - 1)
            self._db.close()
        finally:
            self._release()

    def _remove_spill_dir(self) -> None:
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)

    def _release(self) -> None:
        self._remove_spill_dir()
        if self.wal is not None:
            self.wal.close()
        if self.commit_mark is not None:
            self.commit_mark.close()
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor drops the flock
            self._lock_file = None
