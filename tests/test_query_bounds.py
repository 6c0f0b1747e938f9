"""Issue 11 on the query side: any metadata key can be queried exactly (quoted field names:
`"k8s/pod":x`, `metadata."a:b":x`, in filters and pipes, printed back, listed by `/api/v1/fields`
in a form that pastes back), and every query call has a time limit (a QueryError, 400 at the edge,
naming it)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.errors import ConfigError, QueryError
from log_analytics_engine.query.ast import FieldEq
from log_analytics_engine.query.evaluate import evaluate
from log_analytics_engine.query.parser import parse, parse_filter
from log_analytics_engine.query.printer import to_text
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import Settings

NS = 1_000_000_000
T0 = 1_753_099_200  # 2025-07-21T12:00:00Z

# Keys the issue names, and a few more that a JSON path or the SQL could misread: each with a query
# text written by hand that must reach exactly that key.
KEYS = {
    "http.status": "http.status",
    "a-b": "a-b",
    "a:b": '"a:b"',
    "k8s/pod": '"k8s/pod"',
    "x y": "'x y'",
    '"q"': r'"\"q\""',
    "a\\b": r'"a\\b"',
    "région": "région",
    "हिंदी": "हिंदी",  # vowel signs are combining marks, which Python's \w leaves out
    "nai\u0308ve": "nai\u0308ve",  # a decomposed ï: i and a combining diaeresis
    "metadata.x": 'metadata."metadata.x"',
    "level": "metadata.level",
    "": 'metadata.""',
    "$": '"$"',
    "a~b/c": 'metadata."a~b/c"',
    "[0]": '"[0]"',
    "__skipped:sum(x)": '"__skipped:sum(x)"',
}


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture(scope="module")
def keyed() -> Iterator[LogAnalyticsEngine]:
    """One log per key of KEYS, holding that key (value 7, and text `v<i>`) and no other of them."""
    engine = LogAnalyticsEngine(alert_interval=None)
    logs = [
        LogEntry(
            (T0 + i) * NS,
            "INFO",
            f"log {i}",
            request_id=f"r{i}",
            metadata={key: 7, "text": f"v{i}", "http": {"status": 7}},
        )
        for i, key in enumerate(KEYS)
    ]
    engine.ingest_logs(logs)
    yield engine
    engine.close()


def test_every_metadata_key_is_queried_exactly(keyed: LogAnalyticsEngine) -> None:
    """A key with punctuation, other scripts, a dot (no nesting), a column's name or none at all is
    found by its query text in search, pipes, printing and the reference evaluator alike."""
    for i, (key, text) in enumerate(KEYS.items()):
        _finds_exactly(keyed, key, text, [f"r{i}"])


def _finds_exactly(keyed: LogAnalyticsEngine, key: str, text: str, wanted: list[str]) -> None:
    node = parse_filter(f"{text}:7")
    assert parse_filter(to_text(node)) == node
    found = keyed.search(f"{text}:7")
    assert [log.request_id for log in found.logs] == wanted
    assert [e.request_id for e in keyed.query_logs({}) if evaluate(node, e)] == wanted
    assert keyed.run(f"{text}:>=7 | stats count() as n").rows == [{"n": 1}]
    query = f"{text}:* | fields request_id, {text} | sort by ({text} desc)"
    assert parse(to_text(parse(query))) == parse(query)
    rows = keyed.run(query).rows
    field = parse(query).pipes[0].names[1]  # type: ignore[union-attr]
    assert rows == [{"request_id": wanted[0], field: 7}]
    groups = keyed.run(f"* | stats by ({text}) count() as n").rows
    assert groups == [{field: 7, "n": 1}, {field: None, "n": len(KEYS) - 1}]
    assert [e.request_id for e in keyed.query_logs({"metadata": {key: 7}})] == wanted  # dict filters too


def test_a_quoted_name_is_the_field_it_quotes(keyed: LogAnalyticsEngine) -> None:
    """`"level"` is the column, as `level` is; `metadata.level` the metadata key; `http.status` the
    key with a dot, never the nested `http` object's `status`."""
    assert parse_filter('"level":INFO') == parse_filter("level:INFO") == FieldEq("level", "INFO")
    assert parse_filter("'msg':x") == parse_filter("msg:x")
    assert parse_filter('metadata."level":7') == FieldEq("metadata.level", 7)
    assert keyed.search('"level":INFO').total == len(KEYS)
    assert keyed.search("http.status:7").total == 1
    assert keyed.search('metadata."metadata.x":7').total == 1
    assert keyed.search("metadata.x:7").total == 0  # the key `x`, which no log has
    # without a colon after it, `metadata."x"` stays what it was: words of the message
    assert parse_filter('metadata."x"') == parse_filter('"metadata x"')


