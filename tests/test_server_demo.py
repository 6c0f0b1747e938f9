"""`log-analytics serve --demo` as a newcomer runs it: the demo's incident is happening now, so its alert
rule has fired by the time the server is ready; the web UI shows the logs and the firing rule, and
`/docs` renders, in a real browser that may reach nothing but the server (no CDN)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Request, Route, expect, sync_playwright

from browser import launch, open_page
from services import free_port, wait_ready


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, float]]:
    port = free_port()
    log = tmp_path_factory.mktemp("demo") / "serve.log"
    started = time.time()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "log_analytics_engine.cli", "serve", "--demo", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", process, log, seconds=120)
        yield f"http://127.0.0.1:{port}", log, started
    finally:
        process.terminate()
        process.wait(30)


def test_demo_alert_has_fired_when_the_server_is_ready(demo: tuple[str, Path, float]) -> None:
    """The first request after `serve --demo` is ready finds the demo rule's alert, fired just now."""
    url, log, started = demo
    alerts = httpx.get(url + "/api/v1/alerts", params={"rule": "payments errors"}).json()
    assert alerts, log.read_text()
    fired = datetime.fromisoformat(alerts[0]["triggered_at"]).timestamp()
    assert started - 5 <= fired <= time.time()
    assert "it has fired" in log.read_text()
    recent = httpx.get(url + "/api/v1/search", params={"q": "_time:5m level:ERROR source:payments"}).json()
    assert recent["total"] >= 20  # the rule's threshold, inside its window: the incident is now


def test_docs_render_offline_in_a_real_browser(demo: tuple[str, Path, float]) -> None:
    """Swagger UI at /docs draws every operation while every request off the server is refused."""
    url, _, _ = demo
    elsewhere: list[str] = []

    def only_the_server(route: Route, request: Request) -> None:
        if request.url.startswith(url + "/"):
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_server)
            page.goto(url + "/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            title = page.locator(".info .title").inner_text()
            operations = page.locator(".opblock").count()
        finally:
            browser.close()
    assert "Log Analytics Engine" in title
    paths = httpx.get(url + "/openapi.json").json()["paths"]
    assert operations == sum(len(methods) for methods in paths.values())
    assert elsewhere == []


def test_demo_ui_shows_the_logs_and_the_fired_rule(demo: tuple[str, Path, float], chromium: Browser) -> None:
    """The page at `/` counts every demo log over all time and draws its histogram; the alerts page
    shows the demo rule firing, its count over its threshold, and its alert."""
    url, _, _ = demo
    everything = httpx.get(url + "/api/v1/search", params={"q": "*", "limit": 1}).json()["total"]
    page, watch = open_page(chromium, url, "/?last=all")
    expect(page.locator("#total")).to_have_text(f"{everything:,} logs", timeout=30_000)
    expect(page.locator(".row.log").first).to_be_visible()
    expect(page.locator(".histogram rect.bar").first).to_be_attached()
    page.get_by_role("link", name="Alerts").click()
    rule = page.locator('.rules-table tr[data-rule="payments errors"]')
    expect(rule.locator(".badge").first).to_have_text("firing", timeout=30_000)
    expect(page.locator(".alerts-table tbody.alert").first).to_contain_text("payments errors")
    page.context.close()
    watch.check()
