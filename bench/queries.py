"""The standard queries, each asked of the engine and, as SQL, of the DuckDB reference table.

Every query also has a comparable form of its answer (timestamps of a page, a count, group
counts...), so the suite can check that engine and reference agree on the same data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.demodata import DAY

RANGE_START = "2025-07-21T08:00:00Z"
RANGE_END = "2025-07-21T12:00:00Z"
PAGE = 50
# The whole day of the generated data, as a fixed absolute range (a relative `_time:24h` would miss it).
DAY_START = f"{DAY}T00:00:00Z"
DAY_END = (dt.date.fromisoformat(DAY) + dt.timedelta(days=1)).isoformat() + "T00:00:00Z"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)

EngineCall = Callable[[LogAnalyticsEngine], Any]
Normalize = Callable[[Any], Any]


@dataclass(frozen=True)
class BenchQuery:
    """One question: how the engine is asked, the reference SQL, and how to compare their answers."""

    label: str
    engine: EngineCall
    sql: str
    params: tuple[Any, ...]
    engine_answer: Normalize
    ref_answer: Normalize


def to_ns(value: dt.datetime) -> int:
    """A timezone-aware datetime as integer nanoseconds since the epoch (exact at µs precision)."""
    return (value - _EPOCH) // _MICRO * 1000


def _page_times(entries: Sequence[Any]) -> list[int]:
    return sorted(e.timestamp_ns for e in entries)


def _ref_page_times(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    return sorted(to_ns(r[0]) for r in rows)


def _page_severities(entries: Sequence[Any]) -> list[int]:
    return sorted(e.severity_score for e in entries)


def _ref_page_severities(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    return sorted(int(r[2]) for r in rows)


def _same(value: Any) -> Any:
    return value


def _ref_count(rows: Sequence[tuple[Any, ...]]) -> int:
    return int(rows[0][0])


def _ref_groups(rows: Sequence[tuple[Any, ...]]) -> dict[str, int]:
    return {str(k): int(c) for k, c in rows}


def _groups(result: dict[str, Any]) -> dict[str, int]:
    return {str(k): int(c) for k, c in result["group_by"].items()}


def _top_counts(key: str) -> Normalize:
    def answer(result: dict[str, Any]) -> list[int]:
        return sorted(int(c) for _, c in result[key])

    return answer


def _ref_top_counts(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    return sorted(int(c) for _, c in rows)


def _histogram(result: dict[str, Any]) -> list[tuple[int, int]]:
    return [(to_ns(dt.datetime.fromisoformat(k)), int(c)) for k, c in result["histogram"].items()]


def _ref_histogram(rows: Sequence[tuple[Any, ...]]) -> list[tuple[int, int]]:
    return [(to_ns(b), int(c)) for b, c in rows]


def _newest(filters: dict[str, Any]) -> EngineCall:
    def call(engine: LogAnalyticsEngine) -> Any:
        return engine.query_logs(filters, sort_by="timestamp", sort_desc=True, page=0, page_size=PAGE)

    return call


def _count(filters: dict[str, Any]) -> EngineCall:
    def call(engine: LogAnalyticsEngine) -> Any:
        return engine.count(filters)

    return call


def _filtered_pair(
    name: str, filters: dict[str, Any], where: str, params: tuple[Any, ...]
) -> list[BenchQuery]:
    """`name` newest 50 and `name` count, for the engine filters and the equivalent SQL WHERE."""
    page_sql = f"SELECT * FROM logs WHERE {where} ORDER BY ts DESC LIMIT {PAGE}"
    count_sql = f"SELECT count(*) FROM logs WHERE {where}"
    return [
        BenchQuery(
            f"{name}, newest {PAGE}", _newest(filters), page_sql, params, _page_times, _ref_page_times
        ),
        BenchQuery(f"{name}, count", _count(filters), count_sql, params, _same, _ref_count),
    ]


def word_pattern(word: str) -> str:
    """The reference's whole-word, case-insensitive regular expression for `word`."""
    if not word.isalnum():
        raise ValueError(f"benchmark word must be letters and digits only, got {word!r}")
    return rf"(?i)\b{word}\b"


