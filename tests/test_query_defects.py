"""Query defects a new user found (issue 10), each pinned: metadata prefixes and regexes, severity by
level name, typed metadata numbers, `field:""`, times out of `min`/`max`, duplicate stats names,
prefixes holding `_` and `-`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import Clock, entry_at
from log_analytics_engine import AlertRule, LogAnalyticsEngine, LogEntry, QueryError, QuerySyntaxError
from log_analytics_engine.cli.app import app
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import Settings

NS = 1_000_000_000
T0 = 1_753_099_200  # 2025-07-21T12:00:00Z
DURATIONS: list[Any] = [99, 98, 1325, 5, 2.5, "7", None, "slow"]


def _logs() -> list[LogEntry]:
    """Eight logs: regions and paths in metadata, numeric durations (one numeric text, one word, one
    absent), request ids with `-`, messages with `blk_` words."""
    out = []
    for i, duration in enumerate(DURATIONS):
        meta: dict[str, Any] = {
            "region": ("eu-west", "us-east", "eu")[i % 3],
            "path": ("/admin/x", "/home")[i % 2],
        }
        if duration is not None:
            meta["duration_ms"] = duration
        out.append(
            LogEntry(
                (T0 + i) * NS,
                ("INFO", "ERROR", "WARNING", "CRITICAL")[i % 4],
                f"block blk_{i}00 served" if i % 2 else "plain",
                source="" if i == 3 else "api",
                request_id=f"req-{i}2",
                user_id=None if i % 3 == 0 else ("" if i % 3 == 1 else "u1"),
                tags=[] if i % 4 == 0 else ["blue"],
                metadata=meta,
            )
        )
    return out


def _ids(engine: LogAnalyticsEngine, query: str) -> list[str | None]:
    return sorted(log.request_id for log in engine.search(query, limit=100).logs)


def _file_engine(tmp_path: Path, logs: list[LogEntry], clock: Clock | None = None) -> LogAnalyticsEngine:
    path = tmp_path / "logs.jsonl"
    path.write_bytes(b"".join(orjson.dumps(log.to_dict()) + b"\n" for log in logs))
    engine = LogAnalyticsEngine(clock=clock or Clock(), index_interval=3600, alert_interval=None)
    engine.ingest_logs_from_file(path)
    return engine


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LogAnalyticsEngine]]:
    """The logs stored from objects (`ingest_logs`) and from a JSONL file."""
    objects = LogAnalyticsEngine(index_interval=3600, alert_interval=None)
    objects.ingest_logs(_logs())
    made = {"objects": objects, "file": _file_engine(tmp_path_factory.mktemp("defects"), _logs())}
    yield made
    for engine in made.values():
        engine.close()


def _want(predicate: Any) -> list[str | None]:
    return sorted(log.request_id for log in _logs() if predicate(log))


@pytest.mark.parametrize("mode", ["objects", "file"])
def test_prefix_and_regex_filters_reach_metadata(both: dict[str, LogAnalyticsEngine], mode: str) -> None:
    """`region:eu*` and `path:~"admin"` select the logs whose metadata value starts with / matches."""
    engine = both[mode]
    assert _ids(engine, "region:eu*") == _want(lambda e: e.metadata["region"].startswith("eu"))
    assert _ids(engine, 'path:~"admin"') == _want(lambda e: "admin" in e.metadata["path"])
    assert _ids(engine, 'metadata.path:~"^/h" region:eu*') == _want(
        lambda e: e.metadata["path"] == "/home" and e.metadata["region"].startswith("eu")
    )


@pytest.mark.parametrize("mode", ["objects", "file"])
def test_metadata_prefix_rule_fires_on_either_ingest_path(tmp_path: Path, clock: Clock, mode: str) -> None:
    """A rule `region:eu*` fires after `ingest_logs` and after file ingest (matched in one SQL pass)."""
    logs = [
        entry_at(clock.now - 5 + i, "ERROR", "x", metadata={"region": r})
        for i, r in enumerate(("eu-1", "us", "eu-2"))
    ]
    if mode == "file":
        engine = LogAnalyticsEngine(clock=clock, index_interval=3600, alert_interval=None)
        engine.add_alert_rule(
            AlertRule("eu", query='region:eu* path:~"^/a" OR region:eu*', threshold=2, time_window=60)
        )
        path = tmp_path / "logs.jsonl"
        path.write_bytes(b"".join(orjson.dumps(log.to_dict()) + b"\n" for log in logs))
        engine.ingest_logs_from_file(path)
    else:
        engine = LogAnalyticsEngine(clock=clock, index_interval=3600, alert_interval=None)
        engine.add_alert_rule(
            AlertRule("eu", query='region:eu* path:~"^/a" OR region:eu*', threshold=2, time_window=60)
        )
        engine.ingest_logs(logs)
    try:
        [alert] = engine.get_alerts()
        assert alert.count == 2
    finally:
        engine.close()


def test_severity_takes_level_names(both: dict[str, LogAnalyticsEngine]) -> None:
    """`severity:ERROR` is severity 40, `severity:>=WARN` 30 or more: the model's mapping, aliases folded."""
    engine = both["objects"]
    severities = {"INFO": 20, "ERROR": 40, "WARN": 30, "FATAL": 50}
    assert (
        _ids(engine, "severity:ERROR") == _want(lambda e: e.level == "ERROR") == _ids(engine, "severity:40")
    )
    assert _ids(engine, "severity:>=WARN") == _want(lambda e: severities[e.level] >= 30)
    assert _ids(engine, "severity:>=warning") == _ids(engine, "severity:>=30")
    assert _ids(engine, "severity:in(critical, info)") == _want(lambda e: e.level in ("FATAL", "INFO"))
    assert engine.run("severity:<error | stats count() as n").rows == [
        {"n": len(_want(lambda e: severities[e.level] < 40))}
    ]


