"""Health routes: the process answers, the store answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from log_analytics_engine.server.context import Context


def router(ctx: Context) -> APIRouter:
    """`/healthz` and `/readyz` (no key needed)."""
    api = APIRouter()
    engine = ctx.engine

    @api.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["health"])
    def readyz() -> dict[str, Any]:
        """The store answers queries (asked for a count, which is not shown: this route needs no key),
        and the text index's state: `ok`, `catching up`, `rebuilding` or `failing` (queries stay exact
        in each; they scan what the index does not hold, so they are slower)."""
        engine.count()
        return {"status": "ready", "text_index": engine.index_status()["state"]}

    return api
