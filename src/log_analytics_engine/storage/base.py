"""The Store protocol: everything the engine, ingest, alerting and stats ask of a backend. A backend
compiles the query language's AST itself (its SQL, its index); nothing above this seam writes SQL.
`tests/test_store_contract.py` is the definition of done for a backend: every query form run on it
agrees with the reference evaluator (`query/evaluate.py`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from log_analytics_engine.errors import QueryError
from log_analytics_engine.model import FIELD_COLUMNS, LogEntry
from log_analytics_engine.query.ast import Node, Pipe
from log_analytics_engine.query.results import FieldsResult, QueryResult

# What a store's text index can be doing (`index_state()["state"]`).
INDEX_STATES = ("ok", "catching up", "rebuilding", "failing")
# What an acknowledged write survives: "os" (in the OS's page cache: a killed process, not a power
# loss) or "fsync" (on the disk: a power loss too, for an fsync shared by the writers waiting).
DURABILITY_MODES = ("os", "fsync")
# An event day (UTC): logs with ts in [day * DAY_NS, (day + 1) * DAY_NS); retention drops whole days.
DAY_NS = 86_400 * 10**9


class Acknowledged(Protocol):
    """A write the backend acknowledged: its seqs, the clock's time it was acknowledged at (its rules
    are evaluated at that time), and for a writer waiting for its evaluation the event the backend
    sets once its listeners ran, with the follow-ups they left for that writer."""

    first_seq: int
    stamp: float
    evaluated: threading.Event | None
    follow_ups: list[Callable[[], None]]

    @property
    def last_seq(self) -> int: ...


# Called on the backend's listener thread for every applied commit, with its writes in seq order and
# its rows (model.STORED_SCHEMA); reads inside see the rows applied.
AppliedListener = Callable[[Sequence[Acknowledged], pa.Table], None]


@dataclass(frozen=True)
class WriteResult:
    """What one acknowledged write stored: its seq range, row count and timestamps it could not parse,
    and (when its writer waits for its evaluation) the write to wait on."""

    first_seq: int
    last_seq: int
    rows: int
    bad_timestamps: int
    chunk: Acknowledged | None = None


SORTABLE = tuple(sorted(FIELD_COLUMNS))


@dataclass(frozen=True)
class Sort:
    """An order on one stored column (`ts`, `level`, ...), ties broken by seq in the same direction."""

    column: str = "ts"
    descending: bool = False

    @classmethod
    def of(cls, field: str | None, descending: bool) -> Sort:
        """The sort for a user field name; unknown names are a QueryError naming the choices."""
        if field is None:
            return cls("ts", descending)
        column = FIELD_COLUMNS.get(field)
        if column is None:
            raise QueryError(f"cannot sort by {field!r}; sortable fields: {', '.join(SORTABLE)}")
        return cls(column, descending)


@dataclass(frozen=True)
class Page:
    """A page of logs and the total that matched, from one plan of the query."""

    logs: list[LogEntry]
    total: int


@dataclass(frozen=True)
class Matches:
    """Event times (int64 ns) and seqs of the logs a filter matched, in no promised order."""

    ts: np.ndarray
    seqs: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


@dataclass(frozen=True)
class BackupReport:
    """What a backup copied: logs, fired alerts and kept rules, whether the text index came along
    (otherwise the copy builds it when first opened), the bytes written and the seconds it took."""

    dest: Path
    rows: int
    alerts: int
    rules: int
    index_copied: bool
    bytes: int
    seconds: float


class AlertLog(Protocol):
    """Fired alerts and kept alert rules, stored beside the logs (they survive restarts)."""

    def write_alert(self, rule_name: str, triggered_at: float, body: dict[str, Any]) -> None:
        """Store one fired alert."""

    def update_alert(self, rule_name: str, triggered_at: float, body: dict[str, Any]) -> None:
        """Replace the body of the alert of `rule_name` fired at `triggered_at` (to within 1 µs)."""

    def alert_bodies(self, limit: int) -> list[str]:
        """The newest `limit` stored alerts' JSON bodies, oldest first."""

    def write_rule(self, name: str, body: dict[str, Any]) -> None:
        """Store (or replace) the rule `name`."""

    def delete_rule(self, name: str) -> None:
        """Forget the stored rule `name` (no error when there is none)."""

    def stored_rules(self) -> list[dict[str, Any]]:
        """Every stored rule's settings, by name."""