@pytest.mark.parametrize("query", ["severity:LOUD", "severity:>=loud", 'severity:in(ERROR, "x")'])
def test_severity_that_is_no_number_nor_level_is_a_syntax_error(
    both: dict[str, LogAnalyticsEngine], query: str
) -> None:
    """Any other severity value is a QuerySyntaxError naming the field and the level names."""
    with pytest.raises(QuerySyntaxError, match="severity") as info:
        both["objects"].search(query)
    assert "ERROR" in str(info.value)


def test_severity_errors_answer_400_over_http(both: dict[str, LogAnalyticsEngine]) -> None:
    """Over HTTP a level name works (200) and a bad severity is a 400 naming the field, not a 500."""
    client = TestClient(create_app(both["objects"], Settings()))
    ok = client.get("/api/v1/query", params={"q": "severity:ERROR | stats count() as n"})
    assert ok.status_code == 200
    assert ok.json()["rows"] == [{"n": len(_want(lambda e: e.level == "ERROR"))}]
    for path in ("/api/v1/query", "/api/v1/search"):
        bad = client.get(path, params={"q": "severity:LOUD"})
        assert bad.status_code == 400
        assert "severity" in bad.text


def test_bad_severity_in_the_cli_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    """The CLI answers a bad severity with the syntax error (a usage exit, no traceback), a level name
    with rows."""
    data = str(tmp_path / "data")
    with LogAnalyticsEngine(data) as engine:
        engine.ingest_logs(_logs())
    runner = CliRunner()
    bad = runner.invoke(app, ["query", "severity:LOUD", "--data", data])
    assert bad.exit_code == 2
    assert isinstance(bad.exception, SystemExit)
    assert "severity" in bad.output
    assert "Traceback" not in bad.output
    good = runner.invoke(app, ["query", "severity:ERROR | stats count() as n", "--data", data, "--json"])
    assert good.exit_code == 0, good.output
    assert orjson.loads(good.output)["rows"] == [{"n": len(_want(lambda e: e.level == "ERROR"))}]


@pytest.mark.parametrize("mode", ["objects", "file"])
def test_metadata_numbers_filter_sort_and_return_as_numbers(
    both: dict[str, LogAnalyticsEngine], mode: str
) -> None:
    """`duration_ms` compares and sorts as a number (1325 before 99) and comes back as a number."""
    engine = both[mode]
    rows = engine.run("* | sort by (duration_ms desc) | fields duration_ms").rows
    assert [r["duration_ms"] for r in rows] == [1325, 99, 98, 5, 2.5, "slow", "7", None]  # "7" is text
    assert [type(r["duration_ms"]) for r in rows[:5]] == [int, int, int, int, float]
    ascending = engine.run("* | sort by (duration_ms) | fields duration_ms").rows
    assert [r["duration_ms"] for r in ascending] == [2.5, 5, 98, 99, 1325, "7", "slow", None]
    assert engine.run("duration_ms:>500 | fields duration_ms").rows == [{"duration_ms": 1325}]
    # text holding a number compares as that number
    assert _ids(engine, "duration_ms:>=7 duration_ms:<50") == _want(
        lambda e: e.metadata.get("duration_ms") == "7"
    )
    groups = engine.run("duration_ms:<100 | stats by (duration_ms) count() as n").rows
    assert groups == [{"duration_ms": d, "n": 1} for d in (2.5, 5, 98, 99, "7")]
    top = engine.run("duration_ms:* | top 3 by (duration_ms)").rows
    assert top == [{"duration_ms": d, "hits": 1} for d in (2.5, 5, 98)]
    uniq = engine.run("duration_ms:>50 | uniq by (duration_ms)").rows
    assert uniq == [{"duration_ms": d} for d in (98, 99, 1325)]


