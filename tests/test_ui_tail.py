"""Live tail in a real browser while logs are ingested from a thread: new matching logs appear on
top with a rate, pause keeps them aside (the table stands still), resume shows what was kept, and
stopping closes the stream."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time

from playwright.sync_api import Browser, Page, expect

from browser import open_page, served, shot
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.model import LogEntry
from uidata import (
    ingest,
    make_logs,
)

UTC = dt.UTC


def _feed(engine: LogAnalyticsEngine, first: int, count: int, every_s: float = 0.02) -> threading.Thread:
    """A thread ingesting `count` logs "tailed event N" (and as many that do not match), one each
    `every_s`."""

    def run() -> None:
        for i in range(first, first + count):
            now = dt.datetime.now(UTC)
            engine.ingest_logs(
                [LogEntry(now, "INFO", f"tailed event {i}", source="feed"), LogEntry(now, "INFO", "other")]
            )
            time.sleep(every_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _tailed(page: Page) -> list[str]:
    return [m for m in page.locator(".row.log .c-message").all_text_contents() if m.startswith("tailed")]


def test_live_tail_streams_pauses_and_resumes(chromium: Browser) -> None:
    """Matching logs ingested while tailing appear newest first with a rate; paused, they are
    buffered and counted but not shown; resumed, they all appear; stopped, no more arrive."""
    with LogAnalyticsEngine() as engine, served(engine) as base:
        ingest(engine, make_logs(dt.datetime.now(UTC), n=100))
        page, watch = open_page(chromium, base, "/?last=1h&q=tailed")
        expect(page.locator("#total")).to_have_text("0 logs", timeout=15_000)
        page.get_by_role("button", name="Live tail").click()
        status = page.locator(".tail-status")
        expect(status).to_contain_text("Live: 0 new")
        _feed(engine, 0, 60).join()
        rows = page.locator(".row.log")
        expect(rows).to_have_count(60)
        assert _tailed(page) == [f"tailed event {i}" for i in reversed(range(60))]
        rate = float(re.search(r"([\d.]+) logs/s", status.inner_text()).group(1))  # type: ignore[union-attr]
        assert rate > 0
        expect(status).to_contain_text("60 new")
        shot(page, "tail")
        page.get_by_role("button", name="Pause").click()
        _feed(engine, 60, 40).join()
        expect(status).to_contain_text("40 buffered")
        expect(status).to_contain_text("Paused: 100 new")
        assert rows.count() == 60
        page.get_by_role("button", name="Resume").click()
        expect(rows).to_have_count(100)
        assert _tailed(page) == [f"tailed event {i}" for i in reversed(range(100))]
        page.get_by_role("button", name="Stop live tail").click()
        expect(page.get_by_role("button", name="Live tail")).to_have_attribute("aria-pressed", "false")
        _feed(engine, 100, 10).join()
        page.wait_for_timeout(800)
        assert rows.count() == 100
        page.context.close()
    watch.check()


def test_paused_tail_keeps_the_newest_ten_thousand_and_counts_the_rest(chromium: Browser) -> None:
    """Paused past its cap, the tail keeps the newest 10,000 logs aside and says how many it dropped;
    resumed, the table holds those 10,000, newest first, and never more."""
    with LogAnalyticsEngine() as engine, served(engine) as base:
        page, watch = open_page(chromium, base, "/?last=1h&q=burst")
        expect(page.locator("#total")).to_have_text("0 logs", timeout=15_000)
        page.get_by_role("button", name="Live tail").click()
        status = page.locator(".tail-status")
        expect(status).to_contain_text("Live: 0 new")
        page.get_by_role("button", name="Pause").click()
        now = dt.datetime.now(UTC)
        for start in range(0, 10_250, 1_000):  # 10,250 matching logs while paused
            engine.ingest_logs(
                [
                    LogEntry(now, "INFO", f"burst {i}", source="b")
                    for i in range(start, min(start + 1_000, 10_250))
                ]
            )
        expect(status).to_contain_text("Paused: 10,250 new", timeout=30_000)
        expect(status).to_contain_text("10,000 buffered")
        expect(status).to_contain_text("250 dropped")
        assert page.locator(".row.log").count() == 0
        page.get_by_role("button", name="Resume").click()
        rows = page.locator(".row.log")
        expect(rows).to_have_count(10_000, timeout=30_000)
        messages = rows.locator(".c-message")
        # text_content: rows out of sight are not rendered (content-visibility), so they have no inner text
        assert (messages.first.text_content(), messages.last.text_content()) == ("burst 10249", "burst 250")
        page.get_by_role("button", name="Stop live tail").click()
        page.context.close()
    watch.check()
