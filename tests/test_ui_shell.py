"""The web UI's shell in a real browser: served from the package with nothing from elsewhere, and
on a server with keys it asks for one, keeps it for the session, and knows the key's scopes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect

from browser import open_page, served, shot
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.server.routes.ui import static_dir
from log_analytics_engine.server.settings import ApiKey, Settings

ROOT = Path(__file__).resolve().parent.parent


def _key(name: str, secret: str, *scopes: str) -> ApiKey:
    return ApiKey(name, hashlib.sha256(secret.encode()).hexdigest(), frozenset(scopes))


def test_page_is_served_at_root_for_a_browser_and_node_info_for_clients() -> None:
    """`/` is the page for a browser's navigation and Elasticsearch's node info for anything else."""
    with LogAnalyticsEngine() as engine, served(engine) as base:
        page = httpx.get(base + "/", headers={"Accept": "text/html,application/xhtml+xml"})
        info = httpx.get(base + "/")
        alerts_view = httpx.get(base + "/alerts")
        asset = httpx.get(base + "/ui/app.js")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/ui/app.js">' in page.text
    assert asset.headers["cache-control"] == "no-cache"  # revalidated: no stale module after an upgrade
    assert asset.headers["content-type"].startswith("text/javascript")
    assert info.json()["version"]["number"].startswith("8.")
    assert alerts_view.headers["content-type"].startswith("text/html")


def test_access_answers_scopes_without_ever_refusing() -> None:
    """`/api/v1/access` says what the presented key may do, 200 with or without a valid key."""
    keys = (_key("reader", "r-secret", "query"), _key("boss", "b-secret", "admin"))
    with LogAnalyticsEngine() as engine, served(engine, Settings(api_keys=keys)) as base:
        none = httpx.get(base + "/api/v1/access").json()
        wrong = httpx.get(base + "/api/v1/access", headers={"Authorization": "Bearer nope"}).json()
        reader = httpx.get(base + "/api/v1/access", headers={"X-API-Key": "r-secret"}).json()
        boss = httpx.get(base + "/api/v1/access", headers={"Authorization": "Bearer b-secret"}).json()
    with LogAnalyticsEngine() as engine, served(engine) as base:
        open_server = httpx.get(base + "/api/v1/access").json()
    assert none == {"keys_required": True, "key": None, "scopes": [], "problem": "no key presented"}
    assert (wrong["key"], wrong["problem"]) == (None, "unknown API key")
    assert (reader["key"], reader["scopes"]) == ("reader", ["query"])
    assert boss["scopes"] == ["ingest", "query", "admin"]
    everything = ["ingest", "query", "admin"]
    assert open_server == {"keys_required": False, "key": None, "scopes": everything, "problem": None}


def test_shell_loads_offline_with_no_console_errors(chromium: Browser) -> None:
    """The page draws its view with every request kept on the server and no error of any kind."""
    with LogAnalyticsEngine() as engine, served(engine) as base:
        page, watch = open_page(chromium, base)
        expect(page.locator("body[data-ready=true]")).to_be_attached(timeout=15_000)
        expect(page.locator("#key-dialog")).not_to_be_visible()
        page.get_by_role("link", name="Alerts").click()
        expect(page).to_have_url(base + "/alerts")
        expect(page.locator("nav a[aria-current=page]")).to_have_text("Alerts")
        page.go_back()
        expect(page.locator("nav a[aria-current=page]")).to_have_text("Search")
        page.context.close()
    watch.check()


def test_keyed_server_asks_for_a_key_and_keeps_it_for_the_session(chromium: Browser) -> None:
    """With keys configured the page asks for one, refuses an unknown key in place, and once given a
    valid key shows its scopes and does not ask again on reload."""
    keys = (_key("reader", "r-secret", "query"),)
    with LogAnalyticsEngine() as engine, served(engine, Settings(api_keys=keys)) as base:
        page, watch = open_page(chromium, base)
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible(timeout=15_000)
        shot(page, "key-dialog")
        page.keyboard.press("Escape")  # no way past the dialog without a key
        expect(dialog).to_be_visible()
        page.get_by_label("API key value").fill("ключ")  # a header holds ASCII only
        page.get_by_role("button", name="Use key").click()
        expect(page.locator("#key-error")).to_have_text("An API key is printable ASCII, without spaces.")
        page.get_by_label("API key value").fill("wrong")
        page.get_by_role("button", name="Use key").click()
        expect(page.locator("#key-error")).to_have_text("unknown API key")
        page.get_by_label("API key value").fill("r-secret")
        page.get_by_role("button", name="Use key").click()
        expect(dialog).not_to_be_visible()
        expect(page.locator("#who")).to_have_text("key reader: query")
        expect(page.locator("body[data-ready=true]")).to_be_attached()
        page.reload()
        expect(page.locator("body[data-ready=true]")).to_be_attached(timeout=15_000)
        expect(dialog).not_to_be_visible()
        assert page.evaluate("sessionStorage.getItem('log-analytics-key')") == "r-secret"
        page.context.close()
    watch.check()


def test_wheel_ships_the_ui(tmp_path: Path) -> None:
    """A built wheel holds every file of the UI (package data), so `pip install` needs no build step."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"log_analytics_engine/server/ui/static/{p.name}" for p in static_dir().iterdir()}
    assert {
        "log_analytics_engine/server/ui/static/index.html",
        "log_analytics_engine/server/ui/static/app.js",
    } <= shipped
    assert shipped <= names
