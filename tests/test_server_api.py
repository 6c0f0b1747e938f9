"""The HTTP API in process (server/app.py through Starlette's TestClient): every endpoint, its error
statuses, body and concurrency limits, and API-key scopes (server/auth.py)."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import Clock, entry_at
from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.errors import (
    DamagedGzipError,
    DiskFullError,
    LogAnalyticsError,
    OverloadedError,
    QuerySyntaxError,
    StorageError,
)
from log_analytics_engine.server import body as server_body
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import ApiKey, Settings, hash_key
from log_analytics_engine.timeparse import format_timestamp

KEYS = {"ingester": "k-ingest", "reader": "k-query", "boss": "k-admin"}


@pytest.fixture
def engine(clock: Clock) -> Iterator[LogAnalyticsEngine]:
    eng = LogAnalyticsEngine(clock=clock, alert_interval=None)
    yield eng
    eng.close()


@pytest.fixture
def client(engine: LogAnalyticsEngine) -> TestClient:
    return TestClient(create_app(engine, Settings()))


def _ndjson(*records: object) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    # no log count without a key
    assert client.get("/readyz").json() == {"status": "ready", "text_index": "ok"}


def test_ingest_ndjson_reports_rejected_items_by_index(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    body = _ndjson({"message": "disk full", "level": "error", "source": "db", "region": "eu"})
    body += b"not json\n" + _ndjson([1, 2], {"message": "ok", "timestamp": "2025-07-21T12:00:00Z"})
    answer = client.post("/api/v1/logs", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 200
    got = answer.json()
    assert got["accepted"] == 2
    assert [r["index"] for r in got["rejected"]] == [1, 2]
    assert "invalid JSON" in got["rejected"][0]["reason"]
    assert "not a JSON object" in got["rejected"][1]["reason"]
    [log] = engine.search("disk").logs
    assert (log.level, log.source, log.metadata) == ("ERROR", "db", {"region": "eu"})


def test_ndjson_bodies_that_would_crash_arrows_reader_are_items_like_any_other(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """A body that is only `null`, or an object nested 20,000 deep, next to a good line: the process
    lives, the odd items are rejected by index and the good one stored."""
    deep = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
    for odd in (b"null", deep):
        answer = client.post("/api/v1/logs", content=odd + b"\n" + _ndjson({"message": "survivor"}))
        assert answer.status_code == 200
        assert [r["index"] for r in answer.json()["rejected"]] == [0]
        assert answer.json()["accepted"] == 1
    assert engine.count({"keyword": "survivor"}) == 2


def test_ingest_json_array_and_gzip(client: TestClient, engine: LogAnalyticsEngine) -> None:
    body = json.dumps([{"message": "one"}, "two", {"message": "three", "tags": ["x"]}]).encode()
    answer = client.post("/api/v1/logs", content=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    assert answer.json() == {
        "accepted": 2,
        "rejected": [{"index": 1, "reason": "not a JSON object (found str)"}],
        "rejected_count": 1,
        "dropped": 0,
    }
    assert engine.count({"tags": ["x"]}) == 1


def test_malformed_payloads_are_400_with_position(client: TestClient) -> None:
    answer = client.post("/api/v1/logs", content=b'[{"message": "a"}, {"message": ')
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("invalid JSON at byte 31")
    answer = client.post("/api/v1/logs", content=b"nope\n[]\n")
    assert answer.status_code == 400  # nothing stored: every item rejected
    assert [r["index"] for r in answer.json()["rejected"]] == [0, 1]
    answer = client.post("/api/v1/logs", content=b"\x1f\x8b broken", headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 400
    assert "gzip" in answer.json()["detail"]


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "trailing garbage"])
def test_damaged_gzip_body_is_400_and_stores_nothing(
    client: TestClient, engine: LogAnalyticsEngine, damage: str
) -> None:
    """A gzip body that does not decompress whole (cut short, a corrupt block, bytes after the last
    member) is a 400 naming the problem and its byte, and none of its logs are stored."""
    whole = gzip.compress(_ndjson(*({"message": f"log {i} {i * 7919 % 10007}"} for i in range(2_000))))
    body = {
        "truncated": whole[: len(whole) // 2],
        "corrupt": whole[:10] + b"\xff" + whole[11:],
        "trailing garbage": whole + b"garbage",
    }[damage]
    answer = client.post("/api/v1/logs", content=body, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "damaged gzip at byte" in detail
    assert "nothing stored" in detail
    assert {"truncated": "truncated", "corrupt": "invalid block type", "trailing garbage": "not another"}[
        damage
    ] in detail
    assert engine.count() == 0


def test_multi_member_gzip_body_is_read_whole(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """A gzip body of several members (concatenated streams) stores the logs of every member."""
    body = gzip.compress(_ndjson({"message": "one"})) + gzip.compress(_ndjson({"message": "two"}))
    answer = client.post("/api/v1/logs", content=body, headers={"Content-Encoding": "gzip"})
    assert answer.json()["accepted"] == 2
    assert engine.count() == 2


def test_body_limit_is_413_also_after_decompression(engine: LogAnalyticsEngine) -> None:
    client = TestClient(create_app(engine, Settings(max_body_bytes=1000)))
    big = _ndjson(*({"message": "x" * 50} for _ in range(40)))
    assert client.post("/api/v1/logs", content=big).status_code == 413
    bomb = gzip.compress(b"\n" * 100_000)  # small on the wire, large inflated
    assert len(bomb) < 1000
    answer = client.post("/api/v1/logs", content=bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 413
    assert engine.count() == 0


def test_ingest_beyond_the_pending_limit_is_429(engine: LogAnalyticsEngine) -> None:
    """With one ingest in progress (held by a slow hook) and a limit of one, the next gets 429."""
    release, entered = threading.Event(), threading.Event()

    def slow(entry: LogEntry) -> LogEntry:
        entered.set()
        release.wait(10)
        return entry

    engine.add_pre_ingest_hook(slow)
    client = TestClient(create_app(engine, Settings(max_pending_ingest=1)))
    first: list[int] = []
    worker = threading.Thread(
        target=lambda: first.append(
            client.post("/api/v1/logs", content=_ndjson({"message": "a"})).status_code
        )
    )
    worker.start()
    assert entered.wait(10)
    answer = client.post("/api/v1/logs", content=_ndjson({"message": "b"}))
    release.set()
    worker.join(10)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "1"
    assert first == [200]
    assert engine.count() == 1


def test_search_pages_with_cursor(client: TestClient, engine: LogAnalyticsEngine, clock: Clock) -> None:
    engine.ingest_logs([entry_at(clock.now - i, "ERROR", f"e{i}") for i in range(5)])
    first = client.get("/api/v1/search", params={"q": "level:ERROR", "limit": 2}).json()
    assert first["total"] == 5
    assert [log["message"] for log in first["logs"]] == ["e0", "e1"]
    second = client.get("/api/v1/search", params={"q": "level:ERROR", "limit": 2, "cursor": first["cursor"]})
    assert [log["message"] for log in second.json()["logs"]] == ["e2", "e3"]
    bounded = client.get(
        "/api/v1/search", params={"start": "2025-07-21T11:59:58Z", "end": "2025-07-21T12:00:00Z"}
    )
    assert bounded.json()["total"] == 3


def test_query_errors_are_400_with_position(client: TestClient) -> None:
    answer = client.get("/api/v1/search", params={"q": "level:("})
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "expected a value at 6, found (",
        "position": 6,
        "expected": "a value",
        "found": "(",
    }
    assert client.get("/api/v1/search", params={"limit": 5000}).status_code == 400
    assert client.get("/api/v1/search", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/search", params={"cursor": "garbage!"}).status_code == 400
    assert client.get("/api/v1/hits", params={"step": "5x"}).status_code == 400


def test_query_hits_fields_stats_metrics(
    client: TestClient, engine: LogAnalyticsEngine, clock: Clock
) -> None:
    engine.ingest_logs(
        [
            entry_at(clock.now - 30, "ERROR", "db down", source="db", metadata={"region": "eu"}),
            entry_at(clock.now - 90, "INFO", "fine", source="api"),
        ]
    )
    run = client.get("/api/v1/query", params={"q": "* | stats by (source) count() as n"}).json()
    assert run["columns"] == ["source", "n"]
    assert sorted((r["source"], r["n"]) for r in run["rows"]) == [("api", 1), ("db", 1)]
    hits = client.get("/api/v1/hits", params={"q": "*", "step": "1m"}).json()
    assert hits["step"] == "1m"
    assert sum(b["hits"] for b in hits["buckets"]) == 2
    assert len(hits["buckets"]) == 2
    fields = client.get("/api/v1/fields", params={"q": "level:ERROR"}).json()
    assert fields["sampled"] == 1
    assert {"level", "source", "region"} <= {f["name"] for f in fields["fields"]}
    assert client.get("/api/v1/stats").json()["total_logs"] == 2
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "loganalytics_total_logs 2.0" in metrics.text


def test_rules_crud_and_alerts(client: TestClient, engine: LogAnalyticsEngine, clock: Clock) -> None:
    rule = {"query": "level:ERROR", "threshold": 2, "time_window": 60, "labels": {"team": "db"}}
    answer = client.put("/api/v1/rules/db errors", json=rule)
    assert answer.status_code == 200
    assert answer.json()["name"] == "db errors"
    assert [r["name"] for r in client.get("/api/v1/rules").json()] == ["db errors"]
    bad = client.put("/api/v1/rules/bad", json={"query": "level:ERROR", "threshold": 0})
    assert bad.status_code == 400
    assert "threshold must be at least 1" in bad.json()["detail"]
    engine.ingest_logs([entry_at(clock.now, "ERROR", "a"), entry_at(clock.now, "ERROR", "b")])
    [alert] = client.get("/api/v1/alerts").json()
    assert (alert["rule_name"], alert["count"], alert["labels"]) == ("db errors", 2, {"team": "db"})
    assert alert == engine.get_alerts()[0].to_dict()  # times as RFC 3339 text, samples as log dicts
    assert alert["triggered_at"] == format_timestamp(round(clock.now * 1e9))
    assert [s["message"] for s in alert["sample_logs"]] == ["a", "b"]
    assert client.get("/api/v1/alerts", params={"since": clock.now + 1}).json() == []
    assert client.get("/api/v1/alerts", params={"rule": "other"}).json() == []
    assert client.delete("/api/v1/rules/db errors").status_code == 204
    assert client.delete("/api/v1/rules/db errors").status_code == 404
    assert client.get("/api/v1/rules").json() == []


def test_openapi_lists_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/logs", "/api/v1/search", "/api/v1/query", "/api/v1/hits", "/api/v1/fields"):
        assert path in paths
    assert {"/api/v1/rules", "/api/v1/rules/{name}", "/api/v1/alerts", "/metrics", "/healthz"} <= set(paths)


@pytest.fixture
def secured(engine: LogAnalyticsEngine) -> TestClient:
    keys = (
        ApiKey("ingester", hash_key(KEYS["ingester"]), frozenset({"ingest"})),
        ApiKey("reader", hash_key(KEYS["reader"]), frozenset({"query"})),
        ApiKey("boss", hash_key(KEYS["boss"]), frozenset({"admin"})),
    )
    return TestClient(create_app(engine, Settings(api_keys=keys)))


def test_keys_and_scopes(secured: TestClient) -> None:
    body = _ndjson({"message": "m"})
    missing = secured.post("/api/v1/logs", content=body)
    assert missing.status_code == 401
    assert "API key is required" in missing.json()["detail"]
    wrong = secured.get("/api/v1/search", headers={"X-API-Key": "nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "unknown API key"})
    as_ingester = {"Authorization": f"Bearer {KEYS['ingester']}"}
    assert secured.post("/api/v1/logs", content=body, headers=as_ingester).status_code == 200
    denied = secured.get("/api/v1/search", headers=as_ingester)
    assert (denied.status_code, denied.json()["detail"]) == (
        403,
        "the key 'ingester' lacks the 'query' scope",
    )
    as_reader = {"X-API-Key": KEYS["reader"]}
    assert secured.get("/api/v1/search", headers=as_reader).json()["total"] == 1
    assert secured.get("/metrics", headers=as_reader).status_code == 200
    assert secured.put("/api/v1/rules/r", json={"query": "x"}, headers=as_reader).status_code == 403
    as_boss = {"Authorization": f"bearer {KEYS['boss']}"}
    assert secured.put("/api/v1/rules/r", json={"query": "x"}, headers=as_boss).status_code == 200
    assert secured.post("/api/v1/logs", content=body, headers=as_boss).status_code == 200
    assert secured.get("/healthz").status_code == 200  # health checks need no key


def test_tail_streams_only_new_matching_logs(
    client: TestClient, engine: LogAnalyticsEngine, clock: Clock
) -> None:
    engine.ingest_logs([entry_at(clock.now, "ERROR", "before connecting")])
    with client.stream("GET", "/api/v1/tail", params={"q": "level:ERROR"}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == ": tailing"
        engine.ingest_logs(
            [entry_at(clock.now, "INFO", "not matching"), entry_at(clock.now, "ERROR", "new one")]
        )
        got = []
        for line in lines:
            if line.startswith("data: "):
                got.append(json.loads(line.removeprefix("data: "))["message"])
                break
        assert got == ["new one"]
    assert client.get("/api/v1/tail", params={"q": "level:("}).status_code == 400


def test_fields_with_keys_that_are_not_json_paths(client: TestClient) -> None:
    """Metadata keys are any text: `a.b`, `$`, quotes and non-ASCII are summarised like the rest, their
    top values keeping their JSON types (a number stays a number, a list a list)."""
    record = {"message": "x", "a.b": 1, "$": "dollar", 'q"uote': [1, 2], "Îdã": None}
    assert client.post("/api/v1/logs", content=_ndjson(record)).json()["accepted"] == 1
    fields = {f["name"]: f for f in client.get("/api/v1/fields").json()["fields"]}
    assert fields["a.b"]["top"] == [[1, 1]]
    assert fields["$"]["top"] == [["dollar", 1]]
    assert fields['q"uote']["top"] == [[[1, 2], 1]]
    assert fields["Îdã"]["top"] == []


def _error_classes(root: type[LogAnalyticsError]) -> list[type[LogAnalyticsError]]:
    found = [root]
    for sub in root.__subclasses__():
        found += _error_classes(sub)
    return found


@pytest.mark.parametrize("error", _error_classes(LogAnalyticsError), ids=lambda cls: cls.__name__)
def test_engine_errors_keep_their_status_at_the_http_edge(
    engine: LogAnalyticsEngine, monkeypatch: pytest.MonkeyPatch, error: type[LogAnalyticsError]
) -> None:
    """Every LogAnalyticsError subclass raised inside a route answers with the status it declares."""
    made_of = {QuerySyntaxError: ("expected x", 3, "y"), DamagedGzipError: (7, "truncated")}
    instance = error(*made_of.get(error, ("it went wrong",)))  # type: ignore[arg-type]

    def fail(*args: object, **kwargs: object) -> None:
        raise instance

    monkeypatch.setattr(engine, "search", fail)
    client = TestClient(create_app(engine, Settings()), raise_server_exceptions=False)
    answer = client.get("/api/v1/search", params={"q": "x"})
    assert answer.status_code == error.status
    assert answer.json()["detail"] == str(instance)
    retry = None if error.retry_after is None else str(error.retry_after)
    assert answer.headers.get("retry-after") == retry
    # a busy or overloaded store and a full disk are worth retrying; a damaged store is not, nor bad input
    expected = {StorageError: "1", OverloadedError: "1", DiskFullError: "30"}
    assert retry == expected.get(error)


def test_a_line_that_is_not_utf8_costs_no_other_line(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """An NDJSON line holding a byte that is not UTF-8 is stored with U+FFFD (and counted) beside the
    good lines, as a file's line is; it used to fail the whole body with a 500."""
    body = b'{"message": "good 1"}\n{"message": "bad \xff byte"}\n{"message": "good 2"}\n'
    answer = client.post("/api/v1/logs", content=body)
    assert answer.json() == {"accepted": 3, "rejected": [], "rejected_count": 0, "dropped": 0}
    assert sorted(log.message for log in engine.query_logs({})) == ["bad \ufffd byte", "good 1", "good 2"]
    assert engine.get_stats()["ingest_errors"]["invalid_utf8"] == 1


