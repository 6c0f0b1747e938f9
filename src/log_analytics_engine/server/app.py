"""`create_app(engine, settings)`: the versioned HTTP API over one engine, with no globals.

Blocking engine work runs in FastAPI's thread pool (plain `def` endpoints, `run_in_threadpool`);
ingest bodies are read with a size bound (413) and at most `max_pending_ingest` ingest requests are
in progress (more get 429 with Retry-After). Every query value reaches the engine as data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel

from log_analytics_engine.alerting.rulefile import rule_from_dict
from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import LogAnalyticsError, QuerySyntaxError
from log_analytics_engine.ingest.formats import JSON_NAMES
from log_analytics_engine.query.parser import parse_filter
from log_analytics_engine.server import protocols
from log_analytics_engine.server.auth import Authenticator
from log_analytics_engine.server.body import IngestGate, decode, read_raw
from log_analytics_engine.server.settings import Settings

log = logging.getLogger(__name__)
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
# Content types that declare a body NDJSON whatever its first byte.
TEXT_MEDIA_TYPES = frozenset({"text/plain"})
NDJSON_MEDIA_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
MAX_RULE_BODY_BYTES = 64 << 10
RULE_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
}
TAIL_POLL_SECONDS = 0.2
TAIL_PAGE = 500
KEEPALIVE_SECONDS = 15.0


class Rejected(BaseModel):
    """An item that was not stored: its 0-based position in the request, and why."""

    index: int
    reason: str


class IngestAnswer(BaseModel):
    """How many logs were stored (durably, before the answer), and the items rejected; for text,
    the format that read most of it, logs per format, and those without a time of their own."""

    accepted: int
    rejected: list[Rejected]  # the first report.MAX_LISTED, by index
    rejected_count: int
    dropped: int
    format: str | None = None
    formats: dict[str, int] | None = None
    no_timestamp: int | None = None


_LOG_SCHEMA = {
    "type": "object",
    "description": "A log: timestamp (RFC 3339 or epoch), level, message, source, tags, thread_id, "
    "request_id, user_id, metadata; any other key is kept in metadata.",
    "additionalProperties": True,
}
INGEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "array", "items": _LOG_SCHEMA}},
        "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON log per line."}},
        "text/plain": {
            "schema": {"type": "string", "description": "Log lines in any supported text format."}
        },
    },
}


def create_app(
    engine: LogAnalyticsEngine,
    settings: Settings | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """The API for `engine` (which the caller owns); `on_shutdown` runs when the server stops
    gracefully, after the last request (`serve` closes the engine there)."""
    settings = settings or Settings()
    auth = Authenticator(settings.api_keys)
    gate = IngestGate(settings.max_pending_ingest)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    # /docs and /redoc load Swagger UI and ReDoc from assets shipped in fastapi-offline (FastAPI's own
    # pages fetch them from a CDN: blank without internet).
    app = FastAPIOffline(
        title="Log Analytics Engine",
        version="1",
        description="Ingest, search, aggregate and alert on logs.",
        lifespan=lifespan,
        static_url="/docs-assets",
        favicon_url="/docs-assets/favicon.png",
    )
    app.state.engine = engine
    app.state.settings = settings

    def scope(name: str) -> Any:
        def check(request: Request) -> None:
            auth.require(request, name)

        return Depends(check)

    protocols.include(app, protocols.Context(engine, settings, gate, scope))

    @app.exception_handler(QuerySyntaxError)
    async def _syntax(request: Request, exc: QuerySyntaxError) -> JSONResponse:
        body = {"detail": str(exc), "position": exc.position, "expected": exc.expected, "found": exc.found}
        return JSONResponse(body, status_code=400)

    @app.exception_handler(LogAnalyticsError)
    async def _engine_error(request: Request, exc: LogAnalyticsError) -> JSONResponse:
        # Each error class declares the status an edge answers with (errors.py): a locked or failing
        # store is a 503 the client may retry, a full disk a 507, a bad query a 400. A server-side
        # failure is one log line (not a traceback per request).
        headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
        if exc.status >= 500:
            log.error("%s %s answered %d: %s", request.method, request.url.path, exc.status, exc)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    # -- health -----------------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> dict[str, Any]:
        """The store answers queries (asked for a count, which is not shown: this route needs no key),
        and the text index's state: `ok`, `catching up`, `rebuilding` or `failing` (queries stay exact
        in each; they scan what the index does not hold, so they are slower)."""
        engine.count()
        return {"status": "ready", "text_index": engine.index_status()["state"]}

    # -- ingest -----------------------------------------------------------------------------------

    @app.post(
        "/api/v1/logs",
        tags=["ingest"],
        dependencies=[scope("ingest")],
        openapi_extra={"requestBody": INGEST_BODY},
        response_model=IngestAnswer,
        responses={400: {"description": "Malformed body, or every item rejected"}, 413: {}, 429: {}},
    )
    async def ingest(request: Request, format: str | None = None) -> JSONResponse:  # the API's name
        """Store logs: a JSON array of log objects, or NDJSON (one object per line); gzip accepted
        (`Content-Encoding: gzip`). Items that are not log objects are rejected with their index.
        Text lines (`Content-Type: text/plain`, or `?format=NAME`) are read as a text file's: the
        format detected (`text`) or forced by name, multi-line events joined; the answer adds the
        formats that read them and how many had no time of their own (`no_timestamp`)."""
        # The body is read before a slot is taken (body.py): a client trickling it holds no slot.
        body = await gate.read(request, settings.max_body_bytes)
        async with gate.slot():
            if _is_text(request.headers.get("content-type"), format, body):
                text = await run_in_threadpool(engine.ingest_text, body, format or "text")
                return JSONResponse(
                    {
                        "accepted": text["count"],
                        "rejected": [],
                        "rejected_count": 0,
                        "dropped": text["dropped"],
                        "format": text["format"],
                        "formats": text["formats"],
                        "no_timestamp": text["no_timestamp"],
                    }
                )
            # parsed off the event loop: an array of 8M items took 4.6 s, /healthz waiting
            array = body.lstrip()[:1] == b"[" and not _is_ndjson(request.headers.get("content-type"))
            report = await run_in_threadpool(engine.ingest_json_body, body, array)
        answer = report.to_answer()
        # every item rejected is a 400; the first MAX_LISTED by index (4M made a 1.4 GB answer)
        status = 400 if report.rejected_count and not report.accepted else 200
        return JSONResponse(answer, status_code=status)

    # -- queries ----------------------------------------------------------------------------------

    @app.get("/api/v1/search", tags=["query"], dependencies=[scope("query")], response_model=dict[str, Any])
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

    @app.get("/api/v1/query", tags=["query"], dependencies=[scope("query")], response_model=dict[str, Any])
    def run_query(q: str) -> Response:
        """Query text with pipes (`error | stats by (source) count()`): columns, rows and warnings."""
        result = engine.run(q)
        return _json({"columns": result.columns, "rows": result.rows, "warnings": result.warnings})

    @app.get("/api/v1/hits", tags=["query"], dependencies=[scope("query")], response_model=dict[str, Any])
    def hits(q: str = "*", step: str = "1h") -> Response:
        """Matching logs counted per time bucket of `step` (30s, 5m, 1h, 1d …)."""
        parse_filter(q)  # a filter only: pipes in `q` would change what is counted
        result = engine.run(f"{q} | stats by (_time:{_step(step)}) count() as hits")
        return _json({"step": step, "buckets": result.rows})

    @app.get("/api/v1/fields", tags=["query"], dependencies=[scope("query")], response_model=dict[str, Any])
    def fields(q: str = "*") -> Response:
        """The fields of the newest matching logs: counts and top values."""
        result = engine.fields(q)
        return _json({"sampled": result.sampled, "fields": [vars(f) for f in result.fields]})

    @app.get("/api/v1/tail", tags=["query"], dependencies=[scope("query")])
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

    @app.get("/api/v1/stats", tags=["query"], dependencies=[scope("query")])
    def stats() -> dict[str, Any]:
        """Totals by level, source and tag, ingest, index and alerting figures."""
        return engine.get_stats()

    @app.get("/metrics", tags=["query"], dependencies=[scope("query")], response_class=PlainTextResponse)
    def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(engine.export_metrics_prometheus(), media_type=PROMETHEUS_TEXT)

    # -- alerting ---------------------------------------------------------------------------------

    @app.get("/api/v1/rules", tags=["alerting"], dependencies=[scope("query")])
    def list_rules() -> list[dict[str, Any]]:
        """The alert rules, in the rules-file schema."""
        return [rule.to_dict() for rule in engine.get_alert_rules()]

    @app.put(
        "/api/v1/rules/{name}",
        tags=["alerting"],
        dependencies=[scope("admin")],
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

    @app.delete("/api/v1/rules/{name}", tags=["alerting"], dependencies=[scope("admin")], status_code=204)
    def delete_rule(name: str) -> Response:
        """Remove the rule `name` (404 when there is none)."""
        if name not in {r.name for r in engine.get_alert_rules()}:
            raise HTTPException(404, f"no alert rule named {name!r}")
        engine.remove_alert_rule(name)
        return Response(status_code=204)

    @app.get("/api/v1/alerts", tags=["alerting"], dependencies=[scope("query")])
    def alerts(
        since: float | None = None,
        rule: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        """Fired alerts, newest first."""
        return [a.to_dict() for a in engine.get_alerts(since=since, rule=rule, limit=limit)]

    return app


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


def _is_text(content_type: str | None, log_format: str | None, body: bytes) -> bool:
    """Whether the body is text lines for the log formats: a format named that is not JSON
    (`?format=jsonl` keeps the JSON reading), or a text content type on a body that is not JSON
    (text/plain is what browsers' fetch and many clients send a JSON string as)."""
    if log_format is not None and log_format.lower() != "auto":
        return log_format.lower() not in JSON_NAMES
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in TEXT_MEDIA_TYPES and not _looks_json(body)


def _looks_json(body: bytes) -> bool:
    """Whether a body opens as JSON logs do: `{`, or `[` then `{` or `]` (not `[Mon Jul 21 …]`)."""
    head = body[:4096].lstrip()
    return head[:1] == b"{" or (head[:1] == b"[" and head[1:].lstrip()[:1] in (b"{", b"]"))


def _is_ndjson(content_type: str | None) -> bool:
    """Whether the body is declared NDJSON: then a first line that is an array is one bad line, not
    the whole body read as an array (which made a 400 storing nothing)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in NDJSON_MEDIA_TYPES
