"""What the native API answers, as pydantic models: the OpenAPI document shows them, and the tests
check the live answers against them. The routes write their JSON with orjson (FastAPI's encoder walks
every value in Python first: 10× slower on a page of 1,000 logs), so these describe and do not convert."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel, Field

from log_analytics_engine.model import LogEntry

JsonValue = Any  # a field's value: text, number, boolean, list or object


class LogFields(BaseModel):
    """A log's fields (an alert's sample logs are these)."""

    timestamp: str = Field(description="RFC 3339, UTC, to the nanosecond")
    level: str
    message: str
    source: str
    thread_id: str | None
    request_id: str | None
    user_id: str | None
    tags: list[str]
    metadata: dict[str, JsonValue]


class Log(LogFields):
    """A stored log; `seq` is its place in the storing order (unique; `/api/v1/context` takes it)."""

    seq: int | None


def log_json(log: LogEntry) -> dict[str, Any]:
    """A log as the API writes it (`Log`)."""
    out = log.to_dict()
    out["seq"] = log.seq
    return out


def json_answer(content: Any) -> Response:
    """A JSON answer serialised by orjson (FastAPI's own encoder walks every value in Python first)."""
    body = orjson.dumps(content, default=_plain_value, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, media_type="application/json")


def _plain_value(value: Any) -> Any:
    """What orjson cannot write itself (a DuckDB DECIMAL or INTERVAL in a pipe result): a number or text."""
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


class SearchAnswer(BaseModel):
    """A page of matching logs, newest first; `cursor` continues after its last (null at the end)."""

    total: int
    logs: list[Log]
    cursor: str | None


class QueryAnswer(BaseModel):
    """A pipe query's columns (in order), rows (objects by column) and warnings."""

    columns: list[str]
    rows: list[dict[str, JsonValue]]
    warnings: list[str]


class HitsAnswer(BaseModel):
    """Logs per time bucket: the step used, and a row per non-empty bucket (`_time`: its start,
    RFC 3339; `hits`), per value of the field asked for (under its name) when split by one."""

    step: str
    buckets: list[dict[str, JsonValue]]


class FieldSummary(BaseModel):
    """A field of the sampled logs: in how many it has a value, its top values with their counts, and
    the field as query text (`query + ':' + quoted value` selects it)."""

    name: str
    count: int
    top: list[tuple[JsonValue, int]]
    query: str


class FieldsAnswer(BaseModel):
    """The fields of the newest `sampled` matching logs."""

    sampled: int
    fields: list[FieldSummary]


class ContextAnswer(BaseModel):
    """A log and the logs of its source just before and after it (by time, then seq), oldest first."""

    anchor: Log
    before: list[Log]
    after: list[Log]


class SyntaxProblem(BaseModel):
    """Why query text does not parse: at 0-based `position`, what was `expected` and what `found`."""

    detail: str
    position: int | None = None
    expected: str | None = None
    found: str | None = None


class StatsShape(BaseModel):
    """The columns of the query's last `| stats`: its `by` keys, the time-bucket key among them (with
    its step) if any, and the functions' columns."""

    by: list[str]
    time_key: str | None
    step: str | None
    funcs: list[str]


class Validation(BaseModel):
    """Whether query text parses; if so its filter as query text (without the pipes: what an alert
    rule of the query takes), whether it has pipes and the shape of its stats."""

    valid: bool
    error: SyntaxProblem | None
    filter: str | None = None
    pipes: bool
    stats: StatsShape | None


class RuleState(BaseModel):
    """A rule as it stands: ok, firing or disabled; matching logs in its window now (`current`, null
    when disabled) against `threshold`; when it last fired and since when it fires (RFC 3339)."""

    name: str
    enabled: bool
    state: str
    current: int | None
    threshold: int
    time_window: float
    last_fired: str | None
    firing_since: str | None


class RuleCheck(BaseModel):
    """Whether a rule body is one `PUT /api/v1/rules/{name}` would take: the error if not, the rule
    as it would be stored if so."""

    valid: bool
    error: str | None
    rule: dict[str, JsonValue] | None


class Rule(BaseModel):
    """An alert rule in the rules-file schema (`conditions` and/or `query` select its logs)."""

    name: str
    description: str
    severity: str = Field(description="low, medium, high or critical")
    threshold: int
    time_window: float = Field(description="seconds")
    cooldown: float = Field(description="seconds")
    enabled: bool
    conditions: dict[str, JsonValue] | None = None
    query: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class AlertAnswer(BaseModel):
    """One firing of a rule, with up to 5 sample logs (oldest first); `status` firing or resolved."""

    rule_name: str
    message: str
    severity: str
    triggered_at: str
    count: int
    sample_logs: list[LogFields]
    metadata: dict[str, JsonValue]
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    query: str | None
    window: float | None
    resolved_at: str | None
