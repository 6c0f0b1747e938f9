"""Storage layout choices for issue 16 (typed fields, bytes on disk, text index options), measured side
by side with ClickHouse (chdb, ClickStack's `otel_logs`) on the same generated logs, in one run.

    python -m bench.storage                 # 1M logs (~15 min on 2 shared cores)
    python -m bench.storage --quick         # 100k logs
    python -m bench.storage --rows 300000 --runs 7

1. Typed fields (bench/layouts.py): each layout of the fields outside the fixed columns is filled by
   Arrow appends of the engine's 100k-row batches (arrowjson.to_batch of the JSONL file) and, in a
   fresh file, by one `INSERT … SELECT … FROM read_ndjson`, each with its CHECKPOINT; then the same
   questions on a metadata number and string (median of `--runs` after a warm-up), bytes per log,
   and the round trip of every row's metadata, on the bench data and on a ragged set (mixed types,
   nulls, nested values, rare and odd keys). ClickHouse answers the same questions.
2. Disk: the promoted layout copied with each sort order, compression setting and row-group size,
   bytes per log (and per column), with the queries a sort order helps or hurts.
3. Text index (bench/indexsize.py): the engine's tantivy index and its variants, bytes per log by file
   kind, and what a phrase costs without positions.

Every figure is in fresh temporary directories; progress goes to stderr, the tables to stdout and to the
section "Storage layouts" of bench/results.md (`--output`, `--no-write`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from bench import indexsize
from bench.abuse import output_options, publish, run_line, section_text
from bench.chstore import DURATION, JSON_TABLE, REGION, TOKENBF_INDEX, ChBytes, ClickHouse, on_json_table
from bench.generate import QUERY_WORD, cached_jsonl
from bench.layouts import (
    FIXED,
    Binder,
    Layout,
    Promoted,
    PromotedLayout,
    RaggedSpec,
    RoundTrip,
    all_layouts,
    infer_promoted,
    ragged_metadata,
    round_trip,
    storage_of,
)
from bench.measure import in_turns
from bench.report import fmt_ms, fmt_rate
from bench.run import _version
from log_analytics_engine.ingest.arrowjson import to_batch
from log_analytics_engine.ingest.levelsql import sql_level, sql_severity
from log_analytics_engine.storage.embedded.sql import word_pattern

BENCH_DIR = Path(__file__).resolve().parent
SECTION = "## Storage layouts (`python -m bench.storage`)"
SEED = 42
BATCH_ROWS = 100_000
DEFAULT_ROW_GROUP = 122_880
TARGET_BYTES = 60.0


def parse_args(argv: Sequence[str] | None, doc: str | None = __doc__, runs: int = 5) -> argparse.Namespace:
    """The options of a bench over `--rows` generated logs (also bench.storage_engine's)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="logs generated (default 1M)")
    parser.add_argument("--quick", action="store_true", help="100k logs")
    parser.add_argument("--runs", type=int, default=runs, help="timed runs per query (median)")
    parser.add_argument("--ingest-rounds", type=int, default=3, help="ingests of each layout (median)")
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / ".data", help="generated files (reused)")
    output_options(parser)
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.rows = 100_000
    return opts


def progress(text: str, name: str = "storage") -> None:
    load = os.getloadavg()[0]
    print(f"[bench.{name} {time.strftime('%H:%M:%S')} load {load:.1f}] {text}", file=sys.stderr, flush=True)


# -- the data ----------------------------------------------------------------------------------------


@dataclass
class Data:
    """The generated logs: the JSONL file and the engine's stored batches of it (seq from 1)."""

    jsonl: Path
    batches: list[pa.Table]
    now_ns: int

    @property
    def rows(self) -> int:
        return sum(b.num_rows for b in self.batches)

    def table(self) -> pa.Table:
        return pa.concat_tables(self.batches)


def load_data(rows: int, data_dir: Path) -> Data:
    """The JSONL file of `rows` bench logs, read into stored batches by the engine's Arrow path."""
    jsonl = cached_jsonl(data_dir, rows, SEED)
    now_ns = time.time_ns()
    batches: list[pa.Table] = []
    with jsonl.open("rb") as handle:
        while True:
            lines = [line for _, line in zip(range(BATCH_ROWS), handle, strict=False)]
            if not lines:
                break
            batch = to_batch(b"".join(lines), now_ns)
            if batch is None:
                raise RuntimeError("the bench logs did not take the engine's Arrow path")
            first = 1 + sum(b.num_rows for b in batches)
            seqs = pa.array(range(first, first + batch.table.num_rows), pa.int64())
            batches.append(batch.table.add_column(0, "seq", seqs))
    return Data(jsonl, batches, now_ns)


def ndjson_relation(jsonl: Path, keys: Sequence[str], now_ns: int) -> tuple[str, dict[str, object]]:
    """A subquery of the stored columns from `read_ndjson` of the file (explicit columns; the metadata
    keys a sample showed read as JSON and packed back into one object), and its parameters. A key no
    sampled row had is not read, and a JSON null is dropped: the limits of this path."""
    columns: dict[str, str] = {
        "timestamp": "VARCHAR",
        "level": "VARCHAR",
        "source": "VARCHAR",
        "message": "VARCHAR",
        "tags": "VARCHAR[]",
        "thread_id": "VARCHAR",
        "request_id": "VARCHAR",
        "user_id": "VARCHAR",
    }
    known = ", ".join(f'"{name}"' for name in columns)
    columns.update({key: "JSON" for key in keys if key not in columns})
    level = sql_level("level")
    sql = (
        "(SELECT row_number() OVER () AS seq, epoch_ns(CAST(timestamp AS TIMESTAMPTZ)) AS ts, "
        f"$now AS ingested_at, {level} AS level, {sql_severity(level)} AS severity, source, message, "
        "coalesce(tags, []) AS tags, thread_id, request_id, user_id, "
        f"CAST(json_strip_nulls(to_json(struct_pack(*COLUMNS(* EXCLUDE ({known}))))) AS VARCHAR) AS metadata "
        "FROM read_ndjson($file, columns = $columns))"
    )
    return sql, {"now": now_ns, "file": str(jsonl), "columns": columns}