@pytest.mark.parametrize(
    ("depth", "why"), [(300, "nested deeper than 128 levels"), (2000, "invalid JSON: depth limit exceeded")]
)
def test_a_deeply_nested_line_is_rejected_alone(
    client: TestClient, engine: LogAnalyticsEngine, depth: int, why: str
) -> None:
    """A line nested deeper than JSON answers can hold (128 levels; past 1,024 it does not even parse)
    is rejected by itself, saying why; the other lines are stored (it used to fail the body with a 500)."""
    deep = b'{"message": "deep", "m": ' + b"[" * depth + b"]" * depth + b"}\n"
    answer = client.post("/api/v1/logs", content=b'{"message": "ok"}\n' + deep).json()
    assert (answer["accepted"], [r["index"] for r in answer["rejected"]]) == (1, [1])
    assert answer["rejected"][0]["reason"].startswith(why)
    assert [log.message for log in engine.query_logs({})] == ["ok"]


def test_an_array_body_keeps_its_good_items_past_bad_bytes_and_deep_items(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """A JSON array with a byte that is not UTF-8 and an item nested past 128 levels stores the other
    items and rejects only the deep one, by index, saying why."""
    deep = b'{"message": "deep", "m": ' + b"[" * 300 + b"]" * 300 + b"}"
    body = b'[{"message": "a"}, {"message": "bad \xff"}, ' + deep + b"]"
    answer = client.post("/api/v1/logs", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 2
    [rejected] = answer.json()["rejected"]
    assert rejected["index"] == 2
    assert "nested deeper than 128 levels" in rejected["reason"]
    assert sorted(log.message for log in engine.query_logs({})) == ["a", "bad \ufffd"]


def test_query_text_and_rule_bodies_are_bounded(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """Query text over 16,384 characters or 512 terms, in a search or a rule, is a 400 naming the
    bound; a rule body over 64 KB is a 413; nothing of a refused rule is kept."""
    words = " ".join(f"w{i}" for i in range(600))  # 600 terms in 3,889 characters
    long = "x" * 20_000
    for q, bound in ((words, "600 terms, over the limit of 512"), (long, "over the limit of 16,384")):
        answer = client.get("/api/v1/search", params={"q": q})
        assert answer.status_code == 400
        assert bound in answer.json()["detail"]
        assert client.put("/api/v1/rules/big", json={"query": q}).status_code == 400
    huge = client.put("/api/v1/rules/huge", json={"query": "x", "description": "d" * 70_000})
    assert huge.status_code == 413
    assert "over the limit of 65536" in huge.json()["detail"]
    assert client.put("/api/v1/rules/list", content=b"[1]").status_code == 400
    assert engine.get_alert_rules() == []


def test_the_rejected_list_is_capped_and_counted(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """An array of 3,000 items that are not logs (and one that is): the answer lists the first 1,000
    rejections by index and counts all 3,000; the log is stored."""
    body = json.dumps([*range(3_000), {"message": "the one log"}]).encode()
    answer = client.post("/api/v1/logs", content=body, headers={"Content-Type": "application/json"}).json()
    assert (answer["accepted"], answer["rejected_count"], len(answer["rejected"])) == (1, 3_000, 1_000)
    assert [r["index"] for r in answer["rejected"]] == list(range(1_000))
    assert engine.count() == 1


def test_rejections_past_the_sql_paths_list_are_counted(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """With a pre-ingest hook every line takes the SQL path, whose report lists its first 100
    rejections: the answer still counts all 150 (it said 100)."""
    engine.add_pre_ingest_hook(lambda log: log)
    body = b"".join(b'{"message": "cut' + b"\n" for _ in range(150)) + b'{"message": "kept"}\n'
    answer = client.post("/api/v1/logs", content=body).json()
    assert (answer["accepted"], answer["rejected_count"]) == (1, 150)
    assert engine.count() == 1


def test_a_slow_body_holds_no_ingest_slot_and_is_cut(
    engine: LogAnalyticsEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one ingest slot, a client trickling its body does not keep another client's ingest at
    429, and is answered 408 once its body pauses too long."""
    monkeypatch.setattr(server_body, "BODY_IDLE_SECONDS", 0.5)
    app = create_app(engine, Settings(max_pending_ingest=1))

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"message": "slow'
        await asyncio.sleep(2)  # longer than the idle bound
        yield b'"}\n'

    async def run() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            slow = asyncio.create_task(client.post("/api/v1/logs", content=trickle()))
            await asyncio.sleep(0.1)  # the slow body is being read
            fast = await client.post("/api/v1/logs", content=b'{"message": "fast"}\n')
            return await slow, fast

    slow, fast = asyncio.run(run())
    assert fast.status_code == 200
    assert slow.status_code == 408
    assert "request body too slow" in slow.json()["detail"]
    assert [log.message for log in engine.query_logs({})] == ["fast"]