def test_numbers_stay_numbers_in_http_answers(both: dict[str, LogAnalyticsEngine]) -> None:
    """`/api/v1/query` rows and `/api/v1/search` logs' metadata carry metadata numbers as JSON numbers."""
    client = TestClient(create_app(both["file"], Settings()))
    query = client.get(
        "/api/v1/query", params={"q": "* | sort by (duration_ms desc) | limit 2 | fields duration_ms"}
    )
    assert query.json()["rows"] == [{"duration_ms": 1325}, {"duration_ms": 99}]
    rows = client.get("/api/v1/query", params={"q": "duration_ms:1325"}).json()["rows"]
    assert rows[0]["metadata"]["duration_ms"] == 1325
    logs = client.get("/api/v1/search", params={"q": "duration_ms:2.5"}).json()["logs"]
    assert [log["metadata"]["duration_ms"] for log in logs] == [2.5]


def test_mixed_fields_order_numbers_then_text_then_other_values() -> None:
    """A field holding several JSON types sorts numbers, then text, then booleans/lists/objects (by
    their JSON text), in either direction; the direction orders values within a type, and absent
    values come last both ways."""
    values: list[Any] = ["b", 10, True, "", 2.5, [1], None, "a", -1, False, {"k": 1}]
    engine = LogAnalyticsEngine()
    engine.ingest_logs(
        [
            LogEntry((T0 + i) * NS, "INFO", "m", metadata={} if v is None else {"v": v})
            for i, v in enumerate(values)
        ]
    )
    ascending = [r["v"] for r in engine.run("* | sort by (v) | fields v").rows]
    assert ascending == [-1, 2.5, 10, "", "a", "b", [1], False, True, {"k": 1}, None]
    descending = [r["v"] for r in engine.run("* | sort by (v desc) | fields v").rows]
    assert descending == [10, 2.5, -1, "b", "a", "", {"k": 1}, True, False, [1], None]


@pytest.mark.parametrize("mode", ["objects", "file"])
def test_empty_value_matches_empty_or_absent(both: dict[str, LogAnalyticsEngine], mode: str) -> None:
    """`field:""` selects logs where the field is empty or missing, for columns, tags and metadata."""
    engine = both[mode]
    assert _ids(engine, 'user_id:""') == _want(lambda e: not e.user_id)
    assert _ids(engine, 'source:""') == _want(lambda e: e.source == "")
    assert _ids(engine, 'tags:""') == _want(lambda e: not e.tags)
    assert _ids(engine, 'duration_ms:""') == _want(lambda e: "duration_ms" not in e.metadata)
    assert _ids(engine, 'nope:""') == _want(lambda e: True)
    assert _ids(engine, 'user_id:in("", u1)') == _want(lambda e: e.user_id in (None, "", "u1"))
    assert _ids(engine, 'NOT user_id:""') == _ids(engine, "user_id:*") == _want(lambda e: bool(e.user_id))


def test_min_and_max_of_time_are_timestamps(both: dict[str, LogAnalyticsEngine]) -> None:
    """`min(_time)` / `max(_time)` return RFC 3339 text like `_time` elsewhere in pipe results."""
    rows = (
        both["objects"].run("* | stats by (level) min(_time) as first, max(_time) as last, count() as n").rows
    )
    assert rows[0] == {
        "level": "ERROR",
        "first": "2025-07-21T12:00:01Z",
        "last": "2025-07-21T12:00:05Z",
        "n": 2,
    }
    [row] = both["file"].run("* | stats min(_time), max(timestamp)").rows
    assert row == {"min(_time)": "2025-07-21T12:00:00Z", "max(_time)": "2025-07-21T12:00:07Z"}


@pytest.mark.parametrize(
    "query",
    [
        "* | stats by (level) count() as level",
        "* | stats by (source, source) count()",
        "* | stats count() as n, sum(duration_ms) as n",
        "* | stats count(), count()",
        "* | top 3 by (hits)",
    ],
)
def test_result_columns_named_twice_are_refused(both: dict[str, LogAnalyticsEngine], query: str) -> None:
    """A stats (or top) result with two columns of one name is a QueryError, not silently fewer columns."""
    with pytest.raises(QueryError, match="named twice"):
        both["objects"].run(query)


