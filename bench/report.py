"""Turn the measurements of each size into the one markdown table the suite prints.

Columns per size: the engine's figure, the DuckDB reference's figure, and engine ÷ reference.
For rates (logs/s, MB/s) a ratio above 1 means the engine is faster; for times, memory and
bytes a ratio below 1 means the engine is better.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.http import (
    INGEST_CONNECTIONS,
    LOGS_PATH,
    PACED_RATE,
    SEARCH_LIMIT,
    SEARCH_PATH,
    SEARCH_QUERY,
    SEARCH_REQUESTS,
    TAIL_PATH,
    TAIL_PROBES,
)
from bench.queries import (
    PAGE,
    PARSE_QUERY,
    PARSE_RUNS,
    language_query_set,
    language_searches,
    query_set,
)

Cell = tuple[str, str, str]  # engine, reference, ratio
DASH = "—"


@dataclass(frozen=True)
class Row:
    """One measure: its label and how to render its three cells from one size's results."""

    label: str
    cells: Callable[[dict[str, Any]], Cell]


def fmt_rate(per_s: float, unit: str = "/s") -> str:
    """312k/s, 1.25M/s."""
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f}M{unit}"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.0f}k{unit}"
    return f"{per_s:.0f}{unit}"


def fmt_ms(ms: float) -> str:
    """Milliseconds with about three significant digits."""
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_size(n: int) -> str:
    """10k, 100k, 1M."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def ratio(engine: float | None, ref: float | None) -> str:
    """engine ÷ reference, or a dash when either is missing."""
    if engine is None or ref is None or ref == 0:
        return DASH
    return f"{engine / ref:.2f}×"


def _get(result: dict[str, Any], *path: str) -> Any:
    """A nested value, or None when a phase failed or the key is absent."""
    node: Any = result
    for key in path:
        if not isinstance(node, dict) or "error" in node or key not in node:
            return None
        node = node[key]
    return node


def _per(numerator: Any, denominator: Any) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)


def _show(value: float | None, fmt: Callable[[float], str]) -> str:
    return "error" if value is None else fmt(value)


def _pair_row(
    label: str,
    engine: Callable[[dict[str, Any]], float | None],
    ref: Callable[[dict[str, Any]], float | None] | None,
    fmt: Callable[[float], str],
) -> Row:
    """A row whose engine and reference figures are numbers with the same unit (ref may be absent)."""

    def cells(result: dict[str, Any]) -> Cell:
        e = engine(result)
        r = ref(result) if ref is not None else None
        return _show(e, fmt), (_show(r, fmt) if ref is not None else DASH), ratio(e, r)

    return Row(label, cells)


def _file(side: str, key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda res: _get(res, "file", side, key)


def _file_rate(side: str, numerator: str, *seconds: str) -> Callable[[dict[str, Any]], float | None]:
    def rate(res: dict[str, Any]) -> float | None:
        parts = [_get(res, "file", side, s) for s in seconds]
        if any(p is None for p in parts):
            return None
        return _per(_get(res, "file", side, numerator), sum(parts))

    return rate


def _file_rows() -> list[Row]:
    mb = 1e6
    return [
        _pair_row(
            "JSONL file ingest, durable (ref: INSERT read_ndjson + CHECKPOINT)",
            _file_rate("engine", "count", "ingest_s"),
            _file_rate("ref", "count", "ingest_s"),
            fmt_rate,
        ),
        _pair_row(
            "JSONL file ingest, MB/s",
            lambda r: _per(_file_rate("engine", "bytes", "ingest_s")(r), mb),
            lambda r: _per(_file_rate("ref", "bytes", "ingest_s")(r), mb),
            lambda v: f"{v:.1f} MB/s",
        ),
        _pair_row(
            "index catch-up: `flush()` right after the file ingest",
            _file_rate("engine", "count", "flush_s"),
            None,
            fmt_rate,
        ),
        _pair_row(
            "file ingest + index catch-up + `close()` (ref: ingest + CHECKPOINT)",
            _file_rate("engine", "count", "ingest_s", "flush_s", "close_s"),
            _file_rate("ref", "count", "ingest_s"),
            fmt_rate,
        ),
        _pair_row(
            "peak RSS of the file ingest (child process)",
            _file("engine", "peak_rss_ingest_mb"),
            _file("ref", "peak_rss_ingest_mb"),
            lambda v: f"{v:.0f} MB",
        ),
        _pair_row(
            "peak RSS of file ingest + index catch-up",
            _file("engine", "peak_rss_flush_mb"),
            None,
            lambda v: f"{v:.0f} MB",
        ),
        _disk_row(),
    ]


def _disk_row() -> Row:
    """Bytes per log on disk, with the text index's share and the DuckDB free blocks inside the total."""

    def per_log(res: dict[str, Any], side: str, key: str) -> float | None:
        return _per(_get(res, "file", side, key), _get(res, "file", side, "count"))

    def cells(res: dict[str, Any]) -> Cell:
        e, r = per_log(res, "engine", "disk_bytes"), per_log(res, "ref", "disk_bytes")
        duckdb_part = per_log(res, "engine", "duckdb_bytes")
        e_free, r_free = per_log(res, "engine", "duckdb_free_bytes"), per_log(res, "ref", "duckdb_free_bytes")
        engine = _show(e, lambda v: f"{v:.0f} B")
        if e is not None and duckdb_part is not None and e_free is not None:
            engine += f" (text index {e - duckdb_part:.0f}, DuckDB free blocks {e_free:.0f})"
        ref = _show(r, lambda v: f"{v:.0f} B")
        if r_free is not None:
            ref += f" (free blocks {r_free:.0f})"
        return engine, ref, ratio(e, r)

    return Row("on disk after close, bytes/log (of which …)", cells)


