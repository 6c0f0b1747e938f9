"""The tantivy text index: message words, tags and the filter columns, keyed by the row's `seq`.

It is derived data. DuckDB holds every row; the index follows behind and its committed
watermark (the largest `seq` it holds, read back from the index itself) tells the planner
which rows must still be scanned in DuckDB. Documents are added in `seq` order and each
commit covers a prefix, so "every seq <= watermark is indexed" holds across crashes. Being
derived, it is set aside and rebuilt rather than ever failing a query (see TextIndex).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
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
    index_only,
    words,
)
from log_analytics_engine.storage.embedded.indexfiles import META_FILE, file_damage, live_files, set_aside
from log_analytics_engine.storage.embedded.indexproc import (
    ANALYZER,
    I64_MAX,
    DocWriter,
    Pieces,
    Spec,
    WriterProcess,
    build_query,
    drop_mapped_pages,
    is_index_failure,
    max_seq,
    words_analyzer,
)
from log_analytics_engine.storage.embedded.indexproc import (
    MAX_TOKEN_BYTES as MAX_TOKEN_BYTES,  # the planner's
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Bucket limit of a terms aggregation (levels and sources are far fewer in practice).
MAX_TERMS = 65_536
# tantivy indexing threads; with one, commits waited ~2 s per 1M docs for indexing to finish.
WRITER_THREADS = 2
# The writer's indexing memory, shared by its threads (a segment is written out each time it fills).
# 5M bench docs fed as fast as the writer took them: at 128 MB its process peaked at 223 MB (151 MB
# anonymous) in 56 s, at 64 MB at 216 MB (135) in 68 s, the index the same size (37 B/doc).
WRITER_HEAP_BYTES = 64 << 20
# After a failure with files that looked sound, every file's checksum is checked again at most this often.
RECHECK_SECONDS = 60.0
# Niceness of the writer process (all its threads). Not the indexer thread's 10: beside a busy Python
# thread it then got the CPU left over, 25-36k docs/s against 72-82k at 0, and the rows it does not
# hold are scanned by every text search until backpressure (MAX_INDEX_LAG) stalls the writes anyway;
# a 2-thread ingest measured no slower at 0 (57-73k logs/s against 57-60k, 2 shared cores).
WRITER_NICE = 0
# Deleting documents by seq: seq is a fast field, not indexed (indexing it measured +8.4 B/log, 21% of
# the index), so tantivy finds the documents of one run of consecutive seqs by scanning the seq column
# of every segment: 1.2 ms per run per 1M documents (10,508 scattered seqs: 12.3-13.3 s). A delete whose
# filter the index expresses is one query instead (level:FATAL, 1% of 1M: 13 ms). A delete whose runs
# would cost more than RUN_DELETE_SECONDS drops every document from its first seq on instead, and the
# indexer adds the surviving rows again from the table (~7 µs a document, in the background; queries
# scan the rows above the watermark meanwhile: exact, slower).
RUN_SCAN_SECONDS_PER_DOC = 1.2e-9
RUN_DELETE_SECONDS = 0.5
# Searches leave the pages of the index's files they read mapped into this process, counted in its
# RSS: over a 20M-log index the benchmark queries left 262 MB (of 527). They are dropped this often
# (the OS keeps them cached: a search reading one again maps it back without reading the disk).
PAGE_DROP_SECONDS = 5.0
# The most a close waits for the writer process's merges (a SIGTERM'd server must stop promptly);
# past it the process is killed: its last commit stands and a later writer redoes the merges.
CLOSE_MERGE_SECONDS = 10.0


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


class IndexWriting(Protocol):
    """A tantivy writer as the text index uses it: in this process (DocWriter) or in a writer
    process of its own (WriterProcess). A method that fails leaves the writer to be started anew."""

    @property
    def pid(self) -> int | None:
        """The writer process's id, or None (none runs, or the writer is in this process)."""

    def start(self) -> int | None:
        """Be ready for documents; the watermark of the index a newly started writer opened (None:
        it was already running)."""

    def add_lines(self, payload: Pieces) -> None:
        """Queue documents (JSON objects, one a line, in the pieces given) for the next commit."""

    def commit(self) -> None:
        """Publish every document queued."""

    def delete_above(self, seq: int) -> None:
        """Delete the documents with a seq above `seq`, and commit."""

    def delete_matching(self, spec: Spec) -> None:
        """Delete the documents the query `spec` matches, and commit."""

    def close(self, seconds: float) -> None:
        """Wait for merges (a process at most `seconds`, then it is killed), then end."""

    def drop(self) -> None:
        """End now; documents not committed are lost."""


