"""The shippers' protocols, one router module each, over the engine's one ingest entry.

Each module's `router(ctx)` returns an APIRouter; its decoder lives in `ingest/formats/` (pure:
bytes in, a `Decoded` out). `receive` is the path every protocol request takes: the body read and
decompressed within the shared bounds (body.py), one slot of requests in progress held while it is
decoded and stored off the event loop, the engine's counters kept under the protocol's name.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest.report import Decoded, IngestReport
from log_analytics_engine.server.context import Context

# The reason a body refused before decoding is counted under, by the status it was refused with
# (body.py: damaged compression 400, an unknown Content-Encoding 415, too large 413, too slow 408).
READ_REFUSALS = {400: "bad_compression", 415: "bad_compression", 413: "too_large", 408: "too_slow"}


async def receive(
    ctx: Context,
    request: Request,
    protocol: str,
    decoder: Callable[[bytes], Decoded],
    encoding: str | None = None,
) -> IngestReport:
    """Read the body (decompressed by its Content-Encoding, or `encoding` when the protocol implies
    one), decode and store it off the event loop while holding an ingest slot; the report. A body
    refused whole — by its reading (an HTTPException: damaged, too large, too slow; not a 429, which
    asks to be sent again) or by the decoder (an IngestError) — is counted as one rejection of
    `protocol` and raised for the route to answer in its protocol's shape."""
    try:
        body = await ctx.gate.read(request, ctx.settings.max_body_bytes, encoding)
    except HTTPException as exc:
        if exc.status_code in READ_REFUSALS:
            await refuse(ctx, protocol, READ_REFUSALS[exc.status_code], str(exc.detail))
        raise
    async with ctx.gate.slot():
        try:
            decoded = await run_in_threadpool(decoder, body)
        except (IngestError, HTTPException) as exc:  # an HTTPException: a second decompression
            code = (
                READ_REFUSALS.get(exc.status_code, "bad_body")
                if isinstance(exc, HTTPException)
                else "bad_body"
            )
            await refuse(ctx, protocol, code, str(exc), len(body))
            raise
        decoded.report.bytes = len(body)
        return await run_in_threadpool(ctx.engine.ingest_decoded, decoded, protocol)


async def refuse(ctx: Context, protocol: str, code: str, reason: str, size: int = 0) -> None:
    """Count a request of `protocol` refused whole (before or at decoding) as one rejection of `code`."""
    failed = IngestReport(bytes=size)
    failed.reject(0, reason, code)
    await run_in_threadpool(ctx.engine.ingest_decoded, Decoded.empty(failed), protocol)


def include(app: FastAPI, ctx: Context) -> None:
    """Mount every protocol's router on `app`."""
    from log_analytics_engine.server.protocols import es_bulk, loki, otlp, vl_jsonline  # they import this

    routers: list[APIRouter] = [
        es_bulk.router(ctx),
        vl_jsonline.router(ctx),
        loki.router(ctx),
        otlp.router(ctx),
    ]
    for router in routers:
        app.include_router(router)
