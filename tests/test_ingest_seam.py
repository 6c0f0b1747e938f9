"""The one way in: decoders' tables through `engine.ingest_decoded` (hooks, counters, report), the
row builder's rules, a JSON array body parsed once, request bodies' encodings, and API keys the way
shippers present them."""

from __future__ import annotations

import base64
import gzip
import zlib

import cramjam
import orjson
import pytest
from fastapi.testclient import TestClient

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.ingest import bounds, records
from log_analytics_engine.ingest.report import IngestReport
from log_analytics_engine.ingest.rows import RowBuilder, flatten
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import ApiKey, Settings, hash_key
from log_analytics_engine.timeparse import parse_timestamp


def _deep(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(levels):
        value = {"k": value}
    return value


def test_row_builder_times_levels_fields_and_bounds() -> None:
    builder = RowBuilder(now_ns=1_000)
    assert builder.add(0, "exact", time_ns=1_700_000_000_123_456_789, level="warning", source="api")
    assert builder.add(1, "text time", time_raw="2024-03-05T10:00:00.5Z", level=40, fields={"a.b": 1})
    assert builder.add(2, "unreadable", time_raw="yesterday")
    assert builder.add(3, "none")
    assert not builder.add(4, "too deep", fields=_deep(bounds.MAX_DEPTH + 5))
    assert builder.add(5, "after", time_raw=1_709_632_800)  # epoch seconds
    decoded = builder.finish()
    table = decoded.table.to_pydict()
    assert table["message"] == ["exact", "text time", "unreadable", "none", "after"]
    assert table["ts"] == [
        1_700_000_000_123_456_789,
        parse_timestamp("2024-03-05T10:00:00.5Z"),
        1_000,
        1_000,
        1_709_632_800 * 10**9,
    ]
    assert table["level"] == ["WARN", "WARN", "INFO", "INFO", "INFO"]
    assert orjson.loads(table["metadata"][2]) == {"timestamp_raw": "yesterday"}
    report = decoded.report
    assert report.no_timestamp == 2
    assert (report.rejected_count, report.rejected[0].position, report.rejected_by) == (
        1,
        4,
        {"over_bound": 1},
    )


def test_flatten_dots_nested_objects_first_path_wins() -> None:
    record = {"host": {"name": "a", "ip": {"v4": "1.2.3.4"}}, "host.name": "b", "list": [{"x": 1}], "e": {}}
    assert flatten(record) == {"host.name": "a", "host.ip.v4": "1.2.3.4", "list": [{"x": 1}], "e": {}}
    deep = _deep(5_000)  # no recursion limit: the builder rejects it by its bound instead
    assert len(next(iter(flatten(deep)))) > 5_000


def test_decoded_tables_take_the_hooks_and_count_per_protocol() -> None:
    builder = RowBuilder()
    for i in range(6):
        builder.add(i, f"line {i}", time_raw=f"2024-01-01T00:00:0{i}Z", level="error" if i % 2 else "info")
    builder.add(6, "deep", fields=_deep(bounds.MAX_DEPTH + 1))
    decoded = builder.finish()
    decoded.report.bytes = 123

    def hook(log):  # type: ignore[no-untyped-def]
        if log.level == "INFO":
            return None
        log.metadata["hooked"] = True
        return log

    with LogAnalyticsEngine() as engine:
        engine.add_pre_ingest_hook(hook)
        report = engine.ingest_decoded(decoded, "testproto")
        assert (report.accepted, report.dropped, report.rejected_count) == (3, 3, 1)
        stored = engine.query_logs()
        assert [log.message for log in stored] == ["line 1", "line 3", "line 5"]
        assert all(log.metadata == {"hooked": True} for log in stored)
        text = engine.export_metrics_prometheus()
    assert 'loganalytics_ingested_logs_total{path="testproto"} 3.0' in text
    assert 'loganalytics_protocol_bytes_total{protocol="testproto"} 123.0' in text
    assert 'loganalytics_protocol_rejected_total{protocol="testproto",reason="over_bound"} 1.0' in text


def test_a_json_array_body_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [{"timestamp": f"2024-01-01T00:00:0{i}Z", "level": "info", "message": f"m{i}"} for i in range(5)]
    body = orjson.dumps([*items[:2], 7, *items[2:]])
    calls = []
    real = orjson.loads

    def counting(data):  # type: ignore[no-untyped-def]
        calls.append(len(data))
        return real(data)

    monkeypatch.setattr(records.orjson, "loads", counting)
    with LogAnalyticsEngine() as engine:
        report = engine.ingest_json_body(body, array=True)
        assert (report.accepted, report.rejected_count) == (5, 1)
        assert report.rejected[0].position == 2
        assert "not a JSON object (found int)" in report.rejected[0].reason
        assert [log.message for log in engine.query_logs()] == [f"m{i}" for i in range(5)]
    assert calls == [len(body)]  # the body, and no item again


def test_report_folds_later_parts_with_their_offsets() -> None:
    first, later = IngestReport(accepted=2), IngestReport(accepted=3, no_timestamp=1)
    later.reject(1, "bad", "invalid_json")
    first.add(later, offset=10)
    assert (first.accepted, first.no_timestamp, first.rejected_count) == (5, 1, 1)
    assert first.rejected[0].position == 11
    assert first.to_answer()["rejected"] == [{"index": 11, "reason": "bad"}]


LINE = b'{"timestamp": "2024-01-01T00:00:00Z", "level": "info", "message": "encoded"}\n'


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("snappy", lambda b: bytes(cramjam.snappy.compress_raw(b))),
        ("identity", lambda b: b),
    ],
)
def test_bodies_in_each_encoding(encoding: str, encode) -> None:  # type: ignore[no-untyped-def]
    with LogAnalyticsEngine() as engine:
        client = TestClient(create_app(engine))
        answer = client.post("/api/v1/logs", content=encode(LINE * 3), headers={"Content-Encoding": encoding})
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 3


