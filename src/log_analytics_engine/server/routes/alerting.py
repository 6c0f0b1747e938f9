"""Alerting routes: rules (listed, put, deleted) and the alerts fired."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from log_analytics_engine.alerting.evaluator import RuleState as EngineRuleState
from log_analytics_engine.alerting.records import alert_time, time_text
from log_analytics_engine.alerting.rulefile import rule_from_dict
from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import ConfigError
from log_analytics_engine.server.answers import AlertAnswer, Rule, RuleCheck, RuleState, json_answer
from log_analytics_engine.server.body import decode, read_raw
from log_analytics_engine.server.context import Context

MAX_RULE_BODY_BYTES = 64 << 10
RULE_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
}


def router(ctx: Context) -> APIRouter:
    """The alerting family (`query` scope to read, `admin` to change)."""
    api = APIRouter()
    engine = ctx.engine

    @api.get("/api/v1/rules", tags=["alerting"], dependencies=[ctx.scope("query")], response_model=list[Rule])
    def list_rules() -> Response:
        """The alert rules, in the rules-file schema."""
        return json_answer([rule.to_dict() for rule in engine.get_alert_rules()])

    @api.put(
        "/api/v1/rules/{name}",
        tags=["alerting"],
        dependencies=[ctx.scope("admin")],
        openapi_extra={"requestBody": RULE_BODY},
        responses={400: {"description": "Not a rule"}, 413: {}},
        response_model=Rule,
    )
    async def put_rule(name: str, request: Request) -> Response:
        """Add or replace the rule `name` (the body is one rule of the rules-file schema, at most
        MAX_RULE_BODY_BYTES: a rule is a few hundred bytes, and an unbounded one cost gigabytes)."""
        body = await _rule_body(request)
        rule = rule_from_dict({**body, "name": name}, "request body")
        await run_in_threadpool(engine.add_alert_rule, rule)
        return json_answer(rule.to_dict())

    @api.delete("/api/v1/rules/{name}", tags=["alerting"], dependencies=[ctx.scope("admin")], status_code=204)
    def delete_rule(name: str) -> Response:
        """Remove the rule `name` (404 when there is none)."""
        if name not in {r.name for r in engine.get_alert_rules()}:
            raise HTTPException(404, f"no alert rule named {name!r}")
        engine.remove_alert_rule(name)
        return Response(status_code=204)

    @api.get("/api/v1/rules/status", tags=["alerting"], dependencies=[ctx.scope("query")])
    def rule_states() -> list[RuleState]:
        """Each rule as it stands: ok, firing or disabled, the matching logs in its window now against
        its threshold, when it last fired and since when it fires."""
        return [_state_answer(state) for state in engine.get_alert_rule_states()]

    @api.post(
        "/api/v1/rules/_validate",
        tags=["alerting"],
        dependencies=[ctx.scope("query")],
        openapi_extra={"requestBody": RULE_BODY},
        responses={413: {}},
    )
    async def check_rule(request: Request) -> RuleCheck:
        """Whether the body (one rule, with its `name`) is a rule `PUT /api/v1/rules/{name}` would take:
        200 either way, with the error a PUT would answer (an editor checks as the user types)."""
        try:
            body = await _rule_body(request)
            if not isinstance(body.get("name"), str) or not body["name"]:
                return RuleCheck(
                    valid=False, error="request body: field name: a rule needs a name", rule=None
                )
            rule = rule_from_dict(body, "request body")
        except ConfigError as exc:
            return RuleCheck(valid=False, error=str(exc), rule=None)
        except HTTPException as exc:
            if exc.status_code != 400:  # over the size bound: 413, as a PUT
                raise
            return RuleCheck(valid=False, error=str(exc.detail), rule=None)
        return RuleCheck(valid=True, error=None, rule=rule.to_dict())

    for action, enabled in (("enable", True), ("disable", False)):
        api.add_api_route(
            f"/api/v1/rules/{{name}}/{action}",
            _switch(engine, enabled),
            methods=["POST"],
            tags=["alerting"],
            dependencies=[ctx.scope("admin")],
            responses={404: {"description": "No such rule"}},
            summary=f"{action.capitalize()} a rule",
            response_model=Rule,
        )

    @api.get(
        "/api/v1/alerts",
        tags=["alerting"],
        dependencies=[ctx.scope("query")],
        response_model=list[AlertAnswer],
    )
    def alerts(
        since: float | None = None,
        rule: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> Response:
        """Fired alerts, newest first."""
        return json_answer([a.to_dict() for a in engine.get_alerts(since=since, rule=rule, limit=limit)])

    return api


async def _rule_body(request: Request) -> dict[str, Any]:
    """The request's rule object (at most MAX_RULE_BODY_BYTES); 400 when it is not a JSON object."""
    raw = await read_raw(request, MAX_RULE_BODY_BYTES)
    raw = decode(raw, request.headers.get("content-encoding"), MAX_RULE_BODY_BYTES)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"the rule is not valid JSON at byte {exc.pos}: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise HTTPException(400, f"a rule is a JSON object, got {type(body).__name__}")
    return body


def _switch(engine: LogAnalyticsEngine, enabled: bool) -> Callable[[str], Response]:
    """The route turning the rule `name` on or off (404 when there is none); answers the rule."""

    def switch(name: str) -> Response:
        rules = {r.name: r for r in engine.get_alert_rules()}
        if name not in rules:
            raise HTTPException(404, f"no alert rule named {name!r}")
        if enabled:
            engine.enable_alert_rule(name)
        else:
            engine.disable_alert_rule(name)
        return json_answer(rules[name].to_dict())

    return switch


def _state_answer(state: EngineRuleState) -> RuleState:
    """A rule's state as the API answers it: its times as RFC 3339 text."""
    fields = asdict(state)
    fields.update(last_fired=_when(state.last_fired), firing_since=_when(state.firing_since))
    return RuleState(**fields)


def _when(seconds: float | None) -> str | None:
    return None if seconds is None else time_text(alert_time(seconds))
