"""Query text through the engine: `search` pages with cursors, `run` executes pipes in SQL."""

from __future__ import annotations

import statistics
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from log_analytics_engine import LogAnalyticsEngine, LogEntry, QueryError
from log_analytics_engine.query.ast import resolve_time
from log_analytics_engine.query.dictfilters import compile_filters
from log_analytics_engine.query.evaluate import evaluate
from log_analytics_engine.query.parser import parse_filter

NS = 1_000_000_000
T0 = 1_753_099_200  # 2025-07-21T12:00:00Z
SOURCES = ("api", "db", "payments", "auth")
WORDS = ("timeout", "refused", "cache", "login", "disk", "payment")


def _logs(n: int) -> list[LogEntry]:
    out = []
    for i in range(n):
        out.append(
            LogEntry(
                (T0 + i // 3) * NS,  # three logs share each second: cursor ties
                ("INFO", "ERROR", "WARN", "DEBUG")[i % 4 if i % 7 else 1],
                f"{WORDS[i % 6]} event {i} {WORDS[(i * 5) % 6]}",
                source=SOURCES[i % 4],
                tags=[("blue", "green")[i % 2]],
                user_id=f"u{i % 9}",
                request_id=str(i),
                metadata={"duration_ms": (i * 37) % 1000, "region": ("eu", "us")[i % 2]},
            )
        )
    return out


@pytest.fixture(scope="module")
def loaded() -> tuple[LogAnalyticsEngine, list[LogEntry]]:
    """An in-memory engine with 1,200 logs, half of them in the text index."""
    logs = _logs(1200)
    engine = LogAnalyticsEngine(clock=lambda: T0 + 400.0, index_interval=3600)
    engine.ingest_logs(logs[:600])
    engine.flush()
    engine.ingest_logs(logs[600:])
    return engine, logs


def _ids(logs: list[LogEntry]) -> list[str]:
    return [str(log.request_id) for log in logs]


@pytest.mark.parametrize(
    "query",
    [
        "timeout",
        "timeout refused",
        "timeout OR disk",
        "NOT level:INFO",
        "level:error source:db",
        "-source:api cache",
        "tags:blue user_id:u3",
        "source:pay*",
        "log*",
        'message:~"event 1[0-9]+ "',
        "duration_ms:>500",
        "region:eu duration_ms:<=100",
        "_time:[2025-07-21T12:01:00Z, 2025-07-21T12:02:00Z)",
        "_time:>=2025-07-21T12:05:00Z level:in(WARN, DEBUG)",
        "_time:5m",
        "user_id:*",
        "(timeout OR cache) NOT level:ERROR",
    ],
)
def test_search_matches_the_reference_evaluator(
    loaded: tuple[LogAnalyticsEngine, list[LogEntry]], query: str
) -> None:
    """Every page of `search` (cursor after cursor) together is exactly the matching logs, newest first."""
    engine, logs = loaded
    node = parse_filter(query)
    node = resolve_time(node, (T0 + 400) * NS)
    want = sorted(
        (log for log in logs if evaluate(node, log)),
        key=lambda e: (e.timestamp_ns, int(e.request_id or 0)),
        reverse=True,
    )
    pages, cursor = [], None
    while True:
        result = engine.search(query, limit=37, cursor=cursor)
        assert result.total == len(want)
        pages.extend(result.logs)
        cursor = result.cursor
        if cursor is None:
            break
    assert _ids(pages) == _ids(want)


def test_search_bounds_and_dict_filters_agree(loaded: tuple[LogAnalyticsEngine, list[LogEntry]]) -> None:
    """`search` with start/end equals `query_logs` with the same dict filter, newest first."""
    engine, _ = loaded
    result = engine.search(
        "level:ERROR", start="2025-07-21T12:01:00Z", end="2025-07-21T12:03:00Z", limit=1000
    )
    flt = {"level": "ERROR", "start_time": "2025-07-21T12:01:00Z", "end_time": "2025-07-21T12:03:00Z"}
    assert _ids(result.logs) == _ids(engine.query_logs(flt, sort_desc=True))
    assert result.total == engine.count(flt)
    assert result.cursor is None


def test_cursor_pages_are_stable_while_ingesting() -> None:
    """Pages taken while newer logs keep arriving neither repeat nor skip the older logs."""
    engine = LogAnalyticsEngine(index_interval=0.01)
    engine.ingest_logs(_logs(900))
    first = engine.search("*", limit=100)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            engine.ingest_log(LogEntry((T0 + 10_000 + i) * NS, "INFO", f"new {i}"))
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen, cursor = list(first.logs), first.cursor
        while cursor:
            page = engine.search("*", limit=100, cursor=cursor)
            seen.extend(page.logs)
            cursor = page.cursor
    finally:
        stop.set()
        thread.join()
    assert sorted(_ids(seen), key=int) == [str(i) for i in range(900)]


def test_stats_by_source_matches_python(loaded: tuple[LogAnalyticsEngine, list[LogEntry]]) -> None:
    """`stats by (source) count() as n` counts the matching logs per source."""
    engine, logs = loaded
    result = engine.run("level:ERROR | stats by (source) count() as n")
    assert result.columns == ["source", "n"]
    want = Counter(log.source for log in logs if log.level == "ERROR")
    assert {row["source"]: row["n"] for row in result.rows} == dict(want)


def test_stats_time_buckets_and_numeric_functions(loaded: tuple[LogAnalyticsEngine, list[LogEntry]]) -> None:
    """Time buckets align to UTC minutes; sum/avg/min/max/quantile/count_uniq read numeric metadata."""
    engine, logs = loaded
    result = engine.run(
        "* | stats by (_time:1m) count() as n, sum(duration_ms) as s, avg(duration_ms) as a, "
        "min(duration_ms) as lo, max(duration_ms) as hi, quantile(0.5, duration_ms) as med, "
        "count_uniq(user_id) as users"
    )
    by_minute: dict[int, list[LogEntry]] = {}
    for log in logs:
        by_minute.setdefault((log.timestamp_ns or 0) // (60 * NS), []).append(log)
    assert [row["_time"] for row in result.rows] == [
        f"2025-07-21T12:{m - T0 // 60:02d}:00Z" for m in sorted(by_minute)
    ]
    for row, minute in zip(result.rows, sorted(by_minute), strict=True):
        durations = [log.metadata["duration_ms"] for log in by_minute[minute]]
        assert row["n"] == len(durations)
        assert row["s"] == sum(durations)
        assert row["a"] == pytest.approx(statistics.fmean(durations))
        assert (row["lo"], row["hi"]) == (min(durations), max(durations))
        assert row["med"] == pytest.approx(statistics.median(durations))
        assert row["users"] == len({log.user_id for log in by_minute[minute]})


def test_top_uniq_sort_fields_limit_offset(loaded: tuple[LogAnalyticsEngine, list[LogEntry]]) -> None:
    """top, uniq, sort, fields, limit and offset compose in the order written."""
    engine, logs = loaded
    top = engine.run("timeout | top 2 by (source)")
    counts = Counter(log.source for log in logs if evaluate(compile_filters({"keyword": "timeout"}), log))
    assert [(r["source"], r["hits"]) for r in top.rows] == counts.most_common(2)
    uniq = engine.run("level:ERROR | uniq by (tags)")
    assert [r["tags"] for r in uniq.rows] == [["blue"], ["green"]]
    page = engine.run("* | sort by (_time) | offset 3 | limit 2 | fields request_id, _time")
    assert page.columns == ["request_id", "_time"]
    oldest = sorted(logs, key=lambda e: (e.timestamp_ns, -int(e.request_id or 0)))
    assert [r["request_id"] for r in page.rows] == [oldest[3].request_id, oldest[4].request_id]


def test_plain_filter_rows_are_logs_newest_first(loaded: tuple[LogAnalyticsEngine, list[LogEntry]]) -> None:
    """A filter without pipes returns log rows (time as text, metadata as a dict), newest first."""
    engine, _ = loaded
    result = engine.run("source:db | limit 2")
    assert result.columns[:4] == ["_time", "level", "source", "message"]
    assert [r["source"] for r in result.rows] == ["db", "db"]
    assert result.rows[0]["_time"] >= result.rows[1]["_time"]
    assert isinstance(result.rows[0]["metadata"], dict)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("* | fields request_id | stats by (source) count()", "unknown field"),
        ("* | stats count() as n | sort by (source)", "unknown field"),
        ("* | stats quantile(2, duration_ms)", "quantile"),
    ],
)
def test_run_errors_name_the_problem(
    loaded: tuple[LogAnalyticsEngine, list[LogEntry]], query: str, message: str
) -> None:
    """A pipe that names a missing field or a bad argument is a QueryError saying so."""
    engine, _ = loaded
    with pytest.raises(QueryError, match=message):
        engine.run(query)


