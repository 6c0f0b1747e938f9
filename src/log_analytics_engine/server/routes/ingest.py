"""The native ingest route, `POST /api/v1/logs`: JSON arrays, NDJSON and text lines."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from log_analytics_engine.ingest.formats import JSON_NAMES
from log_analytics_engine.server.context import Context

# Content types that declare a body NDJSON whatever its first byte.
TEXT_MEDIA_TYPES = frozenset({"text/plain"})
NDJSON_MEDIA_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)


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


def router(ctx: Context) -> APIRouter:
    """`POST /api/v1/logs` (the `ingest` scope)."""
    api = APIRouter()
    engine, settings, gate = ctx.engine, ctx.settings, ctx.gate

    @api.post(
        "/api/v1/logs",
        tags=["ingest"],
        dependencies=[ctx.scope("ingest")],
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

    return api


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
