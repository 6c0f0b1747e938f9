"""The server's native API, one router module per family (health, ingest, query, alerting); the
shippers' protocols are `server/protocols/`."""

from __future__ import annotations

from fastapi import FastAPI

from log_analytics_engine.server.context import Context
from log_analytics_engine.server.routes import alerting, health, ingest, query


def include(app: FastAPI, ctx: Context) -> None:
    """Mount every native router on `app`, in the order the API documents them."""
    for family in (health, ingest, query, alerting):
        app.include_router(family.router(ctx))
