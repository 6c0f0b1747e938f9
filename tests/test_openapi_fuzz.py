"""Schemathesis fuzzing of the HTTP API in process (server/app.py): every operation of `/openapi.json`
gets generated requests, valid and invalid ones, against an app over an engine holding a few logs, an
alert rule and its alert, and no answer may be a 5xx: bad input is a 4xx, never a server error.

Then the 5xx answers once found by probing by hand (all fixed), each with the answer it gets now."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.schemas import OpenApiSchema

from conftest import Clock, entry_at, generate_logs
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.alerting.rulefile import rule_from_dict
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import Settings

# Per operation at most 25 generated cases (the examples and coverage phases add a few dozen of their
# own), derandomized so that every run sends the same requests, with no example database to replay.
CONFIG = schemathesis.Config.from_dict(
    {"generation": {"max-examples": 25, "deterministic": True, "database": "none"}}
)


def _preloaded_engine() -> LogAnalyticsEngine:
    clock = Clock()
    eng = LogAnalyticsEngine(clock=clock, alert_interval=None)
    eng.ingest_logs(generate_logs(20, seed=7))
    rule = {"name": "db errors", "query": "level:ERROR", "threshold": 1, "labels": {"team": "db"}}
    eng.add_alert_rule(rule_from_dict(rule, "rule 'db errors'"))
    eng.ingest_logs([entry_at(clock.now, "ERROR", "disk full", source="db")])  # fires an alert
    return eng


@pytest.fixture(scope="module")
def fuzz_engine() -> Iterator[LogAnalyticsEngine]:
    """The engine every fuzzed request reaches (requests change it: rules come and go, logs arrive)."""
    eng = _preloaded_engine()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_engine: LogAnalyticsEngine) -> OpenApiSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzz_engine, Settings()), config=CONFIG)


# /api/v1/tail is Server-Sent Events: the response never ends (it polls for new logs, and sends a
# keepalive comment every 15 s, until the client goes away), so every fuzzed request would block until
# the client's read timeout (10 s each, minutes in all). The filter must be set here: `from_fixture`
# replaces the filters of the schema the fixture returns with its own.
# /api/v1/admin/backup writes a copy of the store wherever its generated `dest` names (test_backup.py
# checks its answers to bad destinations instead).
schema = (
    schemathesis.pytest.from_fixture("api_schema")
    .exclude(path="/api/v1/tail")
    .exclude(path="/api/v1/admin/backup")
)


@schema.parametrize()
def test_no_server_errors(case: schemathesis.Case) -> None:
    # An exception the app does not handle propagates here with its traceback; a 5xx answer fails the check.
    case.call_and_validate(checks=[not_a_server_error])


# -- 5xx answers found by hand (all fixed), each with the answer it gets now ------------------------

JSON = {"content-type": "application/json"}
FOUND: list[Any] = [
    pytest.param("GET", "/api/v1/hits", {"params": {"step": "²s"}}, 400, id="hits-superscript-digit-step"),
    pytest.param(
        "GET", "/api/v1/hits", {"params": {"step": "999999999999d"}}, 400, id="hits-step-over-int64"
    ),
    pytest.param("GET", "/api/v1/hits", {"params": {"q": "* | limit 1"}}, 400, id="hits-pipe-in-filter"),
    pytest.param(
        "GET",
        "/api/v1/query",
        {"params": {"q": "* | stats by (_time:999999999999d) count()"}},
        400,
        id="query-bucket-over-int64",
    ),
    *(
        pytest.param(
            "GET", "/api/v1/search", {"params": {"q": f'~"{pattern}"'}}, 400, id=f"search-regex-{name}"
        )
        for name, pattern in [
            ("repeat-over-1000", "a{1001}"),
            ("possessive", "a*+"),
            ("atomic-group", "(?>x)"),
            ("backslash-Z", r"\\Z"),
            ("verbose-flag", "(?x) a"),
        ]
    ),
    *(
        pytest.param("PUT", "/api/v1/rules/r", {"content": body, "headers": JSON}, 400, id=f"rule-{name}")
        for name, body in [
            ("time-window-1e308", '{"query": "x", "time_window": 1e308}'),
            ("time-window-nan", '{"query": "x", "time_window": NaN}'),
            ("threshold-infinite", '{"query": "x", "threshold": 1e400}'),
            ("severity-number", '{"query": "x", "severity": 1}'),
        ]
    ),
    *(  # instants the int64 nanoseconds cannot hold: stored with the ingest time, counted as bad
        pytest.param("POST", "/api/v1/logs", {"content": body}, 200, id=f"ingest-{name}")
        for name, body in [
            ("year-3000", b'{"message": "a", "timestamp": "3000-01-01T00:00:00Z"}'),
            ("year-1500", b'{"message": "a", "timestamp": "1500-01-01T00:00:00Z"}'),
            ("epoch-1e20", b'{"message": "a", "timestamp": 1e20}'),
        ]
    ),
]


@pytest.fixture
def fresh_client() -> Iterator[TestClient]:
    """A client over its own preloaded engine: a bad rule that got stored must not reach other tests."""
    eng = _preloaded_engine()
    yield TestClient(create_app(eng, Settings()), raise_server_exceptions=False)
    eng.close()


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), FOUND)
def test_found_inputs_get_a_clear_answer(
    fresh_client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    answer = fresh_client.request(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    if status == 400:
        assert answer.json()["detail"]
    if path == "/api/v1/logs":
        assert answer.json()["accepted"] == 1
        assert fresh_client.get("/api/v1/stats").json()["ingest_errors"].get("timestamp") == 1
