"""`create_app(engine, settings)`: the versioned HTTP API over one engine, with no globals: the native
routers (`routes/`: health, ingest, query, alerting) and the shippers' protocols (`protocols/`).

Blocking engine work runs in FastAPI's thread pool (plain `def` endpoints, `run_in_threadpool`);
ingest bodies are read with a size bound (413) and at most `max_pending_ingest` ingest requests are
in progress (more get 429 with Retry-After). Every query value reaches the engine as data.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import LogAnalyticsError, QuerySyntaxError
from log_analytics_engine.server import protocols, routes
from log_analytics_engine.server.auth import Authenticator
from log_analytics_engine.server.body import IngestGate
from log_analytics_engine.server.context import Context
from log_analytics_engine.server.settings import Settings

log = logging.getLogger(__name__)


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

    ctx = Context(engine, settings, gate, scope, auth)
    protocols.include(app, ctx)

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

    routes.include(app, ctx)
    return app
