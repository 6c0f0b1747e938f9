"""The text index's bytes under its options, for bench/storage.py, and what a phrase costs without
positions.

The baseline is built as the engine builds it: storage/embedded/textindex.py's schema (seq and ts fast
integers, severity indexed and fast, message tokenized with positions by the words analyzer, tags raw,
level and source raw and fast, nothing stored), the indexer's documents (`to_json` of those columns),
2 writer threads with a 128 MB heap, a commit per 65,536 documents (the indexer's fetch), merges waited
for. The variants are built in one segment (one writer thread, the same 128 MB heap, one commit: what
re-indexing a closed day in one pass, or a final merge, gives; 1M documents fit that heap in one
segment) and change one option each; fieldnorms are switched off by
writing `"fieldnorms": false` into the new index's meta.json before its writer opens (tantivy-py 0.27
has no option for it; tantivy reads the schema from that file).
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pyarrow as pa
import tantivy

from bench.measure import in_turns
from log_analytics_engine.storage.embedded.indexproc import ANALYZER, MAX_TOKEN_BYTES, words_analyzer
from log_analytics_engine.storage.embedded.sql import word_pattern

ENGINE_HEAP = 128 << 20
ENGINE_THREADS = 2
COMMIT_DOCS = 65_536
DOCS_SQL = (
    "SELECT to_json({'seq': seq, 'ts': ts, 'severity': severity, 'level': level, 'source': source, "
    "'message': message, 'tags': tags}) FROM logs ORDER BY seq"
)
# Tokens with a letter: the simple tokenizer's runs of letters and digits, less those of digits only.
WITH_A_LETTER = r"\p{N}*\p{L}[\p{L}\p{N}]*"
FILE_KINDS = ("idx", "pos", "term", "fast", "fieldnorm", "store")


@dataclass(frozen=True)
class IndexVariant:
    """One set of index options."""

    name: str
    message: str = "position"  # index_option of message: position, freq or basic
    filters: bool = True  # severity, tags, level and source indexed
    fast: tuple[str, ...] = ("seq", "ts", "severity", "level", "source")
    fieldnorms: bool = True
    digits: bool = True  # tokens of digits only indexed
    one_segment: bool = True


ENGINE = IndexVariant("engine today, as the indexer writes it", one_segment=False)
BASELINE = IndexVariant("engine schema, one segment")
VARIANTS = (
    ENGINE,
    BASELINE,
    replace(BASELINE, name="fieldnorms off", fieldnorms=False),
    replace(BASELINE, name="message: freq (no positions)", message="freq"),
    replace(BASELINE, name="message: basic (doc ids only)", message="basic"),
    replace(BASELINE, name="level, source, severity not fast", fast=("seq", "ts")),
    replace(BASELINE, name="message only (+ seq, ts)", filters=False, fast=("seq", "ts")),
    replace(BASELINE, name="no digit-only tokens", digits=False),
)


def best_variants() -> tuple[IndexVariant, ...]:
    """The combinations worth having, from the single changes above."""
    keep = IndexVariant("basic, fieldnorms off, one segment", message="basic", fieldnorms=False)
    return (
        keep,
        replace(keep, name="+ level, source, severity not fast", fast=("seq", "ts")),
        replace(keep, name="+ message only", filters=False, fast=("seq", "ts")),
        replace(keep, name="+ no digit-only tokens", digits=False),
        replace(
            keep, name="+ message only, no digit-only tokens", filters=False, fast=("seq", "ts"), digits=False
        ),
    )


def schema(variant: IndexVariant) -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("seq", indexed=False, fast="seq" in variant.fast)
    builder.add_integer_field("ts", indexed=False, fast="ts" in variant.fast)
    if variant.filters:
        builder.add_integer_field("severity", indexed=True, fast="severity" in variant.fast)
    builder.add_text_field("message", tokenizer_name=ANALYZER, index_option=variant.message)
    if variant.filters:
        builder.add_text_field("tags", tokenizer_name="raw", index_option="basic")
        for name in ("level", "source"):
            builder.add_text_field(
                name, tokenizer_name="raw", index_option="basic", fast=name in variant.fast
            )
    return builder.build()


def analyzer(variant: IndexVariant) -> tantivy.TextAnalyzer:
    if variant.digits:
        return words_analyzer()
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(WITH_A_LETTER))
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
        .filter(tantivy.Filter.lowercase())
        .build()
    )


def _open(path: Path, variant: IndexVariant) -> tantivy.Index:
    path.mkdir(parents=True)
    index = tantivy.Index(schema(variant), path=str(path))
    if not variant.fieldnorms:
        del index
        meta_file = path / "meta.json"
        meta = json.loads(meta_file.read_text())
        for entry in meta["schema"]:
            options = entry["options"]
            if "fieldnorms" in options:
                options["fieldnorms"] = False
            if options.get("indexing"):
                options["indexing"]["fieldnorms"] = False
        meta_file.write_text(json.dumps(meta))
        index = tantivy.Index.open(str(path))
    index.register_tokenizer(ANALYZER, analyzer(variant))
    return index


@dataclass
class IndexSize:
    """A built index: bytes per file kind, segments, and how long the build took."""

    variant: IndexVariant
    files: Counter[str]
    segments: int
    seconds: float
    index: tantivy.Index

    @property
    def total(self) -> int:
        return sum(self.files.values())


def build(path: Path, variant: IndexVariant, docs: Sequence[str]) -> IndexSize:
    """Build the index of `docs` (JSON objects) in `path` with `variant`'s options."""
    shutil.rmtree(path, ignore_errors=True)
    index = _open(path, variant)
    started = time.perf_counter()
    if variant.one_segment:
        writer = index.writer(ENGINE_HEAP, 1)
        chunk = len(docs)
    else:
        writer = index.writer(ENGINE_HEAP, ENGINE_THREADS)
        chunk = COMMIT_DOCS
    for low in range(0, len(docs), chunk):
        for doc in docs[low : low + chunk]:
            writer.add_json(doc)
        writer.commit()
    writer.wait_merging_threads()
    seconds = time.perf_counter() - started
    del writer
    index.reload()
    files: Counter[str] = Counter()
    segments = set()
    for file in path.iterdir():
        kind = file.suffix.lstrip(".")
        if kind in FILE_KINDS:
            segments.add(file.stem)
        files[kind if kind in FILE_KINDS else "other"] += file.stat().st_size
    return IndexSize(variant, files, len(segments), seconds, index)


