"""Query routes: search, pipes, hits, fields, live tail, stats and the Prometheus exposition."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse

from log_analytics_engine.errors import QueryError, QuerySyntaxError
from log_analytics_engine.query.ast import Stats, TimeBucket
from log_analytics_engine.query.parser import parse, parse_filter
from log_analytics_engine.query.printer import func_label, step_text, to_text
from log_analytics_engine.server.answers import (
    ContextAnswer,
    FieldsAnswer,
    HitsAnswer,
    QueryAnswer,
    SearchAnswer,
    StatsShape,
    SyntaxProblem,
    Validation,
    json_answer,
    log_json,
)
from log_analytics_engine.server.context import Context

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
TAIL_POLL_SECONDS = 0.2
TAIL_PAGE = 500
KEEPALIVE_SECONDS = 15.0
MAX_CONTEXT = 500  # logs on either side of /api/v1/context's anchor
MAX_FIELD_NAME = 256  # characters of /api/v1/hits' `field`


def router(ctx: Context) -> APIRouter:
    """The query family (the `query` scope)."""
    api = APIRouter(tags=["query"], dependencies=[ctx.scope("query")])
    engine, settings = ctx.engine, ctx.settings

    @api.get("/api/v1/search", response_model=SearchAnswer)
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
        logs = [log_json(log) for log in result.logs]
        return json_answer({"total": result.total, "logs": logs, "cursor": result.cursor})

    @api.get("/api/v1/query", response_model=QueryAnswer)
    def run_query(q: str, start: str | None = None, end: str | None = None) -> Response:
        """Query text with pipes (`error | stats by (source) count()`): columns, rows and warnings;
        `start`/`end` bound the event time of the logs the pipes see."""
        result = engine.run(q, start=start, end=end)
        return json_answer({"columns": result.columns, "rows": result.rows, "warnings": result.warnings})

    @api.get("/api/v1/hits", response_model=HitsAnswer)
    def hits(
        q: str = "*",
        start: str | None = None,
        end: str | None = None,
        step: str = "1h",
        field: Annotated[str | None, Query(max_length=MAX_FIELD_NAME)] = None,
    ) -> Response:
        """Matching logs counted per time bucket of `step` (`30s`, `5m`, `1h`, `1d`, or `auto`: at most
        150 buckets over the range), one row per value of `field` in each bucket when given."""
        node = parse_filter(q)  # a filter only: pipes in `q` would change what is counted
        result = engine.hits(node, start=start, end=end, step=step, field=field or None)
        return json_answer({"step": result.step, "buckets": result.buckets})

    @api.get("/api/v1/fields", response_model=FieldsAnswer)
    def fields(q: str = "*", start: str | None = None, end: str | None = None) -> Response:
        """The fields of the newest matching logs: counts and top values."""
        result = engine.fields(q, start=start, end=end)
        return json_answer({"sampled": result.sampled, "fields": [vars(f) for f in result.fields]})

    @api.get("/api/v1/context", response_model=ContextAnswer, responses={404: {"description": "No such log"}})
    def context(
        seq: int,
        before: Annotated[int, Query(ge=0, le=MAX_CONTEXT)] = 20,
        after: Annotated[int, Query(ge=0, le=MAX_CONTEXT)] = 20,
    ) -> Response:
        """The log stored as `seq` and the logs of its source just before and after it, oldest first."""
        found = engine.around(seq, before, after)
        if found is None:
            raise HTTPException(404, f"no log is stored as seq {seq}")
        anchor, older, newer = found
        return json_answer(
            {
                "anchor": log_json(anchor),
                "before": [log_json(e) for e in older],
                "after": [log_json(e) for e in newer],
            }
        )

    @api.get("/api/v1/validate", response_model=Validation)
    def validate(q: str) -> Response:
        """Whether query text parses (200 either way, with the error's position and what was expected
        there), whether it has pipes, and the columns of its stats."""
        return json_answer(describe(q).model_dump())

    @api.get("/api/v1/tail")
    async def tail(request: Request, q: str = "*") -> StreamingResponse:
        """New logs matching `q`, as Server-Sent Events (`event: log`, the log as JSON `data`), in
        storing order from the moment of connecting. The stream only moves as fast as the client
        reads (nothing piles up for a slow one); a comment every 15 s keeps an idle one open."""
        node = parse_filter(q)  # once: a bad query is a 400 now, not a broken stream

        async def events() -> AsyncIterator[str]:
            _, position = await run_in_threadpool(engine.tail, node, None)
            yield ": tailing\n\n"
            idle = 0.0
            while not await request.is_disconnected():
                logs, position = await run_in_threadpool(engine.tail, node, position, TAIL_PAGE)
                for log in logs:
                    yield f"event: log\ndata: {orjson.dumps(log_json(log)).decode()}\n\n"
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

    @api.get("/api/v1/stats")
    def stats() -> dict[str, Any]:
        """Totals by level, source and tag, ingest, index and alerting figures."""
        return engine.get_stats()

    @api.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(engine.export_metrics_prometheus(), media_type=PROMETHEUS_TEXT)

    return api


def describe(text: str) -> Validation:
    """What `/api/v1/validate` answers for query text."""
    try:
        parsed = parse(text)
    except QuerySyntaxError as exc:
        where = SyntaxProblem(detail=str(exc), position=exc.position, expected=exc.expected, found=exc.found)
        return Validation(valid=False, error=where, pipes=False, stats=None)
    except QueryError as exc:
        return Validation(valid=False, error=SyntaxProblem(detail=str(exc)), pipes=False, stats=None)
    shape = None
    last = next((p for p in reversed(parsed.pipes) if isinstance(p, Stats)), None)
    if last is not None:
        buckets = [k for k in last.by if isinstance(k, TimeBucket)]
        shape = StatsShape(
            by=[k if isinstance(k, str) else k.field for k in last.by],
            time_key=buckets[0].field if buckets else None,
            step=step_text(buckets[0].step_ns) if buckets else None,
            funcs=[func_label(f) for f in last.funcs],
        )
    return Validation(
        valid=True, error=None, filter=to_text(parsed.filter), pipes=bool(parsed.pipes), stats=shape
    )
