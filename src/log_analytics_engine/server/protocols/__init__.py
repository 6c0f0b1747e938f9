"""The shippers' protocols, one router module each, over the engine's one ingest entry.

Each module's `router(ctx)` returns an APIRouter; its decoder lives in `ingest/formats/` (pure:
bytes in, a `Decoded` out). `receive` is the path every protocol request takes: the body read and
decompressed within the shared bounds (body.py), one slot of requests in progress held while it is
decoded and stored off the event loop, the engine's counters kept under the protocol's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest.report import Decoded, IngestReport
from log_analytics_engine.server.body import IngestGate
from log_analytics_engine.server.settings import Settings


@dataclass(frozen=True)
class Context:
    """What a protocol router needs: the engine, the settings, the shared ingest gate, and `scope`
    (a FastAPI dependency requiring an API key's scope, as the native routes do)."""

    engine: LogAnalyticsEngine
    settings: Settings
    gate: IngestGate
    scope: Callable[[str], Any]


async def receive(
    ctx: Context,
    request: Request,
    protocol: str,
    decoder: Callable[[bytes], Decoded],
    encoding: str | None = None,
) -> IngestReport:
    """Read the body (decompressed by its Content-Encoding, or `encoding` when the protocol implies
    one), decode and store it off the event loop while holding an ingest slot; the report. A body
    the decoder refuses whole (an IngestError) is counted as one rejection of `protocol` and raised
    for the route to answer in its protocol's shape."""
    body = await ctx.gate.read(request, ctx.settings.max_body_bytes, encoding)
    async with ctx.gate.slot():
        try:
            decoded = await run_in_threadpool(decoder, body)
        except IngestError:
            failed = IngestReport(bytes=len(body))
            failed.reject(0, "body refused", "bad_body")
            await run_in_threadpool(ctx.engine.ingest_decoded, Decoded.empty(failed), protocol)
            raise
        decoded.report.bytes = len(body)
        return await run_in_threadpool(ctx.engine.ingest_decoded, decoded, protocol)


def include(app: FastAPI, ctx: Context) -> None:
    """Mount every protocol's router on `app`."""
    routers: list[APIRouter] = []
    for router in routers:
        app.include_router(router)