@dataclass
class PhraseCost:
    """A phrase counted by a positions index against the same without positions (the words' doc ids
    from the index, then each candidate's message checked by DuckDB), and a DuckDB scan alone."""

    phrase: str
    hits: int
    candidates: int
    with_positions_ms: float
    without_positions_ms: float
    scan_ms: float
    newest_with_ms: float
    newest_without_ms: float


def phrase_cost(
    con: duckdb.DuckDBPyConnection,
    positions: tantivy.Index,
    no_positions: tantivy.Index,
    tokens: tuple[str, ...],
    runs: int,
) -> PhraseCost:
    """The costs of counting `tokens` as a phrase, and of its newest 50 by event time."""
    q = tantivy.Query
    pattern = word_pattern(tokens)
    phrase = q.phrase_query(positions.schema, "message", list(tokens))
    words = q.boolean_query(
        [(tantivy.Occur.Must, q.term_query(no_positions.schema, "message", t)) for t in tokens]
    )
    with_searcher, without_searcher = positions.searcher(), no_positions.searcher()
    candidates = int(without_searcher.search(words, 1, count=True).count)

    def checked(limit: int, newest: bool) -> int:
        """Candidates' seqs from the index, then DuckDB keeps those whose message has the phrase."""
        found = without_searcher.search(
            words, max(limit, 1), count=False, order_by_field="ts" if newest else None
        )
        seqs = without_searcher.fast_field_values("seq", [addr for _, addr in found.hits])
        con.register("candidates", pa.table({"seq": pa.array(seqs, pa.int64())}))
        try:
            return int(
                con.execute(
                    # materialized: else the regex is pushed below the join and runs on every row
                    "WITH c AS MATERIALIZED (SELECT message FROM logs SEMI JOIN candidates USING (seq)) "
                    "SELECT count(*) FROM c WHERE regexp_matches(message, $p)",
                    {"p": pattern},
                ).fetchall()[0][0]
            )
        finally:
            con.unregister("candidates")

    hits = int(with_searcher.search(phrase, 1, count=True).count)
    if checked(candidates, newest=False) != hits:
        raise AssertionError(f"the phrase {tokens} checked in DuckDB does not give the index's {hits}")
    scan = "SELECT count(*) FROM logs WHERE regexp_matches(message, $p)"
    count_with, count_without, scan_ms, newest_with, newest_without = in_turns(
        [
            lambda: with_searcher.search(phrase, 1, count=True),
            lambda: checked(candidates, newest=False),
            lambda: con.execute(scan, {"p": pattern}).fetchall(),
            lambda: with_searcher.search(phrase, 50, order_by_field="ts"),
            # 4x the page in candidates: enough when most candidates are hits (the count says how many)
            lambda: checked(200, newest=True),
        ],
        runs,
    )
    return PhraseCost(
        " ".join(tokens), hits, candidates, count_with, count_without, scan_ms, newest_with, newest_without
    )