def _batch_row() -> Row:
    def cells(res: dict[str, Any]) -> Cell:
        e = _per(_get(res, "batch", "engine", "count"), _get(res, "batch", "engine", "ingest_s"))
        r = _per(_get(res, "batch", "ref", "count"), _get(res, "batch", "ref", "ingest_s"))
        note = f" ({fmt_size(res['batch_n'])} logs)" if res["batch_n"] != res["n"] else ""
        return _show(e, fmt_rate) + note, _show(r, fmt_rate), ratio(e, r)

    return Row("batch ingest: `ingest_logs` of 1,000-entry batches (ref: Arrow INSERT per batch)", cells)


def _rules_row() -> Row:
    def cells(res: dict[str, Any]) -> Cell:
        e = _per(_get(res, "batch", "rules", "count"), _get(res, "batch", "rules", "ingest_s"))
        plain = _per(_get(res, "batch", "engine", "count"), _get(res, "batch", "engine", "ingest_s"))
        evaluations = _get(res, "batch", "rules", "evaluations") or 0
        seconds = _get(res, "batch", "rules", "evaluation_s")
        alerts = _get(res, "batch", "rules", "alerts")
        per_batch = (
            f", {seconds / evaluations * 1000:.2f} ms/batch evaluating, {alerts} alerts fired"
            if evaluations and seconds
            else ""
        )
        return _show(e, fmt_rate) + per_batch, _show(plain, fmt_rate), ratio(e, plain)

    return Row(
        "batch ingest with 10 alert rules (middle column: the same without rules; target ≥ 0.80×)", cells
    )