def test_bad_or_unknown_encodings_and_bombs_are_refused_naming_them() -> None:
    with LogAnalyticsEngine() as engine:
        client = TestClient(create_app(engine, Settings(max_body_bytes=60_000)))
        unknown = client.post("/api/v1/logs", content=LINE, headers={"Content-Encoding": "br"})
        assert unknown.status_code == 415
        assert "'br' is not supported" in unknown.json()["detail"]
        bad = client.post("/api/v1/logs", content=b"\x20garbage", headers={"Content-Encoding": "snappy"})
        assert bad.status_code == 400
        assert "not valid snappy" in bad.json()["detail"]
        bomb = bytes(cramjam.snappy.compress_raw(b"x" * 1_000_000))
        over = client.post("/api/v1/logs", content=bomb, headers={"Content-Encoding": "snappy"})
        assert over.status_code == 413
        assert "1000000 bytes is over the limit of 60000" in over.json()["detail"]
        deflated = client.post("/api/v1/logs", content=b"not zlib", headers={"Content-Encoding": "deflate"})
        assert deflated.status_code == 400
        assert engine.count() == 0


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


KEY = "s3cret-key"


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {KEY}", f"ApiKey {KEY}", f"ApiKey {_b64('my-id:' + KEY)}", f"Basic {_b64('elastic:' + KEY)}"],
)
def test_keys_presented_the_ways_shippers_send_them(authorization: str) -> None:
    settings = Settings(api_keys=(ApiKey("shipper", hash_key(KEY), frozenset({"ingest"})),))
    with LogAnalyticsEngine() as engine:
        client = TestClient(create_app(engine, settings))
        ok = client.post("/api/v1/logs", content=LINE, headers={"Authorization": authorization})
        assert ok.status_code == 200, ok.text
        wrong = authorization.replace(KEY, "other") if KEY in authorization else authorization[:-4] + "AAA="
        assert client.post("/api/v1/logs", content=LINE, headers={"Authorization": wrong}).status_code == 401
        missing = client.post("/api/v1/logs", content=LINE)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Basic")
        assert engine.count() == 1