# -- the questions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One question on the metadata fields: DuckDB SQL over a layout's view, ClickHouse SQL over
    otel_logs. `checked`: the answers must agree across layouts and with ClickHouse."""

    label: str
    duckdb: Callable[[Any, Binder], str]
    clickhouse: str
    ch_params: dict[str, Any] = field(default_factory=dict)
    checked: bool = True


KEYS = ("duration_ms", "region")
REGION_VALUE = "eu-west-1"
SLOW_MS = 500


def questions() -> tuple[Query, ...]:
    """The questions asked of every layout (the issue's numeric aggregates, filters, a sort, a
    distinct count)."""

    def by_source(agg: str) -> Callable[[Any, Binder], str]:
        return lambda v, b: (
            f"SELECT source, {agg.format(v.number('duration_ms'))} FROM {v.relation} GROUP BY 1"
        )

    ch_group = "SELECT ServiceName, {} FROM otel_logs GROUP BY 1"
    return (
        Query(
            "p99(duration_ms) by source",
            by_source("quantile_cont({}, 0.99)"),
            ch_group.format(f"quantile(0.99)({DURATION})"),
            checked=False,  # ClickHouse's quantile is an estimate (a sample of 8192 values)
        ),
        Query(
            "p99 by source, ClickHouse exact",
            by_source("quantile_cont({}, 0.99)"),
            ch_group.format(f"quantileExact(0.99)({DURATION})"),
            checked=False,  # quantileExact picks a value, quantile_cont interpolates
        ),
        Query("avg(duration_ms) by source", by_source("avg({})"), ch_group.format(f"avg({DURATION})")),
        Query("sum(duration_ms) by source", by_source("sum({})"), ch_group.format(f"sum({DURATION})")),
        Query(
            f"count region = {REGION_VALUE}",
            lambda v, b: f"SELECT count(*) FROM {v.relation} WHERE {v.equals('region', REGION_VALUE)}",
            f"SELECT count() FROM otel_logs WHERE {REGION} = {{r:String}}",
            {"r": REGION_VALUE},
        ),
        Query(
            f"count duration_ms > {SLOW_MS}",
            lambda v, b: f"SELECT count(*) FROM {v.relation} WHERE {v.number('duration_ms')} > {b(SLOW_MS)}",
            f"SELECT count() FROM otel_logs WHERE {DURATION} > {{d:Float64}}",
            {"d": SLOW_MS},
        ),
        Query(
            "top 50 by duration_ms desc",
            lambda v, b: (
                f"SELECT {v.number('duration_ms')} AS d FROM {v.relation} ORDER BY d DESC NULLS LAST LIMIT 50"
            ),
            f"SELECT {DURATION} AS d FROM otel_logs ORDER BY d DESC NULLS LAST LIMIT 50",
        ),
        Query(
            "count_uniq(region)",
            lambda v, b: f"SELECT count(DISTINCT {v.text('region')}) FROM {v.relation}",
            f"SELECT count(DISTINCT {REGION}) FROM otel_logs",
        ),
    )


def normalized(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Answer rows comparable across engines: numbers to 9 significant digits, rows sorted."""

    def value(x: Any) -> Any:
        if isinstance(x, float | int) and not isinstance(x, bool):
            return float(f"{float(x):.9g}")
        return x

    return sorted((tuple(value(x) for x in row) for row in rows), key=repr)


# -- typed fields ------------------------------------------------------------------------------------


@dataclass
class LayoutResult:
    """One layout's figures (ingest and bytes are its table's, shared by readers of the same table)."""

    name: str
    table: str
    arrow_s: float = 0.0
    ndjson_s: float = 0.0
    bytes: int = 0
    query_ms: dict[str, float] = field(default_factory=dict)
    answers: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    round_trip: RoundTrip = field(default_factory=RoundTrip)
    ragged: RoundTrip = field(default_factory=RoundTrip)


def connect(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path) if path is not None else ":memory:")
    con.execute("SET enable_progress_bar = false")
    return con


def append_batches(con: duckdb.DuckDBPyConnection, layout: Layout, batches: Sequence[pa.Table]) -> float:
    """Arrow appends of the batches, one transaction each, then CHECKPOINT; seconds."""
    started = time.perf_counter()
    for batch in batches:
        con.register("batch_in", batch)
        try:
            layout.insert(con, "batch_in")
        finally:
            con.unregister("batch_in")
    con.execute("CHECKPOINT")
    return time.perf_counter() - started


