"""Query routes: search, pipes, hits, fields, live tail, stats and the Prometheus exposition."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse

from log_analytics_engine.query.parser import parse_filter
from log_analytics_engine.server.context import Context

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
TAIL_POLL_SECONDS = 0.2
TAIL_PAGE = 500
KEEPALIVE_SECONDS = 15.0


def router(ctx: Context) -> APIRouter:
    """The query family (the `query` scope)."""
    api = APIRouter()
    engine, settings = ctx.engine, ctx.settings

    @api.get(
        "/api/v1/search", tags=["query"], dependencies=[ctx.scope("query")], response_model=dict[str, Any]
    )
    def search(
        q: str = "*",
        start: str | None = None,
        end: str | None = None,
        limit: Annotated[int, Query(ge=1)] = 100,
        cursor: str | None = None,
    ) -> Response:
        """Logs matching query text, newest first, a page at a time (`cursor` continues)."""
        if limit > settings.max_search_limit:
            raise HTTPException(400, f"limit must be at most {settings.max_search_limit}")
        result = engine.search(q, start=start, end=end, limit=limit, cursor=cursor)
        return _json(
            {"total": result.total, "logs": [log.to_dict() for log in result.logs], "cursor": result.cursor}
        )

    @api.get(
        "/api/v1/query", tags=["query"], dependencies=[ctx.scope("query")], response_model=dict[str, Any]
    )
    def run_query(q: str) -> Response:
        """Query text with pipes (`error | stats by (source) count()`): columns, rows and warnings."""
        result = engine.run(q)
        return _json({"columns": result.columns, "rows": result.rows, "warnings": result.warnings})

    @api.get("/api/v1/hits", tags=["query"], dependencies=[ctx.scope("query")], response_model=dict[str, Any])
    def hits(q: str = "*", step: str = "1h") -> Response:
        """Matching logs counted per time bucket of `step` (30s, 5m, 1h, 1d …)."""
        parse_filter(q)  # a filter only: pipes in `q` would change what is counted
        result = engine.run(f"{q} | stats by (_time:{_step(step)}) count() as hits")
        return _json({"step": step, "buckets": result.rows})

    @api.get(
        "/api/v1/fields", tags=["query"], dependencies=[ctx.scope("query")], response_model=dict[str, Any]
    )
    def fields(q: str = "*") -> Response:
        """The fields of the newest matching logs: counts and top values."""
        result = engine.fields(q)
        return _json({"sampled": result.sampled, "fields": [vars(f) for f in result.fields]})

    @api.get("/api/v1/tail", tags=["query"], dependencies=[ctx.scope("query")])
    async def tail(request: Request, q: str = "*") -> StreamingResponse:
        """New logs matching `q`, as Server-Sent Events (`event: log`, the log as JSON `data`), in
        storing order from the moment of connecting. The stream only moves as fast as the client
        reads (nothing piles up for a slow one); a comment every 15 s keeps an idle one open."""
        parse_filter(q)  # a bad query is a 400 now, not a broken stream

        async def events() -> AsyncIterator[str]:
            _, position = await run_in_threadpool(engine.tail, q, None)
            yield ": tailing\n\n"
            idle = 0.0
            while not await request.is_disconnected():
                logs, position = await run_in_threadpool(engine.tail, q, position, TAIL_PAGE)
                for log in logs:
                    yield f"event: log\ndata: {orjson.dumps(log.to_dict()).decode()}\n\n"
                if logs:
                    idle = 0.0
                    continue
                await asyncio.sleep(TAIL_POLL_SECONDS)
                idle += TAIL_POLL_SECONDS
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keepalive\n\n"

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @api.get("/api/v1/stats", tags=["query"], dependencies=[ctx.scope("query")])
    def stats() -> dict[str, Any]:
        """Totals by level, source and tag, ingest, index and alerting figures."""
        return engine.get_stats()

    @api.get("/metrics", tags=["query"], dependencies=[ctx.scope("query")], response_class=PlainTextResponse)
    def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(engine.export_metrics_prometheus(), media_type=PROMETHEUS_TEXT)

    return api


def _step(step: str) -> str:
    """A histogram step as the query language writes it (digits and a unit), else 400."""
    # isascii: str.isdigit() also accepts digits int() refuses (like '²'), which would be a 500
    if not (step[:-1].isascii() and step[:-1].isdigit()) or step[-1] not in "smhd" or int(step[:-1]) <= 0:
        raise HTTPException(400, f"step must be a positive number of s, m, h or d (like 5m), got {step!r}")
    return step


def _json(content: Any) -> Response:
    """A JSON answer serialised by orjson (FastAPI's own encoder walks every value in Python first)."""
    body = orjson.dumps(content, default=_plain_value, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, media_type="application/json")


def _plain_value(value: Any) -> Any:
    """What orjson cannot write itself (a DuckDB DECIMAL or INTERVAL in a pipe result): a number or text."""
    if isinstance(value, Decimal):
        return float(value)
    return str(value)