def _query_ms(side: str, label: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda res: _get(res, "queries", side, "queries", label, "ms")


def _query_rows(word: str, tag: str) -> list[Row]:
    rows = [
        _pair_row(
            "open the stored data (reopen / connect)",
            lambda r: _per(_get(r, "queries", "engine", "open_s"), 1e-3),
            lambda r: _per(_get(r, "queries", "ref", "open_s"), 1e-3),
            fmt_ms,
        )
    ]
    for q in query_set(word, tag):
        rows.append(
            _pair_row(
                f"query: {q.label} (median)",
                _query_ms("engine", q.label),
                _query_ms("ref", q.label),
                fmt_ms,
            )
        )
    return rows


# The language's cost against the dict-filter path of the same question: at most 10 % more.
LANGUAGE_RATIO_TARGET = 1.10
PARSE_TARGET_US = 1000.0


def _over(text: str, value: float | None, target: float) -> str:
    """The cell text, marked when the value misses its target."""
    return text + " (over target)" if value is not None and value > target else text


def _language(res: dict[str, Any], side: str, *path: str) -> Any:
    return _get(res, "queries", side, "language", *path)


def _language_rows(word: str, tag: str) -> list[Row]:
    """The query-language rows: the standard filtered questions through `search` against their dict-filter
    path, the pipe queries through `run` against the reference SQL, and `parse` of a long query."""
    rows = []
    for s in language_searches(word, tag):

        def search_cells(res: dict[str, Any], label: str = s.label) -> Cell:
            e = _language(res, "engine", "searches", label, "ms")
            d = _language(res, "engine", "searches", label, "dict_ms")
            r = None if e is None or d is None or d == 0 else e / d
            return _show(e, fmt_ms), _show(d, fmt_ms), _over(ratio(e, d), r, LANGUAGE_RATIO_TARGET)

        rows.append(
            Row(
                f"language: `search('{s.text}', limit={PAGE})`, page + total (median; middle column: "
                f"dict filters, `query_logs` page + `count`; ratio language ÷ dict, "
                f"target ≤ {LANGUAGE_RATIO_TARGET:.2f}×)",
                search_cells,
            )
        )
    for q in language_query_set():

        def run_cells(res: dict[str, Any], label: str = q.label, target: float = q.target_ms) -> Cell:
            e = _language(res, "engine", "runs", label, "ms")
            r = _language(res, "ref", "runs", label, "ms")
            return _over(_show(e, fmt_ms), e, target), _show(r, fmt_ms), ratio(e, r)

        note = f"{q.note}; " if q.note else ""
        rows.append(
            Row(f"language: `run('{q.label}')` (median; {note}target ≤ {q.target_ms:g} ms)", run_cells)
        )

    def parse_cells(res: dict[str, Any]) -> Cell:
        us = _language(res, "engine", "parse_us")
        return _over(_show(us, lambda v: f"{v:.0f} µs"), us, PARSE_TARGET_US), DASH, DASH

    rows.append(
        Row(
            f"language: `parse()` of a {len(PARSE_QUERY)}-character query "
            f"(median of {PARSE_RUNS:,}; target ≤ 1 ms)",
            parse_cells,
        )
    )
    return rows


# The HTTP server's targets (bench/http.py).
HTTP_INGEST_TARGET = 100_000.0  # logs/s acknowledged
SEARCH_P50_TARGET_MS = 15.0
SEARCH_P99_TARGET_MS = 100.0
TAIL_TARGET_MS = 1000.0
PACE_KEPT = 0.95  # an achieved ingest rate below this share of the pace is marked


def _http(res: dict[str, Any], side: str, *path: str) -> Any:
    return _get(res, "http", side, *path)


def _http_ingest_row() -> Row:
    def cells(res: dict[str, Any]) -> Cell:
        e = _per(_http(res, "engine", "ingest", "count"), _http(res, "engine", "ingest", "ingest_s"))
        r = _per(_http(res, "ref", "count"), _http(res, "ref", "ingest_s"))
        note = f" ({fmt_size(res['batch_n'])} logs)" if res["batch_n"] != res["n"] else ""
        under = " (under target)" if e is not None and e < HTTP_INGEST_TARGET else ""
        return _show(e, fmt_rate) + note + under, _show(r, fmt_rate), ratio(e, r)

    return Row(
        f"HTTP ingest: `POST {LOGS_PATH}` NDJSON, 1,000 logs per request over {INGEST_CONNECTIONS} "
        f"connections, logs/s acknowledged (middle column: the same bodies through `ingest_ndjson` "
        f"in-process, one call per body, no HTTP; the ratio is the HTTP overhead; "
        f"target ≥ {fmt_rate(HTTP_INGEST_TARGET)})",
        cells,
    )


def _http_search_rows() -> list[Row]:
    rows = []
    for name, target in (("p50", SEARCH_P50_TARGET_MS), ("p99", SEARCH_P99_TARGET_MS)):
        key = f"{name}_ms"

        def cells(res: dict[str, Any], key: str = key, target: float = target) -> Cell:
            e = _http(res, "engine", "search", key)
            idle = _http(res, "engine", "search", "idle", key)
            rate = _http(res, "engine", "search", "ingest_rate")
            lag = _http(res, "engine", "search", "index_lag_after")
            text = _over(_show(e, fmt_ms), e, target)
            if rate is not None:
                slow = " (below the pace)" if rate < PACED_RATE * PACE_KEPT else ""
                text += f", ingest {fmt_rate(rate)}{slow}, text index {fmt_size(lag)} logs behind at the end"
            return text, _show(idle, fmt_ms), ratio(e, idle)

        rows.append(
            Row(
                f"HTTP search under ingest: `GET {SEARCH_PATH}?q={SEARCH_QUERY}&limit={SEARCH_LIMIT}`, "
                f"{name} of {SEARCH_REQUESTS} on one connection while {INGEST_CONNECTIONS} others post "
                f"1,000-log requests paced at {fmt_rate(PACED_RATE, ' logs/s')} in all (cell: ingest rate "
                f"achieved and the text index's lag when the searches end; middle column: the same "
                f"searches on the idle, fully indexed server; target ≤ {target:g} ms)",
                cells,
            )
        )
    return rows


def _http_tail_rows() -> list[Row]:
    rows = []
    for key, name in (("median_ms", "median"), ("max_ms", "max")):

        def cells(res: dict[str, Any], key: str = key) -> Cell:
            e = _http(res, "engine", "tail", key)
            return _over(_show(e, fmt_ms), e, TAIL_TARGET_MS), DASH, DASH

        rows.append(
            Row(
                f"HTTP live tail: `GET {TAIL_PATH}?q=<unique word>` (SSE), from a one-log POST's answer "
                f"to its `data:` line read, {name} of {TAIL_PROBES} (target ≤ {TAIL_TARGET_MS / 1000:g} s)",
                cells,
            )
        )
    return rows


def _hits_row(word: str, tag: str) -> Row:
    counts = [q.label for q in query_set(word, tag) if q.label.endswith(", count")]

    def side(res: dict[str, Any], name: str) -> list[Any]:
        return [_get(res, "queries", name, "queries", label, "answer") for label in counts]

    def cells(res: dict[str, Any]) -> Cell:
        e, r = side(res, "engine"), side(res, "ref")
        show = (
            " / ".join(DASH if v is None else f"{v:,}" for v in e),
            " / ".join(DASH if v is None else f"{v:,}" for v in r),
        )
        return show[0], show[1], "same" if e == r else "DIFFERENT"

    names = " / ".join(label.removesuffix(", count") for label in counts)
    return Row(f"matching logs: {names}", cells)


def _memory_row() -> Row:
    def side(res: dict[str, Any], name: str) -> str:
        before = _get(res, "queries", name, "rss_before_mb")
        after = _get(res, "queries", name, "rss_after_mb")
        return "error" if before is None or after is None else f"{before:.0f} → {after:.0f} MB"

    def cells(res: dict[str, Any]) -> Cell:
        return side(res, "engine"), side(res, "ref"), DASH

    return Row("RSS before → after the query set run many times (see header)", cells)


def mismatches(res: dict[str, Any], word: str, tag: str) -> list[str]:
    """What the engine got wrong: stored counts other than the logs given, answers unlike the reference's."""
    out = []
    if _get(res, "file", "engine", "count") != res["n"]:
        out.append("file ingest count")
    if _get(res, "file", "engine", "rejected") != 0 or _get(res, "file", "engine", "bad_timestamps") != 0:
        out.append("file ingest rejected lines or bad timestamps")
    if _get(res, "batch", "engine", "count") != res["batch_n"]:
        out.append("batch ingest count")
    http_counts = [_http(res, "engine", "ingest", k) for k in ("count", "stored")]
    if http_counts != [res["batch_n"]] * 2 or _http(res, "engine", "ingest", "rejected") != 0:
        out.append("HTTP ingest count (accepted, stored or rejected)")
    for q in query_set(word, tag):
        e = _get(res, "queries", "engine", "queries", q.label, "answer")
        r = _get(res, "queries", "ref", "queries", q.label, "answer")
        if e is None or r is None or e != r:
            out.append(q.label)
    for s in language_searches(word, tag):
        e = _language(res, "engine", "searches", s.label, "answer")
        d = _language(res, "engine", "searches", s.label, "dict_answer")
        if e is None or d is None or e != d:
            out.append(f"language `{s.text}` vs dict filters")
    for lq in language_query_set():
        e = _language(res, "engine", "runs", lq.label, "answer")
        r = _language(res, "ref", "runs", lq.label, "answer")
        if e is None or r is None or e != r:
            out.append(f"language `{lq.label}`")
    return out


def check_count(word: str, tag: str) -> int:
    """How many checks `mismatches` makes: the three ingest counts (file, batch, HTTP), a clean file
    ingest, every standard query against the reference, every language search against its dict-filter
    path, every language pipe query against the reference."""
    return 4 + len(query_set(word, tag)) + len(language_searches(word, tag)) + len(language_query_set())


def _agree_row(word: str, tag: str) -> Row:
    total = check_count(word, tag)

    def cells(res: dict[str, Any]) -> Cell:
        bad = mismatches(res, word, tag)
        text = f"{total - len(bad)}/{total} agree" + (f"; differ: {'; '.join(bad)}" if bad else "")
        return text, DASH, DASH

    return Row(
        "checks: logs stored = logs given; query answers = the reference's; language answers = the "
        "dict filters' (search totals and page ids) and the reference's (pipe queries)",
        cells,
    )


def all_rows(word: str, tag: str) -> list[Row]:
    """Every row of the table, in order."""
    return [
        *_file_rows(),
        _batch_row(),
        _rules_row(),
        *_query_rows(word, tag),
        *_language_rows(word, tag),
        _http_ingest_row(),
        *_http_search_rows(),
        *_http_tail_rows(),
        _hits_row(word, tag),
        _memory_row(),
        _agree_row(word, tag),
    ]


def render_table(results: Sequence[dict[str, Any]], word: str, tag: str) -> str:
    """The markdown table: one row per measure, three columns per size."""
    header = ["measure"]
    for res in results:
        size = fmt_size(res["n"])
        header += [f"{size} engine", f"{size} DuckDB", f"{size} engine/DuckDB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in all_rows(word, tag):
        cells = [row.label]
        for res in results:
            cells.extend(row.cells(res))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def errors(results: Sequence[dict[str, Any]]) -> list[str]:
    """One line per phase that raised, naming the size and the phase."""
    out = []
    for res in results:
        for phase in ("file", "batch", "queries", "http"):
            for side in ("engine", "ref"):
                failed = res.get(phase, {}).get(side, {})
                if isinstance(failed, dict) and "error" in failed:
                    out.append(f"{fmt_size(res['n'])} {phase}/{side}: {failed['error']}")
                for part, sub in failed_parts(failed).items():
                    out.append(f"{fmt_size(res['n'])} {phase}/{side} {part}: {sub['error']}")
    return out


def failed_parts(result: Any) -> dict[str, dict[str, Any]]:
    """The parts of a phase's result that failed on their own (the query-language rows; the HTTP
    ingest, search, tail, server stop), by name."""
    if not isinstance(result, dict) or "error" in result:
        return {}
    return {k: v for k, v in result.items() if isinstance(v, dict) and "error" in v}