class TextIndex:
    """A tantivy index on disk (or in memory when `path` is None) with one writer.

    On disk the writer runs in a process of its own (indexproc.py: no thread of this process can
    convoy it) and this process keeps the searcher, reloaded after each commit. In memory the writer
    stays in this process: a RAM index lives in this process's memory, where no other process can
    add to it (an in-memory engine's indexing still competes for the GIL).

    It never takes the engine down: an index that fails its checksums or cannot be opened is set aside
    and started anew (the indexer refills it from the table); a writer that fails (disk full, out of
    file descriptors, its process killed or hung) is dropped and a new one started on the next round;
    a search that fails on damaged files marks the index `damaged`, answers as an empty index
    (watermark 0, so the planner scans the table: still exact) and the indexer rebuilds it. Writes
    come from one caller at a time (the indexer); searches from any thread.
    """

    def __init__(self, path: Path | None, heap_bytes: int = WRITER_HEAP_BYTES) -> None:
        self.schema = _schema()
        self.path = path
        self._writer: IndexWriting = (
            DocWriter(lambda: self._index, heap_bytes, WRITER_THREADS)
            if path is None
            else WriterProcess(path, heap_bytes, WRITER_THREADS, WRITER_NICE)
        )
        self._reader_lock = threading.Lock()
        self._sound: set[tuple[str, int, int]] = set()  # (file, size, mtime) that passed
        self._rechecked = -RECHECK_SECONDS
        self.damaged: str | None = None  # why searches no longer use this index, until rebuilt
        self.on_damage: Callable[[], None] | None = None
        self.rebuilds = 0  # times the index was set aside and started anew
        self._fence = I64_MAX  # searches use documents up to here only (while a delete runs)
        self.read_failures = 0
        self._pages_dropped = time.monotonic()
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
        index.register_tokenizer(ANALYZER, words_analyzer())
        index.reload()
        searcher = index.searcher()
        watermark = max_seq(searcher)
        with self._reader_lock:
            self._index = index
            self._searcher = searcher
            self.watermark = watermark
            self.damaged = None
        # the largest seq committed, which the next document must follow (ahead of `watermark`
        # when this process failed to reload after a commit)
        self.committed = watermark

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id while one runs (None in memory, where the writer is in this process)."""
        return self._writer.pid

    def _damage(self, recheck: bool = False) -> str | None:
        """Why the files on disk cannot be trusted, or None. Files are checked once (segment files
        never change once written: one whose size or mtime changed is checked again); `recheck`
        checks them all again, at most once every RECHECK_SECONDS (so a query that makes tantivy fail
        cannot make every search read the whole index). A file that a running writer process merged
        away while this looked is no damage: the listing is read again."""
        if self.path is None or not (self.path / META_FILE).exists():
            return None  # no index yet
        now = time.monotonic()
        if recheck and now - self._rechecked >= RECHECK_SECONDS:
            self._rechecked = now
            self._sound.clear()
        reason = None
        for _ in range(3):
            meta = self._meta_text()
            reason = self._files_damage()
            if reason is None or self._meta_text() == meta:
                break
        return reason

    def _meta_text(self) -> str | None:
        assert self.path is not None
        try:
            return (self.path / META_FILE).read_text()
        except OSError:
            return None

    def _files_damage(self) -> str | None:
        assert self.path is not None
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
        self._writer.drop()
        if self.path.exists():
            set_aside(self.path, reason)
        self._sound.clear()
        self.rebuilds += 1

    def rebuild(self) -> None:
        """Set a damaged index aside and start an empty one (the indexer's catch-up refills it).
        Called by the indexer, which owns the writer."""
        reason = self.damaged or "asked to rebuild"
        self._writer.drop()
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

    @contextlib.contextmanager
    def _writing(self, doing: str) -> Iterator[IndexWriting]:
        """The writer, for calls that may fail; when tantivy (or the writer process) fails, end the
        writer (the next round starts a new one, from the last commit) and re-raise."""
        writer = self._writer
        try:
            yield writer
        except BaseException as exc:
            if not is_index_failure(exc):
                raise
            writer.drop()
            self._failed(exc, doing)
            raise

    def resume(self) -> int:
        """Start the writer if it is not running; the seq the next document must follow (the last one
        committed, read from the index itself by a newly started writer process)."""
        with self._writing("starting the writer") as writer:
            opened = writer.start()
        if opened is not None:
            self.committed = opened
        return self.committed

    def add_docs(self, payload: Pieces) -> None:
        """Queue documents (JSON objects with the schema's fields, one a line, in the pieces given)
        for the next commit; they must follow `resume()`'s seq."""
        with self._writing("adding documents") as writer:
            writer.add_lines(payload)

    def commit(self, upto_seq: int) -> None:
        """Publish every queued document; `upto_seq` is the largest seq among them."""
        with self._writing("committing") as writer:
            writer.commit()
        self.committed = upto_seq
        self._publish(upto_seq)

    def rollback_above(self, seq: int) -> None:
        """Delete documents with a seq above `seq` (left over from rows that never committed)."""
        with self._writing("deleting uncommitted rows") as writer:
            writer.start()
            writer.delete_above(seq)
        self.committed = min(self.committed, seq)
        self._publish(min(self.watermark, seq))

    def _publish(self, watermark: int) -> None:
        """Reload the searcher after a commit, exact up to `watermark` from then on."""
        try:
            self._index.reload()
            searcher = self._index.searcher()
        except BaseException as exc:
            if not is_index_failure(exc):
                raise
            self._failed(exc, "reloading")
            raise
        with self._reader_lock:
            self._searcher = searcher
            self.watermark = watermark

    def snapshot(self) -> tuple[tantivy.Searcher, int]:
        """A searcher and the watermark it is exact up to (0 while the index is damaged)."""
        with self._reader_lock:
            return self._searcher, 0 if self.damaged else min(self.watermark, self._fence)

    # -- deleting -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def fenced(self, seq: int) -> Iterator[None]:
        """Searches within use the documents up to `seq` only (the planner scans the table above
        it): a delete holds this from before its table commit until its documents are gone, so no
        search meanwhile counts a row the table no longer holds."""
        with self._reader_lock:
            self._fence = seq
        try:
            yield
        finally:
            with self._reader_lock:
                self._fence = I64_MAX

    def mark_damaged(self, reason: str) -> None:
        """Stop searches using the index (they scan the table) until the indexer has rebuilt it."""
        with self._reader_lock:
            self.damaged = reason
        if self.on_damage is not None:
            self.on_damage()

    def expresses(self, node: Node) -> bool:
        """Whether the index matches exactly the rows `node` matches (among those it holds): its
        fields only, and no word of MAX_TOKEN_BYTES or more (such tokens are not indexed)."""
        return index_only(node) and all(len(t.encode()) < MAX_TOKEN_BYTES for t in words(node))

    def delete_seqs(self, seqs: np.ndarray, node: Node | None = None) -> str:
        """Drop the documents of deleted rows (their sorted seqs; `node`, when given, matches exactly
        these among the rows up to the last of them) and publish; returns how: `none` (no document
        held), `query` (by `node`), `runs` (by runs of consecutive seqs) or `reindex` (every document
        from the first seq on, which the indexer adds again from the table). Called by the owner of
        the writer (the indexer, or a delete holding the indexer's lock)."""
        held = seqs[seqs <= self.committed]
        if not held.size or self.damaged:
            return "none"
        first, last = int(held[0]), int(held[-1])
        self.resume()
        before = self._live_docs()
        cuts = np.flatnonzero(np.diff(held) != 1) + 1
        runs = [(int(run[0]), int(run[-1])) for run in np.split(held, cuts)]
        if node is not None and self.expresses(node):
            how, spec = "query", ["and", [self._spec(node), ["range", "seq", first, last, True, True]]]
        elif len(runs) * before * RUN_SCAN_SECONDS_PER_DOC <= RUN_DELETE_SECONDS:
            how, spec = "runs", ["or", [["range", "seq", low, high, True, True] for low, high in runs]]
        else:
            self.rollback_above(first - 1)
            return "reindex"
        with self._writing("deleting documents") as writer:
            writer.delete_matching(spec)
        self._publish(self.watermark)
        dropped = before - self._live_docs()
        if dropped != held.size:  # the index and the table disagree: make the index follow the table
            log.error(
                "text index: a delete by %s dropped %d documents for %d rows; re-adding from seq %d",
                how,
                dropped,
                held.size,
                first,
            )
            self.rollback_above(first - 1)
            return "reindex"
        return how

    def _live_docs(self) -> int:
        """The documents of the index's last commit, deleted ones not counted."""
        self._index.reload()
        return int(self._index.searcher().num_docs)

    def drop_pages(self) -> None:
        """Drop this process's resident pages of the index's files (indexproc.drop_mapped_pages), at
        most every PAGE_DROP_SECONDS; the searcher maps them back as it reads them."""
        now = time.monotonic()
        if self.path is None or now - self._pages_dropped < PAGE_DROP_SECONDS:
            return
        self._pages_dropped = now
        drop_mapped_pages(str(self.path))

    def close(self) -> None:
        """Wait for merges so the files on disk are final (a writer process at most
        CLOSE_MERGE_SECONDS; a failing writer is only dropped)."""
        try:
            self._writer.close(CLOSE_MERGE_SECONDS)
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
        bound = ["range", "seq", 0, watermark, True, True]
        return build_query(self.schema, ["and", [self._spec(node), bound]])

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

    @staticmethod
    def _term(field: str, value: object) -> Spec:
        if field == "severity":
            number = float(str(value))
            if not number.is_integer():  # severities are whole numbers: 40.5 is none of them
                return ["none"]
            return ["term", "severity", int(number)]
        return ["term", field, str(value)]

    def _spec(self, node: Node) -> Spec:
        """The query of a node (which must satisfy `index_only`) as a spec (indexproc.build_query)."""
        if isinstance(node, MatchAll):
            return ["all"]
        if isinstance(node, Word):
            return ["term", "message", node.token]
        if isinstance(node, Phrase):
            return ["phrase", "message", list(node.tokens)]
        if isinstance(node, Prefix):
            # tantivy matches the regex against whole terms: a term that starts with the prefix
            field = "message" if node.field == "message" else node.field
            text = node.prefix.lower() if field == "message" else node.prefix
            return ["regex", field, re.escape(text) + ".*"]
        if isinstance(node, FieldEq):
            return self._term(node.field, node.value)
        if isinstance(node, FieldIn):
            return ["or", [self._term(node.field, v) for v in node.values]]
        if isinstance(node, Compare):
            return self._severity_range(node)
        if isinstance(node, TimeRange):
            low = node.start if node.start is not None else -I64_MAX
            high = node.end if node.end is not None else I64_MAX
            include_low = node.include_start or node.start is None
            return ["range", "ts", low, high, include_low, node.include_end or node.end is None]
        if isinstance(node, Regex | Exists | RelativeTime):
            raise ValueError(f"the text index cannot answer {node!r}; the planner sends it to SQL")
        if isinstance(node, And):
            return ["and", [self._spec(i) for i in node.items]]
        if isinstance(node, Or):
            return ["or", [self._spec(i) for i in node.items]]
        return ["not", self._spec(node.item)]

    @staticmethod
    def _severity_range(node: Compare) -> Spec:
        value = node.value
        low, high = -I64_MAX, I64_MAX
        if node.op in (">", ">="):
            low = int(value) + 1 if node.op == ">" and value == int(value) else math.ceil(value)
        else:
            high = int(value) - 1 if node.op == "<" and value == int(value) else math.floor(value)
        return ["range", "severity", low, high, True, True]
