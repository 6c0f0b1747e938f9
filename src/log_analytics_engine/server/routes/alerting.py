"""Alerting routes: rules (listed, put, deleted) and the alerts fired."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from log_analytics_engine.alerting.rulefile import rule_from_dict
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

    @api.get("/api/v1/rules", tags=["alerting"], dependencies=[ctx.scope("query")])
    def list_rules() -> list[dict[str, Any]]:
        """The alert rules, in the rules-file schema."""
        return [rule.to_dict() for rule in engine.get_alert_rules()]

    @api.put(
        "/api/v1/rules/{name}",
        tags=["alerting"],
        dependencies=[ctx.scope("admin")],
        openapi_extra={"requestBody": RULE_BODY},
        responses={400: {"description": "Not a rule"}, 413: {}},
    )
    async def put_rule(name: str, request: Request) -> dict[str, Any]:
        """Add or replace the rule `name` (the body is one rule of the rules-file schema, at most
        MAX_RULE_BODY_BYTES: a rule is a few hundred bytes, and an unbounded one cost gigabytes)."""
        raw = decode(
            await read_raw(request, MAX_RULE_BODY_BYTES),
            request.headers.get("content-encoding"),
            MAX_RULE_BODY_BYTES,
        )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, f"the rule is not valid JSON at byte {exc.pos}: {exc.msg}") from exc
        if not isinstance(body, dict):
            raise HTTPException(400, f"a rule is a JSON object, got {type(body).__name__}")
        rule = rule_from_dict({**body, "name": name}, "request body")
        await run_in_threadpool(engine.add_alert_rule, rule)
        return rule.to_dict()

    @api.delete("/api/v1/rules/{name}", tags=["alerting"], dependencies=[ctx.scope("admin")], status_code=204)
    def delete_rule(name: str) -> Response:
        """Remove the rule `name` (404 when there is none)."""
        if name not in {r.name for r in engine.get_alert_rules()}:
            raise HTTPException(404, f"no alert rule named {name!r}")
        engine.remove_alert_rule(name)
        return Response(status_code=204)

    @api.get("/api/v1/alerts", tags=["alerting"], dependencies=[ctx.scope("query")])
    def alerts(
        since: float | None = None,
        rule: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        """Fired alerts, newest first."""
        return [a.to_dict() for a in engine.get_alerts(since=since, rule=rule, limit=limit)]

    return api
