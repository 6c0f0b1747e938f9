"""The stats view in a real browser: a pipe query renders as a sortable table, and with a time
bucket among its `stats by` keys as a chart with one series per combination of the other keys."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, expect

from browser import open_page, served, shot
from log_analytics_engine import LogAnalyticsEngine
from uidata import (
    ingest,
    make_logs,
)

UTC = dt.UTC


def _bucket(time: dt.datetime, minutes: int) -> dt.datetime:
    return time.replace(minute=time.minute - time.minute % minutes, second=0, microsecond=0)


def test_stats_by_time_bucket_draws_a_table_and_a_series_per_group(chromium: Browser) -> None:
    """`stats by (_time:5m, source) count()` gives a row per (bucket, source) and a chart with a
    series per source whose points are its buckets; a header click sorts the table."""
    data = make_logs(dt.datetime.now(UTC))
    groups = Counter((_bucket(log.time, 5), log.source) for log in data)
    with LogAnalyticsEngine() as engine, served(engine) as base:
        ingest(engine, data)
        query = "* | stats by (_time:5m, source) count() as n"
        page, watch = open_page(chromium, base, "/?last=1h")
        page.locator("#query").fill(query)
        page.locator("#query").press("Enter")
        expect(page.locator(".search-view")).to_have_attribute("data-status", "done", timeout=15_000)
        expect(page.locator("#total")).to_have_text(f"{len(groups)} rows")
        table = page.locator(".stats-table")
        expect(table.locator("tbody tr")).to_have_count(len(groups))
        assert table.locator("thead th").all_text_contents() == ["_time", "source", "n"]
        shown = {
            (dt.datetime.fromisoformat(t).replace(tzinfo=UTC), source): int(n)
            for t, source, n in (
                row.locator("td").all_text_contents() for row in table.locator("tbody tr").all()
            )
        }
        assert shown == dict(groups)
        expect(page.locator(".histogram")).to_be_hidden()
        expect(page.locator(".fields-sidebar")).to_be_hidden()
        chart = page.locator(".stats-chart svg")
        expect(chart).to_be_visible()
        series = chart.locator("g.series")
        expect(series).to_have_count(len({log.source for log in data}))
        for item in series.all():
            name = item.get_attribute("data-series")
            assert item.locator("circle").count() == sum(1 for _, source in groups if source == name)
        expect(page.locator(".stats-legend li")).to_have_count(series.count())
        table.get_by_role("button", name="n").click()
        values = [int(v) for v in table.locator("tbody td:nth-child(3)").all_text_contents()]
        assert values == sorted(groups.values())
        expect(table.locator("th[data-column=n]")).to_have_attribute("aria-sort", "ascending")
        table.get_by_role("button", name="n").click()
        values = [int(v) for v in table.locator("tbody td:nth-child(3)").all_text_contents()]
        assert values == sorted(groups.values(), reverse=True)
        assert parse_qs(urlsplit(page.url).query)["q"] == [query]
        shot(page, "stats")
        page.locator("#query").fill("* | stats by (level) count() as n")
        page.locator("#query").press("Enter")
        expect(page.locator("#total")).to_have_text(f"{len({log.level for log in data})} rows")
        expect(page.locator(".stats-chart")).to_be_hidden()
        expect(page.get_by_role("button", name="Live tail")).to_be_disabled()
        page.context.close()
    watch.check()
