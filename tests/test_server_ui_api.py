"""The API the web UI draws from, in process: hits from the parsed filter (auto step following the
range, split by level), surrounding logs, query validation with the error's place, rule states, rule
switches and checks, start/end on pipes and fields, and every answer against its typed model."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, create_model

from conftest import Clock, entry_at
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.server import answers
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import ApiKey, Settings, hash_key
from log_analytics_engine.timeparse import format_timestamp

NS = 1_000_000_000
LEVELS = ("INFO", "WARN", "ERROR", "DEBUG")
SOURCES = ("api", "db", "web")


@pytest.fixture
def engine(clock: Clock) -> Iterator[LogAnalyticsEngine]:
    eng = LogAnalyticsEngine(clock=clock, alert_interval=None)
    yield eng
    eng.close()


@pytest.fixture
def client(engine: LogAnalyticsEngine) -> TestClient:
    return TestClient(create_app(engine, Settings()))


def _logs(
    clock: Clock, count: int = 600, span: float = 3 * 3600, seed: int = 7
) -> list[tuple[float, str, str]]:
    """(time, level, source) of `count` logs spread over the `span` seconds before the clock's now."""
    rng = random.Random(seed)
    return [(clock.now - rng.uniform(0, span), rng.choice(LEVELS), rng.choice(SOURCES)) for _ in range(count)]


def _ingest(engine: LogAnalyticsEngine, rows: list[tuple[float, str, str]]) -> None:
    engine.ingest_logs([entry_at(t, lv, f"event {i}", source=src) for i, (t, lv, src) in enumerate(rows)])


def _model(model: type[BaseModel], data: object) -> None:
    """`data` reads as `model` (extra keys would be ignored, so they are refused here)."""

    strict = create_model(f"Strict{model.__name__}", __base__=model, __config__=None)
    strict.model_config["extra"] = "forbid"
    strict.model_rebuild(force=True)
    strict.model_validate(data)