def build_layouts(
    data: Data, tmp: Path, promoted: list[Promoted], keys: Sequence[str], rounds: int
) -> tuple[list[tuple[Layout, LayoutResult]], dict[str, duckdb.DuckDBPyConnection], dict[str, Path]]:
    """Every layout's table filled both ways, `rounds` times in turns (each round starting one layout
    further along; the medians are its ingest times), the first round's tables kept with their bytes and
    round trips; the layouts with their results, an open connection and the file of each table."""
    layouts = all_layouts(promoted)
    owners = [layout for layout in layouts if storage_of(layout) == layout.name]
    arrow: dict[str, list[float]] = {layout.name: [] for layout in owners}
    ndjson: dict[str, list[float]] = {layout.name: [] for layout in owners}
    firsts: dict[str, LayoutResult] = {}
    files: dict[str, Path] = {}
    cons: dict[str, duckdb.DuckDBPyConnection] = {}
    table = data.table()
    relation, params = ndjson_relation(data.jsonl, keys, data.now_ns)
    for layout in owners:  # a warm-up: the first layout timed pays no first-use costs
        warm = connect()
        layout.create(warm)
        append_batches(warm, layout, data.batches[:1])
        warm.close()
    for round_number in range(rounds):
        for i in range(len(owners)):
            layout = owners[(i + round_number) % len(owners)]
            progress(
                f"layout {layout.name}: Arrow appends, read_ndjson (round {round_number + 1} of {rounds})"
            )
            path = tmp / (f"layout-{len(files)}.db" if round_number == 0 else "scratch.db")
            con = connect(path)
            layout.create(con)
            arrow[layout.name].append(append_batches(con, layout, data.batches))
            if round_number == 0:
                files[layout.name], cons[layout.name] = path, con
                firsts[layout.name] = LayoutResult(layout.name, layout.name, bytes=path.stat().st_size)
                firsts[layout.name].round_trip = round_trip(con, layout, table.select(["seq", "metadata"]))
            else:
                con.close()
                path.unlink()
            ndjson_file = tmp / "ndjson.db"
            other = connect(ndjson_file)
            layout.create(other)
            started = time.perf_counter()
            layout.insert(other, relation, params)
            other.execute("CHECKPOINT")
            ndjson[layout.name].append(time.perf_counter() - started)
            other.close()
            ndjson_file.unlink()
    built: list[tuple[Layout, LayoutResult]] = []
    for layout in layouts:
        owner = storage_of(layout)
        first = firsts[owner]
        result = LayoutResult(layout.name, owner, bytes=first.bytes, round_trip=first.round_trip)
        result.arrow_s = statistics.median(arrow[owner])
        result.ndjson_s = statistics.median(ndjson[owner])
        layout.prepare(cons[owner])
        built.append((layout, result))
    return built, cons, files


Runner = tuple[dict[str, float], dict[str, list[tuple[Any, ...]]], Callable[[], list[Any]]]


def ask_questions(
    built: list[tuple[Layout, LayoutResult]],
    cons: dict[str, duckdb.DuckDBPyConnection],
    ch: ClickHouse,
    ch_out: ChResult,
    runs: int,
) -> None:
    """Every question of every layout and of ClickHouse, timed in turns: each round runs every one
    once, starting one further along each round, so a change in the machine's load weighs on all."""
    for query in questions():
        progress(f"  {query.label}")
        runners: list[Runner] = []
        for layout, result in built:
            bind = Binder()
            sql = query.duckdb(layout.view(bind, KEYS), bind)

            def run(
                sql: str = sql, params: dict[str, object] = bind.values, con: Any = cons[result.table]
            ) -> list[Any]:
                rows: list[Any] = con.execute(sql, params).fetchall()
                return rows

            runners.append((result.query_ms, result.answers, run))
        for sql, times, answers in (
            (query.clickhouse, ch_out.query_ms, ch_out.answers),
            (on_json_table(query.clickhouse), ch_out.json_query_ms, ch_out.json_answers),
        ):

            def run_ch(sql: str = sql, params: dict[str, Any] = query.ch_params) -> list[Any]:
                return ch.query(sql, params)

            runners.append((times, answers, run_ch))
        for _, answers, run_one in runners:
            answers[query.label] = normalized(run_one())
        medians = in_turns([run_one for _, _, run_one in runners], runs, warmup=0)  # the answers warmed them
        for (times, _, _), ms in zip(runners, medians, strict=True):
            times[query.label] = ms


def ragged_round_trips(data: Data, results: list[LayoutResult], rows: int) -> list[Promoted]:
    """Each layout's round trip of a ragged metadata set (in memory, promoted from its own sample)."""
    table = data.table().slice(0, rows)
    spec = RaggedSpec(table.num_rows)
    ragged = table.set_column(
        table.schema.get_field_index("metadata"), "metadata", pa.array(ragged_metadata(spec, SEED))
    )
    probe = connect()
    probe.register("ragged_in", ragged)
    promoted = infer_promoted(probe, "ragged_in")
    probe.close()
    done: dict[str, RoundTrip] = {}
    for layout in all_layouts(promoted):
        owner = storage_of(layout)
        if owner not in done:
            con = connect()
            layout.create(con)
            con.register("ragged_in", ragged)
            layout.insert(con, "ragged_in")
            done[owner] = round_trip(con, layout, ragged.select(["seq", "metadata"]))
            con.close()
        next(r for r in results if r.name == layout.name).ragged = done[owner]
    return promoted


@dataclass
class ChResult:
    """ClickHouse's figures: ingest both ways, bytes (text index and tokenbf), query times, answers."""

    version: str = "?"
    arrow_s: float = 0.0
    file_s: float = 0.0
    merge_s: float = 0.0
    bytes: ChBytes | None = None
    tokenbf_bytes: ChBytes | None = None
    query_ms: dict[str, float] = field(default_factory=dict)
    answers: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    json_arrow_s: float = 0.0
    json_bytes: ChBytes | None = None
    json_query_ms: dict[str, float] = field(default_factory=dict)
    json_answers: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


def build_clickhouse(data: Data, tmp: Path) -> tuple[ChResult, ClickHouse]:
    """The ClickHouse reference filled (a chdb session in its own directory, left open)."""
    out = ChResult()
    ch = ClickHouse(tmp / "chdb")
    progress("ClickHouse: Arrow appends, file insert, merge")
    out.version = str(ch.query("SELECT version()")[0][0])
    ch.create("otel_logs")
    out.arrow_s = ch.append_arrow(data.batches)
    ch.create("otel_logs_file")
    out.file_s = ch.append_file(data.jsonl, "otel_logs_file")
    ch.drop("otel_logs_file")
    out.merge_s = ch.merge()
    out.bytes = ch.bytes()
    ch.create("otel_logs_bf", TOKENBF_INDEX)
    ch.session.query("INSERT INTO otel_logs_bf SELECT * FROM otel_logs")
    ch.merge("otel_logs_bf")
    out.tokenbf_bytes = ch.bytes("otel_logs_bf")
    ch.drop("otel_logs_bf")
    ch.create_json()
    out.json_arrow_s = ch.append_json(data.batches)
    ch.merge(JSON_TABLE)
    out.json_bytes = ch.bytes(JSON_TABLE)
    return out, ch