class Store(AlertLog, Protocol):
    """A backend of the engine: appends acknowledged writes, answers every query form over them."""

    on_applied: AppliedListener | None

    # -- writes ---------------------------------------------------------------------------------

    def append(self, table: pa.Table, stamp: float = 0.0, *, evaluated: bool = False) -> WriteResult:
        """Store a batch of rows (model.STORED_SCHEMA without seq); acknowledged on return, seen by
        every read begun after; `evaluated`: the result's chunk is set once listeners ran."""

    def append_row(self, row: tuple[Any, ...], stamp: float = 0.0, *, evaluated: bool = False) -> WriteResult:
        """Store one log given as its stored columns without seq; as `append` of one row."""

    def delete(self, node: Node) -> int:
        """Delete every stored log matching `node` (acknowledged before the call); how many."""

    def drop_days(self, days: Sequence[int]) -> int:
        """Delete every log whose event day (ts // DAY_NS) is one of `days`; how many."""

    def backup(self, dest: Path) -> BackupReport:
        """Copy the store while writes go on into `dest` (a new or empty directory; BackupError
        otherwise): every log acknowledged before the call and the alert log; opening it restores."""

    # -- reads ----------------------------------------------------------------------------------

    def reading(self, seconds: float) -> AbstractContextManager[None]:
        """One query's reads: they see every write acknowledged before it and stop with a
        QueryError past `seconds`."""

    def applied_reads(self) -> AbstractContextManager[None]:
        """Reads of this thread inside see the rows applied so far and never wait for the writer
        (for threads the writer may wait for: the alert recorder)."""

    def count(self, node: Node) -> int:
        """How many stored logs match `node`."""

    def select(self, node: Node, sort: Sort, offset: int = 0, limit: int | None = None) -> list[LogEntry]:
        """Matching logs in `sort` order, `offset` skipped, at most `limit`."""

    def search(self, node: Node, limit: int, before: tuple[int, int] | None = None) -> Page:
        """Up to `limit` matching logs newest first by (ts, seq), strictly older than `before`, and
        the total that match `node` (the cursor does not narrow it)."""

    def after(self, node: Node, low: int, high: int, limit: int) -> list[LogEntry]:
        """Up to `limit` matching logs with low < seq <= high, in seq order (a live tail)."""

    def around(
        self, seq: int, before: int, after: int
    ) -> tuple[LogEntry, list[LogEntry], list[LogEntry]] | None:
        """The log `seq` and up to before/after logs of its source just older/newer by (ts, seq),
        both oldest first; None when no log has that seq."""

    def fetch(self, seqs: Sequence[int]) -> list[LogEntry]:
        """The stored logs with these seqs, in the order given (missing ones left out)."""

    def run(self, node: Node, pipes: tuple[Pipe, ...]) -> QueryResult:
        """The pipes over the logs matching `node`: rows by column name, as the reference does."""

    def aggregate(
        self,
        node: Node,
        group_by: str | None,
        histogram: str | None,
        top_n: Mapping[str, int] | None,
        interval: str | int | float | None,
    ) -> dict[str, Any]:
        """The original `aggregate_logs` shapes over the logs matching `node`."""

    def fields(self, node: Node) -> FieldsResult:
        """Field names of the newest matching logs, how often each has a value, its top values."""

    def matches(self, node: Node, ts_after: int, seq_through: int, limit: int | None = None) -> Matches:
        """Times and seqs of the matching logs with ts > ts_after and seq <= seq_through; with
        `limit`, the first that many by (ts, seq), in that order."""

    def count_applied(self, node: Node, ts_after: int, ts_through: int, seq_through: int = 0) -> int:
        """How many logs applied so far match with ts in (ts_after, ts_through] (and seq <=
        seq_through when given); never waits for the writer (alert evaluation calls it)."""

    def match_rows(self, nodes: Sequence[Node], first_seq: int, last_seq: int) -> list[Matches]:
        """For each node, the times and seqs of its matches among the stored rows first..last seq."""

    def summary(self) -> dict[str, Any]:
        """`total_logs`, `levels`, `sources`, `tags`, `keywords`, time bounds and recoveries."""

    # -- watermarks and lifecycle ---------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The seq of the newest acknowledged log (0 when none)."""

    @property
    def index_state(self) -> dict[str, Any]:
        """The text index's state, lag and failures (an index-less backend reports `ok`, lag 0)."""

    @property
    def wal_state(self) -> dict[str, Any]:
        """Acknowledged writes not yet applied, and the write-ahead log's figures."""

    @property
    def applying_fails(self) -> bool:
        """Whether writes are acknowledged but failing to reach storage (it retries)."""

    def bytes_on_disk(self) -> int:
        """Bytes the store holds on disk (0 in memory)."""

    def disk_usage(self) -> int:
        """Bytes the store's live data takes on disk, what `max_disk` bounds (space freed by drops
        and reused by later writes does not count)."""

    def days(self) -> list[tuple[int, int]]:
        """Each event day holding logs (ts // DAY_NS) and how many, oldest first."""

    def wait_evaluated(self, timeout: float | None = None) -> None:
        """Return once every acknowledged write is applied and its listeners ran."""

    def flush_index(self) -> None:
        """Bring any derived index up to the last applied row."""

    def close(self) -> None:
        """Apply what is acknowledged (or keep it for the next open), release everything."""
