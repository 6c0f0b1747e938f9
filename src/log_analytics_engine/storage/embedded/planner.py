"""Choose, per query, what the text index answers and what DuckDB answers (DESIGN §4).

Measured costs on 1M logs (2 cores) that drive the choices:
- DuckDB word scan (regexp over `message`): 83–109 ms, grows with data -> only for the unindexed tail
  and for queries the index cannot express.
- tantivy newest-N for a word ordered by `ts`: 7–9 ms; count: ~1 ms; term doc_freq: µs.
- moving seqs from tantivy into Python costs ~0.55 µs per hit -> a seq set is handed to SQL only
  when it is small (SEQ_SET_LIMIT).
- DuckDB filters, counts, top-N on structured columns: 1–18 ms -> SQL whenever there is no text.
"""

from __future__ import annotations

import contextlib
import heapq
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

from log_analytics_engine.errors import QueryError
from log_analytics_engine.model import LogEntry
from log_analytics_engine.query.ast import Node, TimeRange, conjoin, fields, has_text, index_only, words
from log_analytics_engine.storage.base import Sort
from log_analytics_engine.storage.embedded.schema import STORED_COLUMNS
from log_analytics_engine.storage.embedded.sql import SqlFilter, compile_where
from log_analytics_engine.storage.embedded.textindex import MAX_TOKEN_BYTES
from log_analytics_engine.storage.embedded.timelimit import TimeLimit

if TYPE_CHECKING:
    from log_analytics_engine.storage.embedded.store import EmbeddedStore

_T = TypeVar("_T")

SEQ_SET_LIMIT = 50_000
# Raw fast fields of the index that terms aggregations can count.
INDEX_TERM_FIELDS = frozenset({"level", "source"})


def order_sql(sort: Sort) -> str:
    """The ORDER BY of a sort: its column, then seq, both in its direction."""
    direction = "DESC" if sort.descending else "ASC"
    return f"{sort.column} {direction}, seq {direction}"