@dataclass(frozen=True)
class StandardFilter:
    """One filtered question, three ways: engine dict filters, query-language text, reference SQL WHERE."""

    name: str
    filters: dict[str, Any]
    text: str
    where: str
    params: tuple[Any, ...]


def standard_filters(word: str, tag: str) -> list[StandardFilter]:
    """The four filtered questions of the suite (each asked as newest 50 and as a count)."""
    pattern = word_pattern(word)
    word_sql = "regexp_matches(message, ?)"
    range_sql = f"ts >= CAST(? AS TIMESTAMPTZ) AND ts <= CAST(? AS TIMESTAMPTZ) AND level = ? AND {word_sql}"
    return [
        StandardFilter("level=ERROR", {"level": "ERROR"}, "level:ERROR", "level = ?", ("ERROR",)),
        StandardFilter(f"word `{word}`", {"keyword": word}, word, word_sql, (pattern,)),
        StandardFilter(f"tag `{tag}`", {"tags": tag}, f"tags:{tag}", "list_contains(tags, ?)", (tag,)),
        StandardFilter(
            f"4 h range + ERROR + `{word}`",
            {"start_time": RANGE_START, "end_time": RANGE_END, "level": "ERROR", "keyword": word},
            # `]`: the dict filters' end_time is inclusive, so the same question closes the range
            f"_time:[{RANGE_START}, {RANGE_END}] level:ERROR {word}",
            range_sql,
            (RANGE_START, RANGE_END, "ERROR", pattern),
        ),
    ]


def query_set(word: str, tag: str) -> list[BenchQuery]:
    """The standard queries of the suite, in table order."""
    return [
        *(
            q
            for f in standard_filters(word, tag)
            for q in _filtered_pair(f.name, f.filters, f.where, f.params)
        ),
        BenchQuery(
            f"all logs by severity desc, page of {PAGE}",
            lambda e: e.query_logs(None, sort_by="severity", sort_desc=True, page=0, page_size=PAGE),
            f"SELECT * FROM logs ORDER BY severity DESC LIMIT {PAGE}",
            (),
            _page_severities,
            _ref_page_severities,
        ),
        BenchQuery(
            "group by source",
            lambda e: e.aggregate(None, group_by="source"),
            "SELECT source, count(*) FROM logs GROUP BY source ORDER BY 2 DESC",
            (),
            _groups,
            _ref_groups,
        ),
        BenchQuery(
            "top-10 sources of ERROR",
            lambda e: e.aggregate({"level": "ERROR"}, top_n={"source": 10}),
            "SELECT source, count(*) FROM logs WHERE level = ? GROUP BY source ORDER BY 2 DESC LIMIT 10",
            ("ERROR",),
            _top_counts("top_10_source"),
            _ref_top_counts,
        ),
        BenchQuery(
            "per-minute histogram, 24 h",
            lambda e: e.aggregate(None, histogram="timestamp", interval="1m"),
            "SELECT time_bucket(INTERVAL '1 minute', ts) AS b, count(*) FROM logs GROUP BY b ORDER BY b",
            (),
            _histogram,
            _ref_histogram,
        ),
    ]


# -- the query language ------------------------------------------------------------------------------

# A ~200-character query touching most of the grammar: a half-open time range, `in` lists, a negation,
# a group with OR, a phrase, a prefix, and a stats pipe with a time bucket, an alias and a numeric function.
PARSE_QUERY = (
    f"_time:[{RANGE_START}, {RANGE_END}) level:in(ERROR, FATAL) source:in(payments, checkout)"
    ' -tags:canary ("connection refused" OR timeout*) | stats by (_time:5m, source) count() as n,'
    " avg(duration_ms)"
)
PARSE_RUNS = 1_000


@dataclass(frozen=True)
class LanguageSearch:
    """A standard filtered question as query text through `search(limit=50)`, against the dict-filter
    path of the same question: `query_logs` newest 50 + `count`."""

    label: str
    text: str
    filters: dict[str, Any]

    def language(self, engine: LogAnalyticsEngine) -> Any:
        return engine.search(self.text, limit=PAGE)

    def dict_path(self, engine: LogAnalyticsEngine) -> Any:
        page = engine.query_logs(self.filters, sort_by="timestamp", sort_desc=True, page=0, page_size=PAGE)
        return page, engine.count(self.filters)


