"""The tantivy text index: message words, tags and the filter columns, keyed by the row's `seq`.

It is derived data. DuckDB holds every row; the index follows behind and its committed
watermark (the largest `seq` it holds, read back from the index itself) tells the planner
which rows must still be scanned in DuckDB. Documents are added in `seq` order and each
commit covers a prefix, so "every seq <= watermark is indexed" holds across crashes. Being
derived, it is set aside and rebuilt rather than ever failing a query (see TextIndex).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import tantivy

from log_analytics_engine.errors import LogAnalyticsError
from log_analytics_engine.query.ast import (
    And,
    Compare,
    Exists,
    FieldEq,
    FieldIn,
    MatchAll,
    Node,
    Or,
    Phrase,
    Prefix,
    Regex,
    RelativeTime,
    TimeRange,
    Word,
)
from log_analytics_engine.storage.indexfiles import META_FILE, file_damage, live_files, set_aside

log = logging.getLogger(__name__)
_T = TypeVar("_T")

ANALYZER = "words"
# Tokens of this many UTF-8 bytes or more are not indexed (tantivy's RemoveLongFilter keeps
# `len < limit`); the planner sends such query words to a SQL scan.
MAX_TOKEN_BYTES = 255
_I64_MAX = 2**63 - 1
# Bucket limit of a terms aggregation (levels and sources are far fewer in practice).
MAX_TERMS = 65_536
# tantivy indexing threads; with one, commits waited ~2 s per 1M docs for indexing to finish.
WRITER_THREADS = 2
# After a failure with files that looked sound, every file's checksum is checked again at most this often.
RECHECK_SECONDS = 60.0


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("seq", indexed=False, fast=True)
    builder.add_integer_field("ts", indexed=False, fast=True)
    builder.add_integer_field("severity", indexed=True, fast=True)
    builder.add_text_field("message", tokenizer_name=ANALYZER, index_option="position")
    builder.add_text_field("tags", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("level", tokenizer_name="raw", index_option="basic", fast=True)
    builder.add_text_field("source", tokenizer_name="raw", index_option="basic", fast=True)
    return builder.build()


@dataclass(frozen=True)
class Hit:
    """One match: its event time and row id."""

    ts: int
    seq: int


_NO_HITS: tuple[list[Hit], int, int] = ([], 0, 0)
_NO_TERMS: tuple[dict[str, int], int, int] = ({}, 0, 0)


def is_index_failure(exc: BaseException) -> bool:
    """Whether `exc` is tantivy failing (an I/O error, a killed writer, or a Rust panic, which pyo3
    raises as a `PanicException` deriving from BaseException) rather than an interrupt or exit."""
    return isinstance(exc, ValueError | OSError) or type(exc).__name__ == "PanicException"


class TextIndex:
    """A tantivy index on disk (or in memory when `path` is None) with one writer.

    It never takes the engine down: an index that fails its checksums or cannot be opened is set aside
    and started anew (the indexer refills it from the table); a writer that fails (disk full, out of
    file descriptors) is dropped and a new one made on the next round; a search that fails on damaged
    files marks the index `damaged`, answers as an empty index (watermark 0, so the planner scans the
    table: still exact) and the indexer rebuilds it.
    """

    def __init__(self, path: Path | None, heap_bytes: int = 128 << 20) -> None:
        self.schema = _schema()
        self.path = path
        self._heap_bytes = heap_bytes
        self._writer_handle: tantivy.IndexWriter | None = None
        self._writer_lock = threading.Lock()
        self._reader_lock = threading.Lock()
        self._sound: set[tuple[str, int, int]] = set()  # (file, size, mtime) that passed
        self._rechecked = -RECHECK_SECONDS
        self.damaged: str | None = None  # why searches no longer use this index, until rebuilt
        self.on_damage: Callable[[], None] | None = None
        self.rebuilds = 0  # times the index was set aside and started anew
        self.read_failures = 0
        reason = self._damage()
        if reason is not None:
            self._set_aside(reason)
        try:
            self._load()
        except BaseException as exc:
            if path is None or not is_index_failure(exc):
                raise
            self._set_aside(f"it cannot be opened: {exc}")
            self._load()

    def _load(self) -> None:
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(self.schema, path=None if self.path is None else str(self.path), reuse=True)
        analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
            .filter(tantivy.Filter.lowercase())
            .build()
        )
        index.register_tokenizer(ANALYZER, analyzer)
        index.reload()
        searcher = index.searcher()
        watermark = self._max_seq(searcher)
        with self._reader_lock:
            self._index = index
            self._searcher = searcher
            self.watermark = watermark
            self.damaged = None

    def _damage(self, recheck: bool = False) -> str | None:
        """Why the files on disk cannot be trusted, or None. Files are checked once (segment files
        never change once written: one whose size or mtime changed is checked again); `recheck`
        checks them all again, at most once every RECHECK_SECONDS (so a query that makes tantivy fail
        cannot make every search read the whole index)."""
        if self.path is None or not (self.path / META_FILE).exists():
            return None  # no index yet
        now = time.monotonic()
        if recheck and now - self._rechecked >= RECHECK_SECONDS:
            self._rechecked = now
            self._sound.clear()
        try:
            files = [(f, f.stat()) for f in live_files(self.path)]
        except FileNotFoundError as exc:  # a segment file missing
            return f"{Path(exc.filename or '?').name} is missing"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"its {META_FILE} cannot be read: {exc!r}"
        for file, stat in files:
            key = (file.name, stat.st_size, stat.st_mtime_ns)
            if key in self._sound:
                continue
            reason = file_damage(file)
            if reason is not None:
                return reason
            self._sound.add(key)
        return None

    def _set_aside(self, reason: str) -> None:
        assert self.path is not None
        self._writer_handle = None
        if self.path.exists():
            set_aside(self.path, reason)
        self._sound.clear()
        self.rebuilds += 1

    def rebuild(self) -> None:
        """Set a damaged index aside and start an empty one (the indexer's catch-up refills it).
        Called by the indexer, which owns the writer."""
        reason = self.damaged or "asked to rebuild"
        with self._writer_lock:
            self._writer_handle = None
        if self.path is None:
            self.rebuilds += 1
        else:
            self._set_aside(reason)
        self._load()

    def _failed(self, exc: BaseException, doing: str) -> bool:
        """After tantivy failed: whether its files are damaged (then the index is marked for a rebuild
        and searches stop using it); a failure with sound files was the disk or the query."""
        reason = self._damage(recheck=True)
        if reason is None:
            return False
        with self._reader_lock:
            first = self.damaged is None
            self.damaged = reason
        if first:
            log.error(
                "text index %s failed (%s): %s; searches scan the table until it is rebuilt",
                doing,
                str(exc),  # not the exception: a kept log record would keep its frames (and the writer)
                reason,
            )
            if self.on_damage is not None:
                self.on_damage()
        return True

    @staticmethod
    def _max_seq(searcher: tantivy.Searcher) -> int:
        if searcher.num_docs == 0:
            return 0
        # the newest document by seq: its order key is the seq itself, exact (an aggregate is a float)
        top = searcher.search(tantivy.Query.all_query(), 1, count=False, order_by_field="seq")
        return int(top.hits[0][0]) if top.hits else 0

    @property
    def _writer(self) -> tantivy.IndexWriter:
        # Made on first use, so its indexing threads are spawned by (and inherit the priority of)
        # the indexer thread rather than the thread that opened the store.
        with self._writer_lock:
            if self._writer_handle is None:
                try:
                    self._writer_handle = self._index.writer(self._heap_bytes, WRITER_THREADS)
                except ValueError as exc:
                    if "LockBusy" not in str(exc):
                        raise
                    # A dropped writer holds the directory's lock until it is freed, and one that
                    # failed can still be referenced by its exception's traceback (a cycle).
                    gc.collect()
                    self._writer_handle = self._index.writer(self._heap_bytes, WRITER_THREADS)
            return self._writer_handle

    @contextlib.contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """Run writer calls; when tantivy fails, drop the writer (a failed tantivy writer stays dead:
        the next call makes a new one, which starts from the last commit) and re-raise."""
        try:
            yield
        except BaseException as exc:
            if not is_index_failure(exc):
                raise
            with self._writer_lock:
                self._writer_handle = None
            self._failed(exc, doing)
            raise

    def add_json_docs(self, docs: Iterable[str]) -> None:
        """Queue documents (JSON objects with the schema's fields) for the next commit."""
        with self._writing("adding documents"):
            add = self._writer.add_json
            for doc in docs:
                add(doc)

    def commit(self, upto_seq: int) -> None:
        """Publish every queued document; `upto_seq` is the largest seq among them."""
        with self._writing("committing"):
            self._writer.commit()
            self._index.reload()
            searcher = self._index.searcher()
        with self._reader_lock:
            self._searcher = searcher
            self.watermark = upto_seq

    def rollback_above(self, seq: int) -> None:
        """Delete documents with a seq above `seq` (left over from rows that never committed)."""
        query = tantivy.Query.range_query(self.schema, "seq", tantivy.FieldType.Integer, seq + 1, _I64_MAX)
        with self._writing("deleting uncommitted rows"):
            self._writer.delete_documents_by_query(query)
            self._writer.commit()
            self._index.reload()
            searcher = self._index.searcher()
        with self._reader_lock:
            self._searcher = searcher
            self.watermark = min(self.watermark, seq)

    def snapshot(self) -> tuple[tantivy.Searcher, int]:
        """A searcher and the watermark it is exact up to (0 while the index is damaged)."""
        with self._reader_lock:
            return self._searcher, 0 if self.damaged else self.watermark

    def close(self) -> None:
        """Wait for merges so the files on disk are final (a failing writer is only dropped)."""
        with self._writer_lock:
            writer, self._writer_handle = self._writer_handle, None
        if writer is not None:
            try:
                writer.wait_merging_threads()
            except BaseException as exc:
                if not is_index_failure(exc):
                    raise
                log.error("text index merges ended with an error at close: %s", str(exc))

    def _reading(self, read: Callable[[], _T], empty: _T) -> _T:
        """Run a search; when tantivy fails on damaged files, answer `empty` (an index holding
        nothing: the planner then scans the table). Other failures propagate."""
        try:
            return read()
        except BaseException as exc:
            if not is_index_failure(exc):
                raise
            self.read_failures += 1
            if self._failed(exc, "searching"):
                return empty
            # sound files: a tantivy bug met by this query (a panic is no Exception: make it one)
            raise LogAnalyticsError(f"the text index failed to answer: {exc}") from exc

    # -- querying -----------------------------------------------------------------------------

    def query(self, node: Node, watermark: int) -> tantivy.Query:
        """The tantivy query for a node (which must satisfy `index_only`), limited to seq <= watermark."""
        bound = tantivy.Query.range_query(self.schema, "seq", tantivy.FieldType.Integer, 0, watermark)
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, self._compile(node)), (tantivy.Occur.Must, bound)]
        )

    def search(
        self, node: Node, limit: int, offset: int = 0, newest_first: bool = True
    ) -> tuple[list[Hit], int, int]:
        """Hits ordered by event time, the total count, and the watermark they are exact up to.

        tantivy orders by time alone, so hits sharing the last returned time are completed (all of
        them are returned, possibly more than `limit`): callers ordering by (time, seq) then cut
        a tie group in the right place.
        """
        searcher, watermark = self.snapshot()
        if watermark == 0:
            return [], 0, 0
        return self._reading(
            lambda: self._search(searcher, watermark, node, limit, offset, newest_first), _NO_HITS
        )

    def _search(
        self,
        searcher: tantivy.Searcher,
        watermark: int,
        node: Node,
        limit: int,
        offset: int,
        newest_first: bool,
    ) -> tuple[list[Hit], int, int]:
        order = tantivy.Order.Desc if newest_first else tantivy.Order.Asc
        query = self.query(node, watermark)
        result = searcher.search(query, limit, count=True, order_by_field="ts", offset=offset, order=order)
        hits = self._hits(searcher, result.hits)
        total = int(getattr(result, "count", 0) or 0)
        if hits and len(hits) == limit:
            edge = hits[-1].ts
            tied = self.query(And((node, TimeRange(edge, edge))), watermark)
            ties = searcher.search(tied, 1, count=True)
            tie_count = int(getattr(ties, "count", 0) or 0)
            if tie_count > sum(1 for h in hits if h.ts == edge):
                full = searcher.search(tied, tie_count, count=False, order_by_field="ts", order=order)
                hits = [h for h in hits if h.ts != edge] + self._hits(searcher, full.hits)
        return hits, total, watermark

    @staticmethod
    def _hits(searcher: tantivy.Searcher, found: list[tuple[Any, tantivy.DocAddress]]) -> list[Hit]:
        addresses = [addr for _, addr in found]
        seqs: list[Any] = searcher.fast_field_values("seq", addresses) if addresses else []
        return [Hit(int(ts), int(seq)) for (ts, _), seq in zip(found, seqs, strict=True)]

    def count(self, node: Node) -> tuple[int, int]:
        """The number of indexed matches and the watermark it is exact up to."""
        searcher, watermark = self.snapshot()
        if watermark == 0:
            return 0, 0

        def read() -> tuple[int, int]:
            result = searcher.search(self.query(node, watermark), 1, count=True)
            return int(getattr(result, "count", 0) or 0), watermark

        return self._reading(read, (0, 0))

    def terms(self, node: Node, field: str) -> tuple[dict[str, int], int, int]:
        """Counts of each value of a raw fast field (`level`, `source`) over the matching documents,
        the total of matches, and the watermark they are exact up to."""
        searcher, watermark = self.snapshot()
        if watermark == 0:
            return {}, 0, 0

        def read() -> tuple[dict[str, int], int, int]:
            query = self.query(node, watermark)
            total = int(getattr(searcher.search(query, 1, count=True), "count", 0) or 0)
            found = searcher.aggregate(query, {"t": {"terms": {"field": field, "size": MAX_TERMS}}})
            counts = {str(b["key"]): int(b["doc_count"]) for b in found["t"]["buckets"]}
            return counts, total, watermark

        return self._reading(read, _NO_TERMS)

    def _term(self, field: str, value: object) -> tantivy.Query:
        if field == "severity":
            number = float(str(value))
            if not number.is_integer():  # severities are whole numbers: 40.5 is none of them
                return tantivy.Query.empty_query()
            return tantivy.Query.term_query(self.schema, "severity", int(number))
        return tantivy.Query.term_query(self.schema, field, str(value))

    def _compile(self, node: Node) -> tantivy.Query:
        q = tantivy.Query
        if isinstance(node, MatchAll):
            return q.all_query()
        if isinstance(node, Word):
            return q.term_query(self.schema, "message", node.token)
        if isinstance(node, Phrase):
            return q.phrase_query(self.schema, "message", list(node.tokens))
        if isinstance(node, Prefix):
            # tantivy matches the regex against whole terms: a term that starts with the prefix
            field = "message" if node.field == "message" else node.field
            text = node.prefix.lower() if field == "message" else node.prefix
            return q.regex_query(self.schema, field, re.escape(text) + ".*")
        if isinstance(node, FieldEq):
            return self._term(node.field, node.value)
        if isinstance(node, FieldIn):
            return q.boolean_query([(tantivy.Occur.Should, self._term(node.field, v)) for v in node.values])
        if isinstance(node, Compare):
            return self._severity_range(node)
        if isinstance(node, TimeRange):
            low = node.start if node.start is not None else -_I64_MAX
            high = node.end if node.end is not None else _I64_MAX
            return q.range_query(
                self.schema,
                "ts",
                tantivy.FieldType.Integer,
                low,
                high,
                include_lower=node.include_start or node.start is None,
                include_upper=node.include_end or node.end is None,
            )
        if isinstance(node, Regex | Exists | RelativeTime):
            raise ValueError(f"the text index cannot answer {node!r}; the planner sends it to SQL")
        if isinstance(node, And):
            return q.boolean_query([(tantivy.Occur.Must, self._compile(i)) for i in node.items])
        if isinstance(node, Or):
            return q.boolean_query([(tantivy.Occur.Should, self._compile(i)) for i in node.items])
        return q.boolean_query(
            [(tantivy.Occur.Must, q.all_query()), (tantivy.Occur.MustNot, self._compile(node.item))]
        )

    def _severity_range(self, node: Compare) -> tantivy.Query:
        value = node.value
        low, high = -_I64_MAX, _I64_MAX
        if node.op in (">", ">="):
            low = int(value) + 1 if node.op == ">" and value == int(value) else math.ceil(value)
        else:
            high = int(value) - 1 if node.op == "<" and value == int(value) else math.floor(value)
        return tantivy.Query.range_query(self.schema, "severity", tantivy.FieldType.Integer, low, high)