def test_unknown_fields_are_empty_metadata(loaded: tuple[LogAnalyticsEngine, list[LogEntry]]) -> None:
    """A field no log has is read as a missing metadata key: one group of None, not an error."""
    result = loaded[0].run("* | stats by (nope) count() as n")
    assert result.rows == [{"nope": None, "n": 1200}]


def test_result_size_is_bounded() -> None:
    """A query returning more rows than the bound is refused with advice, not truncated silently."""
    engine = LogAnalyticsEngine()
    engine.ingest_logs(_logs(50))
    engine._store._runner.max_rows = 10  # the embedded backend's pipe runner
    with pytest.raises(QueryError, match="more than 10 rows"):
        engine.run("*")
    assert len(engine.run("* | limit 10").rows) == 10


def test_bad_cursor_is_a_query_error(loaded: tuple[LogAnalyticsEngine, list[LogEntry]]) -> None:
    """A cursor the engine did not make is rejected clearly."""
    with pytest.raises(QueryError, match="invalid cursor"):
        loaded[0].search("*", cursor="not-a-cursor")


# -- oracle: random query text through the planner vs the Python evaluator ------------------------

LEAVES = (
    *WORDS,
    '"timeout event"',
    "tim*",
    "pay*",
    "level:ERROR",
    "level:in(WARN, debug)",
    "source:db",
    "source:pa*",
    "tags:green",
    "user_id:u4",
    "user_id:*",
    "thread_id:*",
    "duration_ms:>700",
    "duration_ms:<=50",
    "region:eu",
    "severity:>=30",
    'message:~"event 1[0-9] "',
    "_time:[2025-07-21T12:02:00Z, 2025-07-21T12:04:00Z)",
    "_time:>2025-07-21T12:05:30Z",
    "_time:3m",
)


