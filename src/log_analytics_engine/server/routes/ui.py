"""The web UI: one page (at `/` for a browser, and at each of its views, such as `/alerts`) and its
assets under `/ui/`: plain HTML, CSS and JavaScript shipped in the package (`server/ui/static/`), no
build step, nothing loaded from elsewhere (the Content-Security-Policy allows this server only).

`GET /` is also Elasticsearch's node info, which shippers check before sending (with their key): a
request that asks for HTML (a browser's navigation) gets the page, before any key is checked, and any
other request the node info (`protocols/es_bulk.py`)."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from log_analytics_engine.server.context import Context

# The views the page draws itself (client-side routes besides `/`): each serves the same page.
VIEWS = ("/alerts",)
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}


def static_dir() -> Path:
    """Where the UI's files are installed."""
    return Path(str(resources.files("log_analytics_engine.server").joinpath("ui", "static")))


@functools.cache
def _index() -> bytes:
    return (static_dir() / "index.html").read_bytes()


def page() -> HTMLResponse:
    """The page (every view is drawn by it)."""
    return HTMLResponse(_index(), headers=HEADERS)


class PageAtRoot:
    """ASGI middleware answering a browser's `GET /` (`Accept: text/html,…`) with the page; every
    other request passes through untouched (one comparison of the path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/" and scope["method"] in ("GET", "HEAD"):
            request = Request(scope)
            if "text/html" in request.headers.get("accept", ""):
                await page()(scope, receive, send)
                return
        await self.app(scope, receive, send)


def router(ctx: Context) -> APIRouter:
    """The page at each view besides `/` (no key needed: the page asks for one when the API does)."""
    api = APIRouter()
    for view in VIEWS:
        api.add_api_route(view, page, methods=["GET"], include_in_schema=False)
    return api


class Assets(StaticFiles):
    """The UI's files, each answered `Cache-Control: no-cache`: the browser revalidates them (a 304
    while unchanged), so after an upgrade no module of the old version runs beside the new page."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(HEADERS)
        return response


def mount(app: FastAPI) -> None:
    """Serve the assets under `/ui/`, and the page at `/` for a browser."""
    app.mount("/ui", Assets(directory=static_dir()), name="ui")
    app.add_middleware(PageAtRoot)