def search_answer(result: Any) -> dict[str, Any]:
    """A `search` result as total and page seqs, newest first."""
    return {"total": int(result.total), "page": [e.seq for e in result.logs]}


def dict_answer(result: tuple[Any, int]) -> dict[str, Any]:
    """A dict-filter page and count in the same shape as `search_answer`."""
    page, total = result
    return {"total": int(total), "page": [e.seq for e in page]}


def language_searches(word: str, tag: str) -> list[LanguageSearch]:
    """The standard filtered questions written in the language, in table order."""
    return [LanguageSearch(f.name, f.text, f.filters) for f in standard_filters(word, tag)]


@dataclass(frozen=True)
class LanguageQuery(BenchQuery):
    """A query-language text with pipes, run by `engine.run`, with its time target."""

    target_ms: float = 0.0
    note: str = ""


def _run(text: str) -> EngineCall:
    def call(engine: LogAnalyticsEngine) -> Any:
        return engine.run(text)

    return call


def _value(column: str, value: Any) -> Any:
    if column == "_time":
        return to_ns(dt.datetime.fromisoformat(value))
    return int(value) if isinstance(value, int) else str(value)


def _rows(*columns: str, ordered: bool = False) -> Normalize:
    """`run` rows as tuples of the named columns (times as ns): in the engine's order, or sorted."""

    def answer(result: Any) -> list[tuple[Any, ...]]:
        rows = [tuple(_value(c, row[c]) for c in columns) for row in result.rows]
        return rows if ordered else sorted(rows)

    return answer


def _ref_rows(*, ordered: bool = False) -> Normalize:
    """Reference rows the same way (TIMESTAMPTZ as ns)."""

    def answer(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        out = [
            tuple(
                to_ns(v) if isinstance(v, dt.datetime) else int(v) if isinstance(v, int) else str(v)
                for v in r
            )
            for r in rows
        ]
        return out if ordered else sorted(out)

    return answer


def phrase_pattern(*words: str) -> str:
    """The reference's case-insensitive regular expression for consecutive whole words."""
    for word in words:
        word_pattern(word)  # validates
    return r"(?i)\b" + r"\W+".join(words) + r"\b"


def _language(
    text: str, sql: str, params: tuple[Any, ...], columns: tuple[str, ...], **kw: Any
) -> LanguageQuery:
    """A LanguageQuery labelled by its text; `ordered` compares rows in order (else as sorted lists)."""
    ordered = kw.pop("ordered", False)
    return LanguageQuery(
        text, _run(text), sql, params, _rows(*columns, ordered=ordered), _ref_rows(ordered=ordered), **kw
    )


def language_query_set() -> list[LanguageQuery]:
    """The query-language questions with pipes, each run by `engine.run` and, as SQL, by the reference."""
    return [
        _language(
            "error | stats by (source) count()",
            "SELECT source, count(*) FROM logs WHERE regexp_matches(message, ?) GROUP BY source",
            (word_pattern("error"),),
            ("source", "count()"),
            target_ms=30,
        ),
        _language(
            f"_time:[{DAY_START}, {DAY_END}) | stats by (_time:1m, level) count()",
            "SELECT time_bucket(INTERVAL '1 minute', ts) AS b, level, count(*) FROM logs "
            "WHERE ts >= CAST(? AS TIMESTAMPTZ) AND ts < CAST(? AS TIMESTAMPTZ) GROUP BY b, level",
            (DAY_START, DAY_END),
            ("_time", "level", "count()"),
            target_ms=30,
            note=f"a fixed 24 h range, as the data is all of {DAY}",
        ),
        _language(
            '"connection refused" level:ERROR | top 10 by (source)',
            "SELECT source, count(*) AS n FROM logs WHERE regexp_matches(message, ?) AND level = ? "
            "GROUP BY source ORDER BY n DESC, source LIMIT 10",
            (phrase_pattern("connection", "refused"), "ERROR"),
            ("source", "hits"),
            ordered=True,
            target_ms=20,
        ),
    ]
