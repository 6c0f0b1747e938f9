"""Loki's push API, `POST /loki/api/v1/push` (Promtail, Grafana Alloy, python-logging-loki): JSON, or
protobuf compressed with snappy's block format, answered as Loki answers — 204 when every entry is
stored, a plain-text 400 listing the entries that were not (the rest stored), plain-text errors
otherwise. The decoding is `ingest/formats/loki.py`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest.formats import loki
from log_analytics_engine.ingest.report import Decoded, IngestReport
from log_analytics_engine.server.body import decode, media_type
from log_analytics_engine.server.context import Context
from log_analytics_engine.server.protocols import receive, refuse

PROTOCOL = "loki"
PATH = "/loki/api/v1/push"
# Rejected entries a 400 body lists, first by position (all are counted in its last line and in
# /metrics): a body of 100,000 bad entries would otherwise answer megabytes of text.
ANSWER_REASONS = 10
_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": '{"streams": [{"stream": {labels}, "values": [["<unix ns>", "<line>"]]}]}',
            }
        },
        "application/x-protobuf": {
            "schema": {"type": "string", "format": "binary", "description": "A snappy-compressed PushRequest"}
        },
    },
}


def router(ctx: Context) -> APIRouter:
    """The Loki push route."""
    api = APIRouter(tags=["protocols"], dependencies=[ctx.scope("ingest")])

    @api.post(
        PATH,
        status_code=204,
        response_class=Response,
        openapi_extra={"requestBody": _BODY},
        responses={
            400: {"description": "Entries not stored (listed; the rest stored), or a body that is no push"},
            413: {},
            415: {},
            429: {},
        },
    )
    async def loki_push(request: Request) -> Response:
        """Store a Loki push request: JSON (`Content-Type: application/json`, gzip accepted) or protobuf
        (`application/x-protobuf` or none, snappy-compressed). 204 when every entry is stored; a
        plain-text 400 listing the entries that were not, the rest stored."""
        kind = media_type(request)
        decoder: Callable[[bytes], Decoded]
        if kind == "application/json":
            decoder, encoding = loki.decode_json, None
        elif kind in ("", "application/x-protobuf"):
            decoder, encoding = _protobuf(request, ctx.settings.max_body_bytes)
        else:
            why = (
                f"Content-Type {kind!r} is not a Loki push body: send application/json, or "
                "application/x-protobuf compressed with snappy"
            )
            await refuse(ctx, PROTOCOL, "content_type", why)
            return PlainTextResponse(why, 415)
        try:
            report = await receive(ctx, request, PROTOCOL, decoder, encoding)
        except HTTPException as exc:
            return PlainTextResponse(str(exc.detail), exc.status_code, headers=exc.headers)
        except IngestError as exc:
            return PlainTextResponse(str(exc), exc.status)
        if report.rejected_count:
            return PlainTextResponse(ignored(report), 400)
        return Response(status_code=204)

    return api


def _protobuf(request: Request, limit: int) -> tuple[Callable[[bytes], Decoded], str | None]:
    """The decoder and the encoding `receive` undoes for a protobuf body: snappy, whatever its
    Content-Encoding says (none, or `snappy`); under gzip or deflate, as Loki reads it, that first
    and snappy's block inside it."""
    sent = (request.headers.get("content-encoding") or "").strip().lower()
    if sent in ("", "identity", "snappy"):
        return loki.decode_protobuf, "snappy"

    def unwrapped(body: bytes) -> Decoded:
        return loki.decode_protobuf(decode(body, "snappy", limit))

    return unwrapped, None


def ignored(report: IngestReport) -> str:
    """Loki's 400 body for a push some of whose entries were not stored: one line each (the first
    ANSWER_REASONS), then `total ignored: N out of M`."""
    lines = [f"{r.reason}," for r in report.sorted_rejections()[:ANSWER_REASONS]]
    total = report.accepted + report.dropped + report.rejected_count
    lines.append(f"total ignored: {report.rejected_count} out of {total}")
    return "\n".join(lines)