@pytest.mark.parametrize("mode", ["objects", "file"])
def test_prefixes_may_hold_underscore_and_dash(both: dict[str, LogAnalyticsEngine], mode: str) -> None:
    """`blk_*` and `req-12*` are prefixes of a message word and of a field's text; `-a*` still negates."""
    engine = both[mode]
    assert _ids(engine, "blk_*") == _want(lambda e: "blk_" in e.message)
    assert _ids(engine, "blk_3*") == _want(lambda e: "blk_3" in e.message)
    assert _ids(engine, "request_id:req-1*") == ["req-12"]
    assert _ids(engine, "-blk_*") == _want(lambda e: "blk_" not in e.message)
    engine_with_ids = LogAnalyticsEngine()
    engine_with_ids.ingest_logs(
        [LogEntry(T0 * NS, "INFO", m) for m in ("GET req-123 ok", "req-45", "prereq-12x")]
    )
    assert sorted(log.message for log in engine_with_ids.search("req-12*").logs) == ["GET req-123 ok"]


@pytest.mark.parametrize("mode", ["objects", "file"])
def test_field_summaries_keep_metadata_numbers(both: dict[str, LogAnalyticsEngine], mode: str) -> None:
    """`fields` lists a metadata field's top values with their JSON types (1325 a number, "7" text)."""
    top = {f.name: f for f in both[mode].fields("*").fields}["duration_ms"].top
    assert len(top) == 5  # the top values shown
    stored = {repr(d) for d in DURATIONS if d is not None}  # repr tells 1325 from "1325"
    assert all(repr(value) in stored and n == 1 for value, n in top), top
    assert any(isinstance(value, int) for value, _ in top), top


def test_fractional_severity_matches_nothing_in_the_index_too() -> None:
    """`severity:40.5` beside a word (answered by the text index) matches no log, as in SQL."""
    engine = LogAnalyticsEngine(index_interval=3600)
    engine.ingest_logs([LogEntry(T0 * NS, "ERROR", "timeout"), LogEntry(T0 * NS, "INFO", "timeout")])
    engine.flush()
    assert engine.search("timeout severity:40.5").total == 0
    assert engine.search("timeout severity:in(40.5, 20)").total == 1
    assert engine.search("timeout severity:40").total == 1


def test_a_numeric_tag_value_is_the_tag_text_indexed_or_not() -> None:
    """`tags:42` and `tags:in(10, x)` match the tags `42` and `10` only (not `042` or `1e1`), the same
    before the text index has the logs and after, when the index answers them."""
    engine = LogAnalyticsEngine(index_interval=3600)
    engine.ingest_logs(
        [LogEntry(T0, "INFO", f"m {tag}", tags=[tag]) for tag in ("42", "042", "10", "1e1", "x")]
    )
    queries = ("tags:42", "tags:in(10, x)", "ok tags:42")
    engine.ingest_logs([LogEntry(T0, "INFO", "ok", tags=["42"])])
    before = [sorted(log.message for log in engine.search(q).logs) for q in queries]
    engine.flush()
    after = [sorted(log.message for log in engine.search(q).logs) for q in queries]
    assert before == after == [["m 42", "ok"], ["m 10", "m x"], ["ok"]]
    engine.close()


def test_numbers_no_double_holds_come_back_whole(tmp_path: Path) -> None:
    """A 30-digit integer and 1e400 in a log come back as their exact text (a double would round the
    one and cannot hold the other), in pipe rows, field summaries, logs and the HTTP answers; numbers
    a double holds stay numbers."""
    path = tmp_path / "big.jsonl"
    path.write_text('{"message": "a", "big": 123456789012345678901234567890, "huge": 1e400, "ok": 7}\n')
    with LogAnalyticsEngine() as engine:
        engine.ingest_logs_from_file(path)
        expected = {"big": "123456789012345678901234567890", "huge": "1e400", "ok": 7}
        [row] = engine.run("* | fields big, huge, ok").rows
        assert row == expected
        assert engine.query_logs({})[0].metadata == expected
        tops = {f.name: f.top for f in engine.fields("*").fields}
        assert tops["big"] == [("123456789012345678901234567890", 1)]
        client = TestClient(create_app(engine))
        assert client.get("/api/v1/query", params={"q": "* | fields big, huge, ok"}).json()["rows"] == [
            expected
        ]
        assert client.get("/api/v1/search").json()["logs"][0]["metadata"] == expected


def test_field_names_of_any_script_are_queried_and_an_empty_key_is_a_syntax_error() -> None:
    """`région:eu*` queries a metadata key with a non-ASCII letter; `metadata.:x` (no key) is a
    syntax error naming what is missing, not a 500 from the store."""
    with LogAnalyticsEngine() as engine:
        engine.ingest_logs([LogEntry(T0, "INFO", "m", metadata={"région": "eu-west"})])
        assert engine.search("région:eu*").total == 1
        assert engine.run("* | stats by (région) count()").rows == [{"région": "eu-west", "count()": 1}]
        with pytest.raises(QuerySyntaxError, match=r"a metadata key after `metadata\.`"):
            engine.search("metadata.:x")