# -- disk --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rewrite:
    """A fixed column stored otherwise in a copy: its columns there, their SQL from the source row, and
    the SQL that gives the column back (checked against the source for every row)."""

    column: str
    defs: tuple[str, ...]
    selects: tuple[str, ...]
    restore: str


WORD = word_pattern((QUERY_WORD,))
_HEX_ID = "regexp_full_match(request_id, '[0-9a-f]{16}')"
REWRITES = {
    "request_id": Rewrite(
        "request_id",
        ("request_hex UBIGINT", "request_id VARCHAR"),
        (
            f"CASE WHEN {_HEX_ID} THEN CAST('0x' || request_id AS UBIGINT) END",
            f"CASE WHEN NOT {_HEX_ID} THEN request_id END",
        ),
        "coalesce(request_id, lpad(lower(printf('%x', request_hex)), 16, '0'))",
    ),
    # event times are milliseconds in nanoseconds: bit-packing has no common divisor, so the
    # milliseconds and the rest are stored apart
    "ts": Rewrite(
        "ts",
        ("ts_ms BIGINT", "ts_ns INTEGER"),
        ("ts // 1000000", "CAST(ts % 1000000 AS INTEGER)"),
        "ts_ms * 1000000 + ts_ns",
    ),
    # the severity is a function of the level (levelsql.sql_severity): not stored, computed on read
    "severity": Rewrite("severity", (), (), sql_severity("level")),
}


@dataclass(frozen=True)
class DiskVariant:
    """A copy of a layout's table: sort order, compression, row-group size, fixed columns rewritten."""

    name: str
    order: str = "seq"
    force: str = "auto"
    compress: tuple[tuple[str, str], ...] = ()  # (column, method) as `USING COMPRESSION`
    row_group: int = DEFAULT_ROW_GROUP
    rewrites: tuple[str, ...] = ()
    source: str = "promoted columns"


_ZSTD_MESSAGE = (("message", "zstd"),)
_ALL_REWRITES = ("request_id", "ts", "severity")
RECOMMENDED = "recommended: ingest order, message zstd, request_id UBIGINT, ts in ms, severity computed"
DISK_VARIANTS = (
    DiskVariant("promoted, ingest order, auto (baseline)"),
    DiskVariant("JSON text (today), ingest order, auto", source="JSON text (today)"),
    DiskVariant("sorted by ts", order="ts"),
    DiskVariant("sorted by source, ts", order="source, ts"),
    DiskVariant("sorted by level, source, ts", order="level, source, ts"),
    DiskVariant("force_compression = zstd", force="zstd"),
    DiskVariant("force_compression = dict_fsst", force="dict_fsst"),
    DiskVariant("force_compression = fsst", force="fsst"),
    DiskVariant("force_compression = dictionary", force="dictionary"),
    DiskVariant("message USING COMPRESSION zstd", compress=_ZSTD_MESSAGE),
    DiskVariant("row groups of 245,760", row_group=245_760),
    DiskVariant("row groups of 491,520", row_group=491_520),
    DiskVariant("request_id as UBIGINT (16 hex digits)", rewrites=("request_id",)),
    DiskVariant("ts as milliseconds + nanosecond rest", rewrites=("ts",)),
    DiskVariant("severity not stored", rewrites=("severity",)),
    DiskVariant("message zstd, sorted by source, ts", order="source, ts", compress=_ZSTD_MESSAGE),
    DiskVariant(
        "message zstd, sorted by level, source, ts", order="level, source, ts", compress=_ZSTD_MESSAGE
    ),
    DiskVariant(RECOMMENDED, compress=_ZSTD_MESSAGE, rewrites=_ALL_REWRITES),
    DiskVariant(
        "recommended, JSON text (today)",
        compress=_ZSTD_MESSAGE,
        rewrites=_ALL_REWRITES,
        source="JSON text (today)",
    ),
    DiskVariant(
        "recommended, row groups of 491,520",
        compress=_ZSTD_MESSAGE,
        rewrites=_ALL_REWRITES,
        row_group=491_520,
    ),
    DiskVariant(
        "recommended, sorted by level, source, ts",
        order="level, source, ts",
        compress=_ZSTD_MESSAGE,
        rewrites=_ALL_REWRITES,
    ),
)
# The queries a partition's sort order helps or hurts (timed on each copy that keeps the columns as
# they are).
SORT_QUERIES: tuple[tuple[str, str], ...] = (
    ("1 h time range, count", "SELECT count(*) FROM logs WHERE ts >= $a AND ts < $b"),
    ("newest 50 by ts", "SELECT seq, ts, message FROM logs ORDER BY ts DESC LIMIT 50"),
    ("level = ERROR, count", "SELECT count(*) FROM logs WHERE level = 'ERROR'"),
    ("page of 50 rows by seq", "SELECT seq, message FROM logs WHERE seq IN (SELECT unnest($seqs))"),
    ("p99(duration_ms) by source", "SELECT source, quantile_cont({duration}, 0.99) FROM logs GROUP BY 1"),
    # what a text search costs where the index cannot answer (the unindexed tail, long or odd words)
    ("word scan of message", "SELECT count(*) FROM logs WHERE regexp_matches(message, $w)"),
)


@dataclass
class DiskResult:
    variant: DiskVariant
    bytes: int
    seconds: float
    columns: dict[str, int]
    query_ms: dict[str, float] = field(default_factory=dict)
    lossless: bool = True