def test_keys_one_case_apart_stay_apart_in_pipes() -> None:
    """`Region` and `region` are two metadata keys: pipes return each its own value (DuckDB matches
    column names without case, so they once both read `Region`)."""
    engine = LogAnalyticsEngine(alert_interval=None)
    engine.ingest_logs([LogEntry(T0 * NS, "INFO", "m", metadata={"Region": "A", "region": "b"})])
    assert engine.run("* | fields Region, region").rows == [{"Region": "A", "region": "b"}]
    assert engine.run("* | stats by (region, Region) count() as n").rows == [
        {"region": "b", "Region": "A", "n": 1}
    ]
    assert engine.search("region:b").total == engine.search("Region:A").total == 1


def test_a_field_named_like_a_hidden_column_is_shown_or_refused() -> None:
    """The count of values a numeric function skipped travels in a hidden column; a metadata key of
    that name is an ordinary field, and a stats result naming both is refused."""
    engine = LogAnalyticsEngine(alert_interval=None)
    engine.ingest_logs([LogEntry(T0 * NS, "INFO", "m", metadata={"__skipped:sum(x)": "text", "x": "y"})])
    result = engine.run('* | fields "__skipped:sum(x)"')
    assert result.rows == [{"__skipped:sum(x)": "text"}]
    assert result.warnings == []
    assert engine.run("* | stats sum(x)").warnings == ["sum(x): 1 non-numeric value(s) ignored"]
    with pytest.raises(QueryError, match="named twice"):
        engine.run('* | stats by ("__skipped:sum(x)") sum(x)')


def test_quoted_names_in_every_pipe() -> None:
    """Sort, fields, stats keys and arguments, top, uniq and aliases take quoted names."""
    engine = LogAnalyticsEngine(alert_interval=None)
    values = [3, 1, 2, 1]
    engine.ingest_logs(
        [
            LogEntry((T0 + i) * NS, "INFO", "m", metadata={"a:b": v, "x y": f"g{v % 2}"})
            for i, v in enumerate(values)
        ]
    )
    assert [r["a:b"] for r in engine.run('* | sort by ("a:b" desc) | fields "a:b"').rows] == [3, 2, 1, 1]
    query = '* | stats by (\'x y\') sum(metadata."a:b") as "the sum"'
    rows = engine.run(query + ' | sort by ("the sum")').rows
    assert rows == [{"x y": "g0", "the sum": 2.0}, {"x y": "g1", "the sum": 5.0}]
    assert engine.run('* | top 1 by ("a:b")').rows == [{"a:b": 1, "hits": 2}]
    assert engine.run("* | uniq by (metadata.'x y')").rows == [{"metadata.x y": "g0"}, {"metadata.x y": "g1"}]
    assert parse(to_text(parse(query))) == parse(query)


def test_listed_fields_paste_back_into_queries(keyed: LogAnalyticsEngine) -> None:
    """Every field `fields()` and `/api/v1/fields` list carries `query`, its name as query text:
    `<query>:*` selects exactly the logs counted for it (a metadata `level` is `metadata.level`)."""
    listed = keyed.fields().fields
    by_query = {f.query: f for f in listed}
    assert len(by_query) == len(listed)  # the column `level` and the metadata key `level` differ
    assert by_query["level"].count == len(KEYS)
    assert by_query["metadata.level"].count == 1
    for summary in listed:
        assert keyed.search(f"{summary.query}:*").total == summary.count, summary

    async def ask() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=create_app(keyed, Settings()))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answer = await http.get("/api/v1/fields")
            fields: list[dict[str, Any]] = answer.json()["fields"]
            for item in fields:
                search = await http.get("/api/v1/search", params={"q": f"{item['query']}:*"})
                assert search.json()["total"] == item["count"], item
            return fields

    assert {f["query"] for f in asyncio.run(ask())} == set(by_query)


