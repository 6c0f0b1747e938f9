"""The tantivy text index: message words, tags and the filter columns, keyed by the row's `seq`.

It is derived data. DuckDB holds every row; the index follows behind and its committed
watermark (the largest `seq` it holds, read back from the index itself) tells the planner
which rows must still be scanned in DuckDB. Documents are added in `seq` order and each
commit covers a prefix, so "every seq <= watermark is indexed" holds across crashes.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

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

ANALYZER = "words"
# Tokens of this many UTF-8 bytes or more are not indexed (tantivy's RemoveLongFilter keeps
# `len < limit`); the planner sends such query words to a SQL scan.
MAX_TOKEN_BYTES = 255
_I64_MAX = 2**63 - 1
# Bucket limit of a terms aggregation (levels and sources are far fewer in practice).
MAX_TERMS = 65_536
# tantivy indexing threads; with one, commits waited ~2 s per 1M docs for indexing to finish.
WRITER_THREADS = 2


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


class TextIndex:
    """A tantivy index on disk (or in memory when `path` is None) with one writer."""

    def __init__(self, path: Path | None, heap_bytes: int = 128 << 20) -> None:
        self.schema = _schema()
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        self._index = tantivy.Index(self.schema, path=None if path is None else str(path), reuse=True)
        analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
            .filter(tantivy.Filter.lowercase())
            .build()
        )
        self._index.register_tokenizer(ANALYZER, analyzer)
        self._heap_bytes = heap_bytes
        self._writer_handle: tantivy.IndexWriter | None = None
        self._writer_lock = threading.Lock()
        self._reader_lock = threading.Lock()
        self._index.reload()
        self._searcher = self._index.searcher()
        self.watermark = self._max_seq(self._searcher)

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
                self._writer_handle = self._index.writer(self._heap_bytes, WRITER_THREADS)
            return self._writer_handle

    def add_json_docs(self, docs: Iterable[str]) -> None:
        """Queue documents (JSON objects with the schema's fields) for the next commit."""
        add = self._writer.add_json
        for doc in docs:
            add(doc)

    def commit(self, upto_seq: int) -> None:
        """Publish every queued document; `upto_seq` is the largest seq among them."""
        self._writer.commit()
        self._index.reload()
        searcher = self._index.searcher()
        with self._reader_lock:
            self._searcher = searcher
            self.watermark = upto_seq

    def rollback_above(self, seq: int) -> None:
        """Delete documents with a seq above `seq` (left over from rows that never committed)."""
        query = tantivy.Query.range_query(self.schema, "seq", tantivy.FieldType.Integer, seq + 1, _I64_MAX)
        self._writer.delete_documents_by_query(query)
        self._writer.commit()
        self._index.reload()
        with self._reader_lock:
            self._searcher = self._index.searcher()
            self.watermark = min(self.watermark, seq)

    def snapshot(self) -> tuple[tantivy.Searcher, int]:
        """A searcher and the watermark it is exact up to."""
        with self._reader_lock:
            return self._searcher, self.watermark

    def close(self) -> None:
        """Wait for merges so the files on disk are final."""
        if self._writer_handle is not None:
            self._writer_handle.wait_merging_threads()

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
        result = searcher.search(self.query(node, watermark), 1, count=True)
        return int(getattr(result, "count", 0) or 0), watermark

    def terms(self, node: Node, field: str) -> tuple[dict[str, int], int, int]:
        """Counts of each value of a raw fast field (`level`, `source`) over the matching documents,
        the total of matches, and the watermark they are exact up to."""
        searcher, watermark = self.snapshot()
        if watermark == 0:
            return {}, 0, 0
        query = self.query(node, watermark)
        total = int(getattr(searcher.search(query, 1, count=True), "count", 0) or 0)
        found = searcher.aggregate(query, {"t": {"terms": {"field": field, "size": MAX_TERMS}}})
        counts = {str(b["key"]): int(b["doc_count"]) for b in found["t"]["buckets"]}
        return counts, total, watermark

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