def column_bytes(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    """Bytes each column's segments take (from pragma_storage_info: a segment runs to the next one in
    its block, the last to the block's end; additional blocks are whole)."""
    block = int(con.execute("SELECT block_size FROM pragma_database_size() LIMIT 1").fetchall()[0][0])
    rows = con.execute(
        "WITH s AS (SELECT column_name, block_id, block_offset, additional_block_ids "
        "FROM pragma_storage_info($t) WHERE persistent AND block_id >= 0), "
        "o AS (SELECT *, lead(block_offset) OVER (PARTITION BY block_id ORDER BY block_offset) AS next "
        "FROM s) SELECT column_name, "
        "sum(coalesce(next, $b) - block_offset + $b * coalesce(len(additional_block_ids), 0)) "
        "FROM o GROUP BY 1",
        {"t": table, "b": block},
    ).fetchall()
    return {str(name): int(size) for name, size in rows}


def _ddl(con: duckdb.DuckDBPyConnection, variant: DiskVariant) -> tuple[str, str]:
    """The copy's column definitions and the SELECT list that fills them from the source table."""
    compress = dict(variant.compress)
    defs, select = [], []
    for name, kind, *_ in con.execute("DESCRIBE src.logs").fetchall():
        if name in variant.rewrites:
            defs += REWRITES[name].defs
            select += REWRITES[name].selects
            continue
        method = f" USING COMPRESSION {compress[name]}" if name in compress else ""
        defs.append(f"{name} {kind}{method}")
        select.append(name)
    return ", ".join(defs), ", ".join(select)


def _rewrites_lossless(con: duckdb.DuckDBPyConnection, variant: DiskVariant) -> bool:
    """Whether every rewritten column reads back as the source row's value."""
    for name in variant.rewrites:
        restore = REWRITES[name].restore
        wrong = con.execute(
            f"SELECT count(*) FROM (SELECT seq, {restore} AS v FROM d.logs) c JOIN src.logs s USING (seq) "
            f"WHERE c.v IS DISTINCT FROM s.{name}"
        ).fetchall()[0][0]
        if wrong:
            return False
    return True


def measure_disk(
    files: dict[str, Path], tmp: Path, data: Data, promoted: list[Promoted], runs: int
) -> list[DiskResult]:
    """Each disk variant: a copy of its source layout's table in a fresh file, its bytes and columns."""
    results = []
    duration = PromotedLayout(promoted).number("duration_ms", Binder())
    day = int(data.batches[0].column("ts")[0].as_py()) // 86_400_000_000_000 * 86_400_000_000_000
    hour = (day + 10 * 3_600_000_000_000, day + 11 * 3_600_000_000_000)
    page = list(range(max(1, data.rows // 2), max(1, data.rows // 2) + 50))
    kept: list[tuple[DiskResult, Path]] = []  # the copies whose queries are timed, at the end
    for variant in DISK_VARIANTS:
        progress(f"disk: {variant.name}")
        target = tmp / "disk.db"
        con = connect()
        con.execute("ATTACH $f AS src (READ_ONLY)", {"f": str(files[variant.source])})
        con.execute(f"ATTACH $f AS d (ROW_GROUP_SIZE {int(variant.row_group)})", {"f": str(target)})
        con.execute("SET force_compression = $m", {"m": variant.force})
        defs, select = _ddl(con, variant)
        started = time.perf_counter()
        con.execute(f"CREATE TABLE d.logs ({defs})")
        con.execute(f"INSERT INTO d.logs SELECT {select} FROM src.logs ORDER BY {variant.order}")
        con.execute("CHECKPOINT d")
        seconds = time.perf_counter() - started
        con.execute("SET force_compression = 'auto'")
        result = DiskResult(variant, target.stat().st_size, seconds, {})
        con.execute("USE d")
        result.columns = column_bytes(con, "logs")
        result.lossless = _rewrites_lossless(con, variant)
        con.close()
        if variant.source == "promoted columns" and not variant.rewrites and variant.force == "auto":
            kept.append((result, target.rename(tmp / f"copy-{len(kept)}.db")))
        else:
            target.unlink()
        results.append(result)
    progress("disk: the copies' queries, in turns")
    cons = [connect(path) for _, path in kept]
    try:
        for label, template in SORT_QUERIES:
            sql = template.format(duration=duration)
            params: dict[str, object] = {"a": hour[0], "b": hour[1], "seqs": page, "w": WORD}
            used = {k: v for k, v in params.items() if f"${k}" in sql}
            calls = [lambda con=con, sql=sql, used=used: con.execute(sql, used).fetchall() for con in cons]
            for (result, _), ms in zip(kept, in_turns(calls, runs), strict=True):
                result.query_ms[label] = ms
    finally:
        for con in cons:
            con.close()
        for _, path in kept:
            path.unlink()
    return results


# -- the text index ----------------------------------------------------------------------------------


@dataclass
class IndexResult:
    sizes: list[indexsize.IndexSize]
    phrases: list[indexsize.PhraseCost]


def measure_index(files: dict[str, Path], tmp: Path, runs: int) -> IndexResult:
    """Every index variant built from the stored rows, and the phrase costs without positions."""
    con = connect(files["JSON text (today)"])
    docs = [row[0] for row in con.execute(indexsize.DOCS_SQL).fetchall()]
    sizes = []
    for variant in (*indexsize.VARIANTS, *indexsize.best_variants()):
        progress(f"index: {variant.name}")
        size = indexsize.build(tmp / f"index-{len(sizes)}", variant, docs)
        sizes.append(size)
    by_name = {s.variant.name: s for s in sizes}
    positions = by_name[indexsize.BASELINE.name].index
    basic = by_name["message: basic (doc ids only)"].index
    phrases = [
        indexsize.phrase_cost(con, positions, basic, tokens, runs)
        for tokens in (("connection", "refused"), ("timeout", "after"))
    ]
    for size in sizes:
        del size.index
    con.close()
    return IndexResult(sizes, phrases)


# -- the report --------------------------------------------------------------------------------------


def per_log(n: float, rows: int) -> str:
    return f"{n / rows:.1f}"


def with_ratio(value: float, reference: float | None, text: str) -> str:
    if not reference:
        return text
    return f"{text} ({value / reference:.2f}×)"


def layouts_table(results: list[LayoutResult], ch: ChResult, rows: int) -> str:
    names = [r.name for r in results]
    lines = [
        "| | " + " | ".join(names) + " | ClickHouse, Map attributes | ClickHouse, JSON attributes |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for query in questions():
        ref = ch.query_ms.get(query.label)
        cells = [with_ratio(r.query_ms[query.label], ref, fmt_ms(r.query_ms[query.label])) for r in results]
        json_ms = ch.json_query_ms.get(query.label)
        cells += [fmt_ms(ref) if ref else "—", with_ratio(json_ms, ref, fmt_ms(json_ms)) if json_ms else "—"]
        lines.append(f"| {query.label} | " + " | ".join(cells) + " |")
    ingests: tuple[tuple[str, Callable[[LayoutResult], float], float, float | None], ...] = (
        ("Arrow append, 100k-row batches + CHECKPOINT", lambda r: r.arrow_s, ch.arrow_s, ch.json_arrow_s),
        ("INSERT … read_ndjson + CHECKPOINT", lambda r: r.ndjson_s, ch.file_s, None),
    )
    for label, seconds, ch_s, json_s in ingests:
        cells = [
            f"{fmt_rate(rows / seconds(r))} ({ch_s / seconds(r):.2f}×)"
            if ch_s
            else fmt_rate(rows / seconds(r))
            for r in results
        ]
        cells += [
            fmt_rate(rows / ch_s),
            f"{fmt_rate(rows / json_s)} ({ch_s / json_s:.2f}×)" if json_s else "—",
        ]
        lines.append(f"| {label}, logs/s | " + " | ".join(cells) + " |")
    ch_bytes = ch.bytes.total / rows if ch.bytes else None
    cells = [with_ratio(r.bytes / rows, ch_bytes, per_log(r.bytes, rows)) for r in results]
    for b in (ch.bytes, ch.json_bytes):
        cells.append(with_ratio(b.total / rows, ch_bytes, per_log(b.total, rows)) if b else "—")
    lines.append("| on disk, B/log (ClickHouse: with its Body text index) | " + " | ".join(cells) + " |")
    trips: tuple[tuple[str, Callable[[LayoutResult], RoundTrip]], ...] = (
        ("round trip, bench data", lambda r: r.round_trip),
        ("round trip, ragged set", lambda r: r.ragged),
    )
    for label, trip in trips:
        cells = [
            "lossless" if trip(r).lossless else f"{trip(r).rows - trip(r).same:,} of {trip(r).rows:,} differ"
            for r in results
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " | — | — |")
    return "\n".join(lines)


def answer_checks(results: list[LayoutResult], ch: ChResult) -> list[str]:
    """The questions whose answers differ from today's layout's (and ClickHouse's, where exact)."""
    today = results[0]
    notes = []
    for query in questions():
        want = today.answers[query.label]
        wrong = [r.name for r in results if r.answers[query.label] != want]
        for name, answers in (("ClickHouse", ch.answers), ("ClickHouse JSON", ch.json_answers)):
            if query.checked and answers.get(query.label) not in (None, want):
                wrong.append(name)
        if wrong:
            notes.append(f"{query.label}: {', '.join(wrong)} answer otherwise than today's layout")
    return notes


def _sum(columns: dict[str, int], *names: str) -> int:
    return sum(columns.get(n, 0) for n in names)


def disk_table(results: list[DiskResult], rows: int, ch: ChResult) -> str:
    labels = [label for label, _ in SORT_QUERIES]
    lines = [
        "| copy of the table | B/log | message | request_id | user_id | ts | severity | metadata fields | "
        + " | ".join(labels)
        + " |",
        "|---|" + "---|" * (7 + len(labels)),
    ]
    for r in results:
        c = r.columns
        meta = sum(v for k, v in c.items() if k.startswith("f") or k in ("rest", "metadata"))
        parts = (
            c.get("message", 0),
            _sum(c, "request_id", "request_hex"),
            c.get("user_id", 0),
            _sum(c, "ts", "ts_ms", "ts_ns"),
            c.get("severity", 0),
            meta,
        )
        times = [fmt_ms(r.query_ms[label]) if label in r.query_ms else "" for label in labels]
        flag = "" if r.lossless else " (**not lossless**)"
        lines.append(
            f"| {r.variant.name}{flag} | {per_log(r.bytes, rows)} | "
            + " | ".join(per_log(n, rows) for n in parts)
            + " | "
            + " | ".join(times)
            + " |"
        )
    for label, b in (
        ("Map", ch.bytes),
        ("JSON", ch.json_bytes),
        ("Map, tokenbf_v1 on Body,", ch.tokenbf_bytes),
    ):
        if b is None:
            continue
        c = b.columns
        lines.append(
            f"| ClickHouse otel_logs, {label} attributes (request_id, user_id, region, duration_ms, tags) | "
            f"{per_log(b.total, rows)} | {per_log(c.get('Body', 0), rows)} | (attributes) | (attributes) | "
            f"{per_log(_sum(c, 'Timestamp', 'TimestampTime'), rows)} | "
            f"{per_log(c.get('SeverityNumber', 0), rows)} | "
            f"{per_log(c.get('LogAttributes', 0), rows)} (all attributes) | "
            + " | ".join("" for _ in labels)
            + " |"
        )
    return "\n".join(lines)


def ch_index_line(ch: ChResult, rows: int) -> str:
    """What ClickHouse's Body index takes, beside tantivy's variants."""
    if ch.bytes is None or ch.tokenbf_bytes is None:
        return ""
    text = ch.bytes.indices.get("idx_body", 0) / rows
    tokenbf = ch.tokenbf_bytes.indices.get("idx_body", 0) / rows
    return (
        f"ClickHouse's Body index for comparison: text(splitByNonAlpha) {text:.1f} B/log, tokenbf_v1 "
        f"{tokenbf:.1f} B/log; its Body column (ZSTD(1), sorted by service and time) "
        f"{ch.bytes.columns.get('Body', 0) / rows:.1f} B/log."
    )


def index_table(result: IndexResult, rows: int) -> str:
    kinds = indexsize.FILE_KINDS
    lines = [
        "| index variant | B/log | segments | build s | " + " | ".join(f".{k}" for k in kinds) + " |",
        "|---|---|---|---|" + "---|" * len(kinds),
    ]
    for s in result.sizes:
        lines.append(
            f"| {s.variant.name} | {per_log(s.total, rows)} | {s.segments} | {s.seconds:.1f} | "
            + " | ".join(per_log(s.files.get(k, 0), rows) for k in kinds)
            + " |"
        )
    lines += [
        "",
        "| phrase | hits | candidates (both words) | count, positions | "
        "count, no positions (index + DuckDB check) | DuckDB scan alone | newest 50, positions | "
        "newest 50, no positions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in result.phrases:
        lines.append(
            f'| "{p.phrase}" | {p.hits:,} | {p.candidates:,} | {fmt_ms(p.with_positions_ms)} | '
            f"{fmt_ms(p.without_positions_ms)} | {fmt_ms(p.scan_ms)} | {fmt_ms(p.newest_with_ms)} | "
            f"{fmt_ms(p.newest_without_ms)} |"
        )
    return "\n".join(lines)


def totals(disk: list[DiskResult], index: IndexResult, ch: ChResult, rows: int) -> str:
    """Bytes per log of the DuckDB table and the text index together, against 60 B and ClickHouse."""
    today_disk = next(d for d in disk if d.variant.source == "JSON text (today)")
    recommended = next(d for d in disk if d.variant.name == RECOMMENDED)
    smallest = min(
        (d for d in disk if d.lossless and d.variant.source != "JSON text (today)"), key=lambda d: d.bytes
    )
    engine_index = index.sizes[0]
    lines = [
        "| DuckDB copy | text index | DuckDB | index | total B/log | vs 60 B | vs ClickHouse (Map, JSON) |",
        "|---|---|---|---|---|---|---|",
    ]
    combos = [(today_disk, engine_index)]
    combos += [(recommended, s) for s in index.sizes[1:]]
    if smallest is not recommended:
        combos += [(smallest, s) for s in index.sizes[-3:]]
    for d, s in combos:
        total = (d.bytes + s.total) / rows
        versus = ", ".join(f"{total / (b.total / rows):.2f}×" for b in (ch.bytes, ch.json_bytes) if b)
        lines.append(
            f"| {d.variant.name} | {s.variant.name} | {per_log(d.bytes, rows)} | {per_log(s.total, rows)} | "
            f"{total:.1f} | {'met' if total <= TARGET_BYTES else 'over'} | {versus} |"
        )
    return "\n".join(lines)


def choices(
    layouts: list[LayoutResult], ch: ChResult, disk: list[DiskResult], index: IndexResult, rows: int
) -> str:
    """Each choice with the figures of this run that decide it."""
    lay = {r.name: r for r in layouts}
    dsk = {d.variant.name: d for d in disk}
    idx = {s.variant.name: s.total / rows for s in index.sizes}
    p99 = "p99(duration_ms) by source"
    today, promoted = lay["JSON text (today)"], lay["promoted columns"]
    typed, as_double = lay["VARIANT, stored type"], lay["VARIANT, as DOUBLE"]

    def b(name: str) -> float:
        return dsk[name].bytes / rows

    def ms(name: str, label: str) -> float:
        return dsk[name].query_ms[label]

    zstd, zstd_sorted = "message USING COMPRESSION zstd", "message zstd, sorted by level, source, ts"
    base, engine, keep = (
        "promoted, ingest order, auto (baseline)",
        indexsize.ENGINE.name,
        "basic, fieldnorms off, one segment",
    )
    one = indexsize.BASELINE.name
    rec = b(RECOMMENDED)
    ch_map = ch.bytes.total / rows if ch.bytes else 0.0
    ch_json = ch.json_bytes.total / rows if ch.json_bytes else 0.0
    phrase = index.phrases[0]
    lines = [
        f"- Typed fields: p99 by source {fmt_ms(promoted.query_ms[p99])} promoted against "
        f"{fmt_ms(today.query_ms[p99])} today ({today.query_ms[p99] / promoted.query_ms[p99]:.0f}×), "
        f"{promoted.query_ms[p99] / ch.query_ms[p99]:.2f}× ClickHouse with Map attributes and "
        f"{promoted.query_ms[p99] / ch.json_query_ms[p99]:.2f}× with JSON attributes; Arrow ingest "
        f"{today.arrow_s / promoted.arrow_s:.2f}× today's rate, read_ndjson "
        f"{today.ndjson_s / promoted.ndjson_s:.2f}×; "
        f"{(promoted.bytes - today.bytes) / rows:+.1f} B/log. VARIANT: {fmt_ms(typed.query_ms[p99])} cast to "
        f"its stored type, {fmt_ms(as_double.query_ms[p99])} cast to DOUBLE, Arrow ingest "
        f"{today.arrow_s / typed.arrow_s:.2f}× today's.",
        f"- Sort order: with message zstd, (level, source, ts) saves {b(zstd) - b(zstd_sorted):.1f} B/log; "
        f"newest 50 then takes {fmt_ms(ms(zstd_sorted, 'newest 50 by ts'))} against "
        f"{fmt_ms(ms(zstd, 'newest 50 by ts'))}, a page of 50 by seq "
        f"{fmt_ms(ms(zstd_sorted, 'page of 50 rows by seq'))} "
        f"against {fmt_ms(ms(zstd, 'page of 50 rows by seq'))}.",
        f"- Compression: message zstd {b(base) - b(zstd):.1f} B/log less (message "
        f"{dsk[base].columns.get('message', 0) / rows:.1f} → "
        f"{dsk[zstd].columns.get('message', 0) / rows:.1f}); word scan "
        f"{fmt_ms(ms(zstd, 'word scan of message'))} against {fmt_ms(ms(base, 'word scan of message'))}; "
        f"force_compression = zstd {b('force_compression = zstd'):.1f} B/log, fsst "
        f"{b('force_compression = fsst'):.1f}.",
        f"- Fixed columns: request_id as UBIGINT {b(base) - b('request_id as UBIGINT (16 hex digits)'):.1f}, "
        f"ts as ms + rest {b(base) - b('ts as milliseconds + nanosecond rest'):.1f}, severity computed "
        f"{b(base) - b('severity not stored'):.1f} B/log less; row groups of 491,520 "
        f"{rec - b('recommended, row groups of 491,520'):.1f} less on the recommended copy.",
        f"- Text index: one segment {idx[engine] - idx[one]:.1f} B/log less, fieldnorms off "
        f"{idx[one] - idx['fieldnorms off']:.1f}, basic instead of positions "
        f"{idx[one] - idx['message: basic (doc ids only)']:.1f} (a phrase's count "
        f"{fmt_ms(phrase.with_positions_ms)} → "
        f"{fmt_ms(phrase.without_positions_ms)}, its newest 50 {fmt_ms(phrase.newest_with_ms)} → "
        f"{fmt_ms(phrase.newest_without_ms)}), filter fields out {idx[keep] - idx['+ message only']:.1f}, "
        f"digit-only tokens out {idx[keep] - idx['+ no digit-only tokens']:.1f}; the doc store "
        f"{index.sizes[0].files.get('store', 0) / rows:.1f} B/log whatever the options.",
        f"- Projected: recommended DuckDB copy {rec:.1f} + index ({keep}) {idx[keep]:.1f} = "
        f"{rec + idx[keep]:.1f} B/log; with the index of message only "
        f"{rec + idx['+ message only']:.1f}; that "
        f"and row groups of 491,520 {b('recommended, row groups of 491,520') + idx['+ message only']:.1f}; "
        f"target {TARGET_BYTES:.0f}, ClickHouse {ch_map:.1f} (Map) / {ch_json:.1f} (JSON).",
    ]
    return "\n".join(lines)


def promoted_line(promoted: list[Promoted], ragged: list[Promoted]) -> str:
    def show(ps: list[Promoted]) -> str:
        return ", ".join(f"`{p.key}` {p.sql_type} ({p.share:.0%})" for p in ps)

    return (
        f"Promoted on the bench data (keys in >= 1 % of rows): {show(promoted)}; on the ragged set: "
        f"{show(ragged)}."
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    loads = [os.getloadavg()[0]]
    progress(f"generating / reading {opts.rows:,} logs")
    data = load_data(opts.rows, opts.data_dir)
    rows = data.rows
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp_name:
        tmp = Path(tmp_name)
        probe = connect()
        probe.register("first_batch", data.batches[0])
        promoted = infer_promoted(probe, "first_batch")
        keys = [
            k
            for (k,) in probe.execute(
                "SELECT DISTINCT unnest(json_keys(metadata)) FROM first_batch"
            ).fetchall()
        ]
        probe.close()
        built, cons, files = build_layouts(data, tmp, promoted, keys, opts.ingest_rounds)
        ch, clickhouse = build_clickhouse(data, tmp)
        loads.append(os.getloadavg()[0])
        progress("questions, every layout and ClickHouse in turns")
        try:
            ask_questions(built, cons, clickhouse, ch, opts.runs)
        finally:
            clickhouse.close()
            for con in cons.values():
                con.close()
        layouts = [result for _, result in built]
        loads.append(os.getloadavg()[0])
        progress("ragged round trips")
        ragged = ragged_round_trips(data, layouts, min(rows, 100_000))
        disk = measure_disk(files, tmp, data, promoted, opts.runs)
        loads.append(os.getloadavg()[0])
        index = measure_index(files, tmp, opts.runs)
        loads.append(os.getloadavg()[0])
    fixed = ", ".join(name for name, _ in FIXED)
    head = run_line(
        started,
        f"{rows:,} bench logs, DuckDB {duckdb.__version__}, ClickHouse {ch.version} (chdb "
        f"{_version('chdb')}), tantivy-py {_version('tantivy')}, medians of {opts.runs} runs "
        f"after a warm-up (ingests: of {opts.ingest_rounds} rounds), 1-minute load average "
        f"{min(loads):.1f}-{max(loads):.1f} (2 cores shared)",
    )
    text = "\n\n".join(
        [
            f"**Typed fields.** Fixed columns in every DuckDB layout: {fixed}. Times are medians in ms, "
            "with the ratio to ClickHouse with Map attributes (the brief's reference); ingest rates with "
            "ClickHouse's time ÷ the layout's. *promoted, + remainder* reads a promoted key's column and "
            "the remainder (what a partition needs when some of the key's values did not fit the column); "
            "*VARIANT, stored type* casts to the type most values are stored as (shredded: read directly), "
            "*as DOUBLE* casts every value; the MAP holds each value's JSON text. The read_ndjson path "
            "reads the keys of the first batch (JSON-typed) and drops JSON nulls.",
            promoted_line(promoted, ragged),
            layouts_table(layouts, ch, rows),
            "**Disk.** Copies of a layout's table (one fresh file each, CHECKPOINTed); bytes per column from "
            "pragma_storage_info (a segment runs to the next one in its block); a rewritten column "
            "(request_id, ts, severity) is checked to read back as the source's for every row. The times "
            "are the sort orders' effect on the queries beside (copies that keep the columns as they are).",
            disk_table(disk, rows, ch),
            "**Text index** (tantivy): B/log by file kind. `.store` is the doc store: nothing is stored, yet "
            "tantivy writes each document's offset (4 B a document; no option turns it off). Phrases "
            "without positions: the index gives the documents holding every word, DuckDB checks their "
            "messages (the engine's phrase regex).",
            index_table(index, rows),
            ch_index_line(ch, rows),
            "**Totals**: DuckDB copy + text index, per log.",
            totals(disk, index, ch, rows),
            "**The choices in this run's figures.**",
            choices(layouts, ch, disk, index, rows),
        ]
    )
    notes = answer_checks(layouts, ch)
    publish(opts, section_text(head, text, notes), SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