def test_hits_by_level_count_each_bucket_exactly(
    client: TestClient, engine: LogAnalyticsEngine, clock: Clock
) -> None:
    """`field=level` gives one row per bucket and level whose counts are the data's, bucket by bucket."""
    rows = _logs(clock)
    _ingest(engine, rows)
    start, end = clock.now - 3 * 3600, clock.now
    answer = client.get(
        "/api/v1/hits", params={"q": "*", "start": start, "end": end, "step": "10m", "field": "level"}
    )
    body = answer.json()
    _model(answers.HitsAnswer, body)
    step = 600 * NS
    expected = Counter(
        (format_timestamp(int(t * NS) // step * step), level)
        for t, level, _ in rows
        if start * NS <= int(t * NS)
    )
    assert {(b["_time"], b["level"]): b["hits"] for b in body["buckets"]} == dict(expected)


def test_hits_auto_step_follows_the_range(
    client: TestClient, engine: LogAnalyticsEngine, clock: Clock
) -> None:
    """`step=auto` picks the smallest step giving at most 150 buckets over the range asked; without
    a range, over the matching logs' span."""
    _ingest(engine, _logs(clock, span=3 * 3600))
    steps = {}
    for seconds in (900, 3600, 6 * 3600, 7 * 86400):
        params = {"q": "*", "start": clock.now - seconds, "end": clock.now, "step": "auto"}
        steps[seconds] = client.get("/api/v1/hits", params=params).json()["step"]
    assert steps == {900: "10s", 3600: "30s", 6 * 3600: "5m", 7 * 86400: "3h"}
    assert (
        client.get("/api/v1/hits", params={"q": "*", "step": "auto"}).json()["step"] == "5m"
    )  # ~3 h of logs


def test_hits_refuses_too_many_buckets_pipes_and_bad_steps(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """A step giving over 10,000 buckets, a query with pipes and a step that is not one are 400s."""
    engine.ingest_logs([entry_at(0, message="old"), entry_at(86400 * 30, message="new")])
    many = client.get("/api/v1/hits", params={"step": "1s"})
    assert many.status_code == 400
    assert "at most 10,000" in many.json()["detail"]
    assert client.get("/api/v1/hits", params={"q": "* | limit 1"}).status_code == 400
    assert client.get("/api/v1/hits", params={"step": "5w"}).status_code == 400


def test_hits_split_by_a_field_of_too_many_values_says_so(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """Over 10,000 (bucket, value) rows is a 400 naming hits' own remedy, not a pipe's."""
    engine.ingest_logs([entry_at(60, message=f"m{i}", request_id=f"r{i}") for i in range(10_001)])
    answer = client.get("/api/v1/hits", params={"step": "1d", "field": "request_id"})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("hits by request_id: more than 10,000")
    assert len(client.get("/api/v1/hits", params={"step": "1d", "field": "level"}).json()["buckets"]) == 1


def test_context_gives_the_sources_neighbours_in_time_order(
    client: TestClient, engine: LogAnalyticsEngine, clock: Clock
) -> None:
    """The anchor's source's logs just before and after it by (time, seq), oldest first."""
    rows = _logs(clock, count=200)
    _ingest(engine, rows)
    page = client.get("/api/v1/search", params={"q": "source:db", "limit": 50}).json()
    _model(answers.SearchAnswer, page)
    assert len({log["seq"] for log in page["logs"]}) == 50
    anchor = page["logs"][25]
    body = client.get("/api/v1/context", params={"seq": anchor["seq"], "before": 3, "after": 4}).json()
    _model(answers.ContextAnswer, body)
    db = sorted(
        (log["timestamp"], log["seq"])
        for log in client.get("/api/v1/search", params={"q": "source:db", "limit": 1000}).json()["logs"]
    )
    at = db.index((anchor["timestamp"], anchor["seq"]))
    assert [(x["timestamp"], x["seq"]) for x in body["before"]] == db[at - 3 : at]
    assert [(x["timestamp"], x["seq"]) for x in body["after"]] == db[at + 1 : at + 5]
    assert body["anchor"]["seq"] == anchor["seq"]
    assert {x["source"] for x in body["before"] + body["after"]} == {"db"}
    assert client.get("/api/v1/context", params={"seq": 10**9}).status_code == 404
    assert client.get("/api/v1/context", params={"seq": 1, "before": 501}).status_code == 422


def test_validate_answers_200_with_the_error_position_and_the_stats_shape(client: TestClient) -> None:
    """Bad text is `valid: false` with where and what was expected; a stats pipe reports its columns."""
    bad = client.get("/api/v1/validate", params={"q": "level:ERROR and ("}).json()
    _model(answers.Validation, bad)
    assert bad["valid"] is False
    assert bad["error"]["position"] == 17
    assert bad["error"]["detail"].startswith("expected ")
    plain = client.get("/api/v1/validate", params={"q": "error source:db"}).json()
    assert (plain["valid"], plain["pipes"], plain["stats"]) == (True, False, None)
    stats = client.get(
        "/api/v1/validate", params={"q": "* | stats by (source, _time:5m) count() as n, avg(ms)"}
    ).json()
    assert stats["stats"] == {
        "by": ["source", "_time"],
        "time_key": "_time",
        "step": "5m",
        "funcs": ["n", "avg(ms)"],
    }
    sort = client.get("/api/v1/validate", params={"q": "* | sort by (source)"}).json()
    assert (sort["pipes"], sort["stats"]) == (True, None)


def test_query_and_fields_take_start_and_end(
    client: TestClient, engine: LogAnalyticsEngine, clock: Clock
) -> None:
    """`start`/`end` bound the logs a pipe query and the fields sidebar see."""
    rows = _logs(clock)
    _ingest(engine, rows)
    start = clock.now - 3600
    inside = sum(1 for t, _, _ in rows if int(t * NS) >= int(start * NS))
    run = client.get("/api/v1/query", params={"q": "* | stats count() as n", "start": start}).json()
    _model(answers.QueryAnswer, run)
    assert run["rows"] == [{"n": inside}]
    fields = client.get("/api/v1/fields", params={"q": "*", "start": start}).json()
    _model(answers.FieldsAnswer, fields)
    assert fields["sampled"] == inside
    level = next(f for f in fields["fields"] if f["name"] == "level")
    expected = Counter(lv for t, lv, _ in rows if int(t * NS) >= int(start * NS))
    assert dict(level["top"][:4]) == dict(expected)


def test_rule_states_switches_and_checks(
    client: TestClient, engine: LogAnalyticsEngine, clock: Clock
) -> None:
    """A rule reads ok, then firing with its window's count once matches arrive, disabled when
    switched off; `_validate` answers what a PUT would, 200 either way."""
    assert (
        client.put(
            "/api/v1/rules/db", json={"query": "source:db", "threshold": 3, "time_window": 60}
        ).status_code
        == 200
    )
    [state] = client.get("/api/v1/rules/status").json()
    _model(answers.RuleState, state)
    assert (state["state"], state["current"], state["last_fired"]) == ("ok", 0, None)
    engine.ingest_logs([entry_at(clock.now - i, source="db") for i in range(4)])
    [state] = client.get("/api/v1/rules/status").json()
    fired = format_timestamp(int(clock.now * NS))
    assert (state["state"], state["current"], state["threshold"]) == ("firing", 4, 3)
    assert state["last_fired"] == state["firing_since"] == fired
    [alert] = client.get("/api/v1/alerts").json()
    _model(answers.AlertAnswer, alert)
    [rule] = client.get("/api/v1/rules").json()
    _model(answers.Rule, rule)
    assert "conditions" not in rule  # the rules-file schema as written: no nulls for what is absent
    off = client.post("/api/v1/rules/db/disable")
    assert off.json()["enabled"] is False
    _model(answers.Rule, off.json())
    assert "conditions" not in off.json()  # the rule as the rules file writes it, as GET answers it
    [state] = client.get("/api/v1/rules/status").json()
    assert (state["state"], state["current"]) == ("disabled", None)
    assert client.post("/api/v1/rules/db/enable").json()["enabled"] is True
    assert client.post("/api/v1/rules/nope/enable").status_code == 404
    check = client.post(
        "/api/v1/rules/_validate", json={"name": "x", "query": "level:(", "threshold": 1}
    ).json()
    _model(answers.RuleCheck, check)
    assert check["valid"] is False
    assert "expected a value at 6" in check["error"]
    assert (
        "threshold must be at least 1"
        in client.post("/api/v1/rules/_validate", json={"name": "x", "query": "a", "threshold": 0}).json()[
            "error"
        ]
    )
    good = client.post("/api/v1/rules/_validate", json={"name": "x", "query": "level:ERROR"}).json()
    assert (good["valid"], good["rule"]["threshold"]) == (True, 1)
    assert [r["name"] for r in client.get("/api/v1/rules").json()] == ["db"]  # a check stores nothing
    assert client.post("/api/v1/rules/_validate", content=b"x" * (65 << 10)).status_code == 413
    nameless = client.post("/api/v1/rules/_validate", json={"query": "x"})
    assert (nameless.status_code, nameless.json()["valid"]) == (200, False)
    assert "needs a name" in nameless.json()["error"]


def test_rule_switches_need_admin(engine: LogAnalyticsEngine) -> None:
    """Turning a rule on or off takes the admin scope; reading states and checking a rule take query."""
    keys = (
        ApiKey("reader", hash_key("k-query"), frozenset({"query"})),
        ApiKey("boss", hash_key("k-admin"), frozenset({"admin"})),
    )
    client = TestClient(create_app(engine, Settings(api_keys=keys)))
    boss, reader = {"X-API-Key": "k-admin"}, {"X-API-Key": "k-query"}
    assert client.put("/api/v1/rules/r", json={"query": "x"}, headers=boss).status_code == 200
    assert client.post("/api/v1/rules/r/disable", headers=reader).status_code == 403
    assert client.post("/api/v1/rules/r/disable", headers=boss).status_code == 200
    assert client.get("/api/v1/rules/status", headers=reader).status_code == 200
    assert (
        client.post("/api/v1/rules/_validate", json={"name": "r", "query": "x"}, headers=reader).status_code
        == 200
    )
    assert client.get("/api/v1/validate", params={"q": "x"}).status_code == 401


def test_openapi_names_the_answer_models(client: TestClient) -> None:
    """The OpenAPI document says what each UI-facing route answers."""
    doc = client.get("/openapi.json").json()

    def schema(path: str, method: str = "get") -> str:
        content = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        return str(content)

    for path, model in (
        ("/api/v1/search", "SearchAnswer"),
        ("/api/v1/query", "QueryAnswer"),
        ("/api/v1/hits", "HitsAnswer"),
        ("/api/v1/fields", "FieldsAnswer"),
        ("/api/v1/context", "ContextAnswer"),
        ("/api/v1/validate", "Validation"),
        ("/api/v1/access", "Access"),
    ):
        assert model in schema(path), path
    assert "RuleState" in schema("/api/v1/rules/status")
    assert "RuleCheck" in schema("/api/v1/rules/_validate", "post")
    assert "Rule" in schema("/api/v1/rules/{name}/enable", "post")
    assert "Log" in str(doc["components"]["schemas"]["SearchAnswer"])
