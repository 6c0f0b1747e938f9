"""Helpers for tests of the web UI in a real browser: the server on a loopback port in this process
(the test keeps its engine, to ingest and check), Debian's Chromium driven by Playwright (never
`playwright install`), and a watch on every page for console errors, failed requests, error answers
and requests that leave the server. Screenshots go to `UI_ARTIFACTS` (default `test-artifacts/ui`)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, Response, Route

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import Settings
from services import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(os.environ.get("UI_ARTIFACTS", "test-artifacts/ui"))


@contextlib.contextmanager
def served(engine: LogAnalyticsEngine, settings: Settings | None = None) -> Iterator[str]:
    """The API and UI over `engine` on a free loopback port, for the block; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(engine, settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="ui-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server thread exited"
        assert time.monotonic() < deadline, "the server did not start within 30 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@dataclass
class Watch:
    """What went wrong on a page: console errors, page errors, failed requests, answers >= 400 (other
    than those a test expects, by status and path) and requests to anywhere but the server."""

    base: str
    expected: set[tuple[int, str]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def expect(self, status: int, path: str) -> None:
        """An error answer the test provokes on purpose (a bad rule sent to the API, say)."""
        self.expected.add((status, path))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            text = message.text
            # Chromium logs every error answer; an expected one is not a problem (checked below)
            if "Failed to load resource: the server responded with a status of" in text and self.expected:
                return
            self.problems.append(f"console: {text}")

    def _response(self, response: Response) -> None:
        path = response.url.removeprefix(self.base).split("?", 1)[0]
        if response.status >= 400 and (response.status, path) not in self.expected:
            self.problems.append(f"answer {response.status}: {response.request.method} {response.url}")

    def _route(self, route: Route, request: Request) -> None:
        if request.url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.problems.append(f"off the server: {request.url}")
            route.abort()

    def attach(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.route("**/*", self._route)
        return page

    def _failed(self, request: Request) -> None:
        failure = request.failure or ""
        # a stream the page closes itself (live tail stopped, a superseded search) is not a failure
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def check(self) -> None:
        """Fail with every problem seen."""
        assert not self.problems, "\n".join(self.problems)


def open_page(browser: Browser, base: str, path: str = "/", **context: object) -> tuple[Page, Watch]:
    """A watched page of the UI at `path` (UTC, 1280×800 unless `context` says otherwise), once the
    shell has drawn its view."""
    options: dict[str, object] = {"timezone_id": "UTC", "viewport": {"width": 1280, "height": 800}}
    options.update(context)
    page = browser.new_context(**options).new_page()  # type: ignore[arg-type]
    watch = Watch(base)
    watch.attach(page)
    page.goto(base + path)
    return page, watch


def shot(page: Page, name: str) -> Path:
    """A screenshot of the page under ARTIFACTS/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
