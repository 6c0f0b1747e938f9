"""The server's native API, one router module per family (health, access, ingest, query, alerting,
admin) and the web UI (`ui`); the shippers' protocols are `server/protocols/`."""

from __future__ import annotations

from fastapi import FastAPI

from log_analytics_engine.server.context import Context
from log_analytics_engine.server.routes import access, admin, alerting, health, ingest, query, ui


def include(app: FastAPI, ctx: Context) -> None:
    """Mount every native router on `app`, in the order the API documents them, then the UI."""
    for family in (health, access, ingest, query, alerting, admin, ui):
        app.include_router(family.router(ctx))
    ui.mount(app)