def _query_text() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(LEAVES)

    def grow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        pair = st.tuples(children, children)
        return st.one_of(
            pair.map(lambda p: f"{p[0]} {p[1]}"),
            pair.map(lambda p: f"({p[0]} OR {p[1]})"),
            children.map(lambda c: f"NOT ({c})"),
        )

    return st.recursive(leaf, grow, max_leaves=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_query_text())
def test_random_queries_match_the_reference_evaluator(
    loaded: tuple[LogAnalyticsEngine, list[LogEntry]], text: str
) -> None:
    """For random query text, search (index + tail + SQL) returns exactly what the evaluator selects."""
    engine, logs = loaded
    node = resolve_time(parse_filter(text), (T0 + 400) * NS)
    want = {log.request_id for log in logs if evaluate(node, log)}
    result = engine.search(text, limit=2000)
    assert result.total == len(want), text
    assert {log.request_id for log in result.logs} == want, text
    counted = engine.run(f"{text} | stats count() as n").rows[0]["n"]
    assert counted == len(want), text


def test_fields_lists_columns_and_metadata_with_counts(
    loaded: tuple[LogAnalyticsEngine, list[LogEntry]],
) -> None:
    """`fields` names each present field with how many matching logs have it and its top values."""
    engine, logs = loaded
    result = engine.fields("level:ERROR")
    errors = [log for log in logs if log.level == "ERROR"]
    assert result.sampled == len(errors)
    by_name = {f.name: f for f in result.fields}
    assert {"level", "source", "tags", "request_id", "user_id", "duration_ms", "region"} <= set(by_name)
    assert "thread_id" not in by_name  # no log has one
    assert by_name["level"].top == [("ERROR", len(errors))]
    sources = Counter(log.source for log in errors)
    assert by_name["source"].top[0] == sources.most_common(1)[0]
    assert by_name["region"].count == len(errors)
    regions = Counter(log.metadata["region"] for log in errors)
    assert dict(by_name["region"].top) == dict(regions)


def test_numeric_functions_count_what_they_skip() -> None:
    """Values that are not numbers are left out of avg/sum/... and reported in warnings."""
    engine = LogAnalyticsEngine()
    pairs = [("x", 1), ("x", "oops"), ("y", 3), ("y", None), ("y", "n/a"), ("y", "5")]
    engine.ingest_logs(
        [LogEntry("2025-07-21T12:00:00Z", "INFO", "m", source=s, metadata={"d": d}) for s, d in pairs]
    )
    result = engine.run("* | stats by (source) avg(d) as a, sum(d), count() as n")
    assert result.columns == ["source", "a", "sum(d)", "n"]
    assert result.rows == [
        {"source": "x", "a": 1.0, "sum(d)": 1.0, "n": 2},
        {"source": "y", "a": 4.0, "sum(d)": 8.0, "n": 4},
    ]
    assert result.warnings == ["a: 2 non-numeric value(s) ignored", "sum(d): 2 non-numeric value(s) ignored"]