class Planner:
    """Runs filter queries against an embedded store."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self._limits = threading.local()  # each thread's TimeLimit, while one is in force

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Bound what this thread asks of the store inside the block to `seconds`: SQL is
        interrupted, and the text index (which cannot be) is checked after each lookup."""
        outer = getattr(self._limits, "current", None)
        with TimeLimit(self.store, seconds) as limit:
            self._limits.current = limit
            try:
                yield
            finally:
                self._limits.current = outer

    def _looked_up(self, found: _T) -> _T:
        """What a text-index lookup found, unless the time limit passed meanwhile."""
        limit: TimeLimit | None = getattr(self._limits, "current", None)
        if limit is not None:
            limit.check()
        return found

    def _index_first(self, node: Node) -> bool:
        if not (has_text(node) or "tags" in fields(node)) or not index_only(node):
            return False
        # The index drops tokens longer than MAX_TOKEN_BYTES; such words are found by the SQL scan.
        return all(len(t.encode()) < MAX_TOKEN_BYTES for t in words(node))

    def where(self, node: Node) -> SqlFilter:
        """A SQL filter for the node; index-answerable text goes in as a seq set when that set is small."""
        base = compile_where(node, typed=self.store.typed)
        if not self._index_first(node):
            return base
        count, watermark = self._looked_up(self.store.index.count(node))
        if watermark == 0 or count > SEQ_SET_LIMIT:
            return base
        hits, _, watermark = self._looked_up(self.store.index.search(node, limit=max(count, 1)))
        seqs = [h.seq for h in hits]
        if not self._has_tail(watermark):
            return SqlFilter("seq IN (SELECT unnest(?::BIGINT[]))", [seqs])
        sql = f"(seq IN (SELECT unnest(?::BIGINT[])) OR (seq > ? AND {base.sql}))"
        return SqlFilter(sql, [seqs, watermark, *base.params])

    def _has_tail(self, watermark: int) -> bool:
        """Whether committed rows lie above the index watermark. Skipping the tail scan when none do
        saves more than the scan: compiling the Unicode word regex alone costs ~8 ms a query."""
        return self.store.last_seq > watermark

    def value_counts(self, node: Node, field: str) -> dict[str, int] | None:
        """Counts per value of `level` or `source` over the matches, from the text index alone
        (a terms aggregation, ~4-17 ms at 1M logs against ~50-90 ms for a seq set joined in SQL);
        None when the index cannot answer exactly (other field or filter, or rows not yet indexed)."""
        if field not in INDEX_TERM_FIELDS or not self._index_first(node):
            return None
        counts, total, watermark = self._looked_up(self.store.index.terms(node, field))
        if self._has_tail(watermark):
            return None
        missing = total - sum(counts.values())
        if missing > 0:  # an empty source is not an indexed term
            counts[""] = counts.get("", 0) + missing
        return counts

    def count(self, node: Node) -> int:
        """How many stored logs match."""
        if self._index_first(node):
            indexed, watermark = self._looked_up(self.store.index.count(node))
            if not self._has_tail(watermark):
                return indexed
            tail = compile_where(node, typed=self.store.typed)
            row = self.store.row(
                f"SELECT count(*) FROM logs WHERE seq > ? AND {tail.sql}", [watermark, *tail.params]
            )
            return indexed + int(row[0] if row else 0)
        flt = compile_where(node, typed=self.store.typed)
        row = self.store.row(f"SELECT count(*) FROM logs WHERE {flt.sql}", flt.params)
        return int(row[0] if row else 0)

    def find(self, node: Node, sort: Sort, offset: int = 0, limit: int | None = None) -> list[LogEntry]:
        """Matching logs in sort order, paged in the store (offset/limit), as fresh LogEntry objects."""
        if offset < 0 or (limit is not None and limit < 0):
            raise QueryError("page and page_size must not be negative")
        if self._index_first(node) and sort.column == "ts":
            return self._find_via_index(node, sort, offset, limit)
        flt = self.where(node)
        params = list(flt.params)
        if limit is not None and self.store.holds_recent:
            # Pick the page's seqs from the few columns the sort reads; when they are all among the
            # store's recent writes, read them from there (DuckDB would carry every column of every
            # match through the sort: ~5x slower), else fall through to that plain query.
            page = f"SELECT seq FROM logs WHERE {flt.sql} ORDER BY {order_sql(sort)} LIMIT ? OFFSET ?"
            seqs = [int(row[0]) for row in self.store.rows(page, [*params, limit, offset])]
            recent = self.store.recent_entries(seqs)
            if recent is not None:
                return recent
        sql = f"SELECT {STORED_COLUMNS} FROM logs WHERE {flt.sql} ORDER BY {order_sql(sort)}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        if offset:
            sql += " OFFSET ?"
            params.append(offset)
        return self.store.entries(sql, params)

    def after(self, node: Node, low: int, high: int, limit: int) -> list[LogEntry]:
        """Up to `limit` matching logs with low < seq <= high, in storing order (for live tails)."""
        where = compile_where(
            node, typed=self.store.typed
        )  # new rows are not indexed yet: SQL over the seq range
        return self.store.entries(
            f"SELECT {STORED_COLUMNS} FROM logs WHERE seq > ? AND seq <= ? AND {where.sql} "
            "ORDER BY seq LIMIT ?",
            [low, high, *where.params, limit],
        )

    def page_before(self, node: Node, limit: int, before: tuple[int, int] | None) -> list[LogEntry]:
        """Up to `limit` matching logs, newest first, strictly older than `before` = (ts, seq) in
        (ts, seq) order: the keyset page behind a search cursor, stable under concurrent ingest."""
        if before is None:
            return self.find(node, Sort("ts", descending=True), 0, limit)
        ts, seq = before
        # logs sharing the cursor's time may sit on either side of it: fetch enough to cover them
        ties = self.count(conjoin([node, TimeRange(ts, ts)]))
        candidates = self.find(
            conjoin([node, TimeRange(end=ts)]), Sort("ts", descending=True), 0, limit + ties
        )
        older = [e for e in candidates if (e.timestamp_ns or 0, e.seq or 0) < (ts, seq)]
        return older[:limit]

    def around(
        self, seq: int, before: int, after: int
    ) -> tuple[LogEntry, list[LogEntry], list[LogEntry]] | None:
        """The log stored as `seq` and up to `before`/`after` logs of its source just older and newer
        by (ts, seq), both oldest first (a log view's "surrounding logs"); None when there is none."""
        found = self.store.entries(f"SELECT {STORED_COLUMNS} FROM logs WHERE seq = ?", [seq])
        if not found:
            return None
        anchor = found[0]
        key = [anchor.source, anchor.timestamp_ns or 0, anchor.timestamp_ns or 0, seq]
        older = self.store.entries(
            f"SELECT {STORED_COLUMNS} FROM logs WHERE source = ? AND (ts < ? OR (ts = ? AND seq < ?)) "
            "ORDER BY ts DESC, seq DESC LIMIT ?",
            [*key, before],
        )
        newer = self.store.entries(
            f"SELECT {STORED_COLUMNS} FROM logs WHERE source = ? AND (ts > ? OR (ts = ? AND seq > ?)) "
            "ORDER BY ts, seq LIMIT ?",
            [*key, after],
        )
        return anchor, older[::-1], newer

    def search(self, node: Node, limit: int, before: tuple[int, int] | None) -> tuple[list[LogEntry], int]:
        """A search page (as `page_before`) and the total matching `node`, from one plan: a first
        page the text index answers takes its total from the same index search and the tail's from
        the same SQL (a window count), instead of a second index count and a second scan."""
        if before is None and self._index_first(node):
            return self._index_page(node, Sort("ts", descending=True), 0, limit)
        return self.page_before(node, limit, before), self.count(node)

    def _find_via_index(self, node: Node, sort: Sort, offset: int, limit: int | None) -> list[LogEntry]:
        if limit is None:
            limit = self.count(node) - offset
            if limit <= 0:
                return []
        return self._index_page(node, sort, offset, limit)[0]

    def _index_page(self, node: Node, sort: Sort, offset: int, limit: int) -> tuple[list[LogEntry], int]:
        """The page offset..offset+limit in (ts, seq) order of what the index holds merged with the
        unindexed tail's matches, and the total matching."""
        want = offset + limit
        if want == 0:
            return [], self.count(node)
        hits, total, watermark = self._looked_up(
            self.store.index.search(node, limit=want, newest_first=sort.descending)
        )
        tail_rows: list[tuple[int, int, int]] = []
        if self._has_tail(watermark):
            tail = compile_where(node, typed=self.store.typed)
            direction = "DESC" if sort.descending else "ASC"
            tail_rows = self.store.rows(
                f"SELECT ts, seq, count(*) OVER () FROM logs WHERE seq > ? AND {tail.sql} "
                f"ORDER BY ts {direction}, seq {direction} LIMIT ?",
                [watermark, *tail.params, want],
            )
            if tail_rows:
                total += int(tail_rows[0][2])
        keyed = [(h.ts, h.seq) for h in hits] + [(int(t), int(s)) for t, s, _ in tail_rows]
        pick = heapq.nlargest if sort.descending else heapq.nsmallest
        ordered = pick(want, keyed)
        page = ordered[offset:want]
        return self.store.fetch_seqs([seq for _, seq in page]), total