_KEY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)


@settings(max_examples=200, deadline=None)
@given(key=_KEY_TEXT, bare=st.booleans())
def test_any_quoted_key_parses_and_prints_back(key: str, bare: bool) -> None:
    """For any key text, `metadata."key"` (and `"key"`) parse to that key, in filters and pipes, and
    the printed query parses back to the same tree."""
    text = _quoted(key) if bare else "metadata." + _quoted(key)
    field = key if bare else "metadata." + key
    field = {"timestamp": "_time", "msg": "message", "_msg": "message"}.get(field, field)
    if field not in ("_time", "message", "severity"):  # their values are times, words, levels
        node = parse_filter(f"{text}:v")
        assert getattr(node, "field", None) == field
        assert parse_filter(to_text(node)) == node
    query = parse(f"* | sort by ({text} desc) | fields {text} | stats by ({text}) count() as {_quoted(key)}")
    assert query.pipes[0].keys == ((field, True),)  # type: ignore[union-attr]
    assert parse(to_text(query)) == query


@pytest.fixture(scope="module")
def store() -> Iterator[LogAnalyticsEngine]:
    engine = LogAnalyticsEngine(alert_interval=None)
    yield engine
    engine.close()


_request_ids = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=_KEY_TEXT)
def test_any_stored_key_is_found_by_its_quoted_name(store: LogAnalyticsEngine, key: str) -> None:
    """A log stored with any metadata key is found by `metadata."key"`, and pipes return its value."""
    rid = f"k{next(_request_ids)}"
    store.ingest_logs([LogEntry(T0 * NS, "INFO", "m", request_id=rid, metadata={key: 42, key + "x": 1})])
    text = "metadata." + _quoted(key)
    rows = store.run(f"request_id:{rid} {text}:42 | fields {text}").rows
    assert rows == [{"metadata." + key: 42}]


# -- time limits ---------------------------------------------------------------------------------------

LIMIT = 0.1
# Over 8,000 logs each of these takes 1.4-5 s without a limit (RE2 falls back from its DFA on the
# first; the second is 500 word regexes over the messages not yet indexed).
SLOW_REGEX = r'~"(?i)(\\pL|\\pN)*a(\\pL|\\pN){30}z"'
SLOW_WORDS = [f"w{i}" for i in range(500)]


@pytest.fixture(scope="module")
def slow() -> Iterator[LogAnalyticsEngine]:
    """8,000 logs, none indexed, in an engine whose queries may take LIMIT seconds."""
    engine = LogAnalyticsEngine(alert_interval=None, index_interval=3600, query_seconds=LIMIT)
    engine.ingest_logs(
        [LogEntry((T0 + i) * NS, "INFO", f"request {i} took {i % 1000} ms " + "ab" * 40) for i in range(8000)]
    )
    yield engine
    engine.close()


CALLS = {
    "search": lambda e: e.search(SLOW_REGEX),
    "run": lambda e: e.run(f"{SLOW_REGEX} | stats count()"),
    "fields": lambda e: e.fields(SLOW_REGEX),
    "tail": lambda e: e.tail(SLOW_REGEX, 0),
    "query_logs": lambda e: e.query_logs({"keywords": SLOW_WORDS}),
    "count": lambda e: e.count({"keywords": SLOW_WORDS}),
    "aggregate": lambda e: e.aggregate({"keywords": SLOW_WORDS}, group_by="level"),
}