@pytest.mark.parametrize(
    ("filters", "query"),
    [
        ({"level": "ERROR"}, "level:ERROR"),
        ({"keyword": "timeout", "source": "db"}, "timeout source:db"),
        ({"tags": ["blue"], "min_severity": 30}, "tags:blue severity:>=30"),
        (
            {"keywords": ["timeout", "event"], "level": ["WARN", "ERROR"]},
            "(timeout OR event) level:in(WARN, ERROR)",
        ),
        (
            {"keywords_all": ["timeout", "event"], "level": ["WARN", "ERROR"]},
            "timeout event level:in(WARN, ERROR)",
        ),
        (
            {
                "start_time": "2025-07-21T12:01:00Z",
                "end_time": "2025-07-21T12:02:00Z",
                "metadata.region": "eu",
            },
            "_time:[2025-07-21T12:01:00Z, 2025-07-21T12:02:00Z] region:eu",
        ),
    ],
)
def test_dict_filters_and_query_text_give_equal_results(
    loaded: tuple[LogAnalyticsEngine, list[LogEntry]], filters: dict[str, object], query: str
) -> None:
    """The dict-filter API and the query language go through one planner and agree exactly."""
    engine, _ = loaded
    by_dict = engine.query_logs(filters, sort_desc=True)
    by_text = engine.search(query, limit=5000)
    assert _ids(by_text.logs) == _ids(by_dict)
    assert by_text.total == engine.count(filters)
    grouped = engine.aggregate(filters, group_by="source")["group_by"]
    rows = engine.run(f"{query} | stats by (source) count() as n").rows
    assert {r["source"]: r["n"] for r in rows} == grouped


def test_counts_by_level_or_source_from_the_index_agree_with_sql() -> None:
    """With every row indexed, text counts by level/source come from the index and equal the truth."""
    logs = _logs(900)
    logs += [LogEntry((T0 + 1) * NS, "INFO", "timeout without source", source="", request_id="x1")]
    engine = LogAnalyticsEngine(index_interval=3600)
    engine.ingest_logs(logs)
    engine.flush()
    timeout = compile_filters({"keyword": "timeout"})
    matching = [log for log in logs if evaluate(timeout, log)]
    by_source = Counter(log.source for log in matching)
    stats = engine.run("timeout | stats by (source) count() as n")
    assert stats.rows == [{"source": k, "n": by_source[k]} for k in sorted(by_source)]
    assert "" in by_source  # the log without a source is counted too
    top = engine.run("timeout | top 2 by (level)")
    by_level = sorted(Counter(log.level for log in matching).items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    assert [(r["level"], r["hits"]) for r in top.rows] == by_level
    blue = engine.run("tags:blue | stats by (level) count()")
    assert {r["level"]: r["count()"] for r in blue.rows} == Counter(
        log.level for log in logs if "blue" in log.tags
    )
    # the same questions answered by SQL (a second stats function rules the index out) agree
    sql = engine.run("timeout | stats by (source) count() as n, count_uniq(level) as levels")
    assert [(r["source"], r["n"]) for r in sql.rows] == [(r["source"], r["n"]) for r in stats.rows]


def test_token_mode_words_equal_regex_words() -> None:
    """Words, phrases and prefixes tested on a shared token list select exactly what the regex form
    and the Python evaluator select, Unicode and punctuation included."""
    import random

    from log_analytics_engine.model import tokenize
    from log_analytics_engine.query.ast import Not, Or, Phrase, Prefix, Word
    from log_analytics_engine.storage.embedded.sql import TOKENS_SQL, compile_where

    rnd = random.Random(3)
    vocab = [
        "connection",
        "timeout",
        "cache",
        "cached",
        "café",
        "naïve",
        "日本語",
        "42",
        "v2",
        "DB-1",
        "x_y",
        "ÉTÉ",
    ]
    glue = ["", ",", "-", "_", "é", ".", "!"]
    logs = [
        LogEntry(
            "2025-07-21T12:00:00Z",
            "INFO",
            " ".join(rnd.choice(vocab) + rnd.choice(glue) for _ in range(rnd.randint(0, 6))),
            request_id=str(i),
        )
        for i in range(1500)
    ]
    engine = LogAnalyticsEngine()
    engine.ingest_logs(logs)
    toks = sorted({t for log in logs for t in tokenize(log.message)})
    for _ in range(150):
        a, b = rnd.choice(toks), rnd.choice(toks)
        node = rnd.choice(
            [
                Word(a),
                Phrase((a, b)),
                Prefix("message", a[: max(1, len(a) // 2)]),
                Or((Word(a), Not(Word(b)))),
            ]
        )
        want = {log.request_id for log in logs if evaluate(node, log)}
        by_tokens = compile_where(node, tokens="_tokens")
        sql = f"SELECT request_id FROM (SELECT *, {TOKENS_SQL} AS _tokens FROM logs) WHERE {by_tokens.sql}"
        assert {r[0] for r in engine._store.store.rows(sql, by_tokens.params)} == want, node
        by_regex = compile_where(node)
        got = engine._store.store.rows(f"SELECT request_id FROM logs WHERE {by_regex.sql}", by_regex.params)
        assert {r[0] for r in got} == want, node