@pytest.mark.parametrize("call", CALLS)
def test_every_query_call_stops_at_the_time_limit(slow: LogAnalyticsEngine, call: str) -> None:
    """Search, pipe queries, fields, tail and the dict-filter calls running past `query_seconds` are
    stopped with a QueryError naming the limit; the next query on the same thread answers."""
    with pytest.raises(QueryError, match=r"longer than the limit of 0\.1 s"):
        CALLS[call](slow)
    assert slow.count() == 8000
    assert len(slow.run("* | limit 3").rows) == 3


def test_a_text_index_lookup_past_the_limit_stops_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text-index lookup cannot be interrupted; once it returns past the limit, the query stops."""
    engine = LogAnalyticsEngine(alert_interval=None, query_seconds=LIMIT)
    engine.ingest_logs([LogEntry(T0 * NS, "INFO", "disk full")])
    engine.flush()
    index = engine._store.store.index
    lookup = index.search

    def slow_search(node: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(3 * LIMIT)
        return lookup(node, *args, **kwargs)

    monkeypatch.setattr(index, "search", slow_search)  # a search's page and total: one index search
    with pytest.raises(QueryError, match=r"limit of 0\.1 s"):
        engine.search("disk")
    monkeypatch.setattr(index, "search", lookup)
    assert engine.search("disk").total == 1


def test_an_interrupt_never_reaches_a_statement_after_the_query() -> None:
    """Queries ending just before or after a tiny limit never leave an interrupt behind for the
    next statement of the same thread (which may be another request's, or a write)."""
    engine = LogAnalyticsEngine(alert_interval=None, query_seconds=0.002)
    engine.ingest_logs([LogEntry((T0 + i) * NS, "INFO", f"m {i}") for i in range(2000)])
    stopped = 0
    for _ in range(200):
        try:
            engine.run("* | stats count() as n")
        except QueryError:
            stopped += 1
        assert engine._store.store.rows("SELECT count(*) FROM logs") == [(2000,)]
    engine.ingest_logs([LogEntry(T0 * NS, "INFO", "after")])
    assert engine._store.store.rows("SELECT count(*) FROM logs") == [(2001,)]


def test_the_time_limit_must_be_positive() -> None:
    """`query_seconds` of zero, below zero or NaN is a ConfigError."""
    for seconds in (0, -1, float("nan")):
        with pytest.raises(ConfigError, match="query_seconds"):
            LogAnalyticsEngine(query_seconds=seconds)


def test_the_server_answers_slow_queries_400_and_keeps_answering(slow: LogAnalyticsEngine) -> None:
    """Over HTTP, a search, hits, fields and pipe query past the limit answer 400 naming it, while
    the server goes on answering other requests meanwhile and afterwards."""
    app = create_app(slow, Settings())
    routes = {
        "/api/v1/search": {"q": SLOW_REGEX},
        "/api/v1/hits": {"q": SLOW_REGEX, "step": "1h"},
        "/api/v1/fields": {"q": SLOW_REGEX},
        "/api/v1/query": {"q": f"{SLOW_REGEX} | stats count()"},
    }

    async def run() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            slow_ones = [asyncio.create_task(client.get(path, params=p)) for path, p in routes.items()]
            health = await client.get("/healthz")
            answers = await asyncio.gather(*slow_ones)
            fast = await client.get("/api/v1/search", params={"q": "*", "limit": 1})
            return answers, health, fast

    answers, health, fast = asyncio.run(asyncio.wait_for(run(), 60))
    for path, answer in zip(routes, answers, strict=True):
        assert answer.status_code == 400, (path, answer.text)
        assert "longer than the limit of 0.1 s" in answer.json()["detail"], path
    assert health.json() == {"status": "ok"}
    assert fast.status_code == 200
    assert fast.json()["total"] == 8000


def test_threads_do_not_share_time_limits(slow: LogAnalyticsEngine) -> None:
    """A query stopped on one thread does not stop a fast query running on another."""
    errors: list[BaseException] = []

    def fast() -> None:
        try:
            for _ in range(20):
                assert slow.count() == 8000
        except BaseException as exc:  # handed to the main thread to fail there
            errors.append(exc)

    worker = threading.Thread(target=fast)
    worker.start()
    with pytest.raises(QueryError):
        slow.search(SLOW_REGEX)
    worker.join(30)
    assert not errors
