"""The search view in a real browser over generated logs with known answers: the query box and its
syntax errors, the time range, the histogram's zoom, the results table (highlight, expand, JSON,
surrounding logs, keyboard, more rows on scroll), the fields sidebar, CSV, URL state and narrow and
dark screens."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from browser import open_page, served, shot
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.errors import QuerySyntaxError
from log_analytics_engine.query.parser import parse
from log_analytics_engine.query.printer import to_text
from log_analytics_engine.server.settings import ApiKey, Settings
from uidata import (
    CSV_MESSAGE,
    HTML_MESSAGE,
    Log,
    between,
    ingest,
    make_logs,
    matching,
    parse_iso,
    words,
)

UTC = dt.UTC
HOUR = "/?last=1h"


@pytest.fixture(scope="module")
def data() -> list[Log]:
    return make_logs(dt.datetime.now(UTC))


@pytest.fixture(scope="module")
def base(data: list[Log]) -> Iterator[str]:
    with LogAnalyticsEngine() as engine, served(engine) as url:
        ingest(engine, data)
        yield url


def total(page: Page) -> Locator:
    return page.locator("#total")


def rows(page: Page) -> Locator:
    return page.locator(".row.log")


def settled(page: Page) -> None:
    """Wait until the view's last run has finished."""
    expect(page.locator(".search-view")).to_have_attribute("data-status", "done", timeout=15_000)


def run(page: Page, query: str) -> None:
    """Type a query in the box and press Enter."""
    page.locator("#query").fill(query)
    page.locator("#query").press("Enter")
    settled(page)


def params(page: Page) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(page.url).query).items()}


def logs_text(n: int) -> str:
    return f"{n:,} logs"


def test_query_shows_the_right_total_and_rows_with_words_marked(
    chromium: Browser, base: str, data: list[Log]
) -> None:
    """A typed query answers its total and its newest rows in order, the query's words marked,
    log text shown as text (never HTML), and the query lands in the URL."""
    page, watch = open_page(chromium, base, HOUR)
    settled(page)
    expect(total(page)).to_have_text(logs_text(len(data)))
    run(page, "timeout")
    expected = matching(data, lambda log: "timeout" in words(log.message))
    expect(total(page)).to_have_text(logs_text(len(expected)))
    expect(rows(page)).to_have_count(50)
    first = rows(page).first
    expect(first.locator(".c-time")).to_have_text(expected[0].iso_ms)
    expect(first.locator(".c-message")).to_have_text(expected[0].message)
    expect(first.locator(".c-level .lv")).to_have_class(re.compile(f"lv-{expected[0].level}"))
    marks = page.locator(".row.log .c-message mark")
    expect(marks).to_have_count(50)
    assert set(marks.all_text_contents()) == {"timeout"}
    assert [t for t in rows(page).locator(".c-time").all_text_contents()] == [
        log.iso_ms for log in expected[:50]
    ]
    assert params(page)["q"] == "timeout"
    run(page, "looks html")
    expect(total(page)).to_have_text(logs_text(len(matching(data, lambda log: log.message == HTML_MESSAGE))))
    expect(rows(page).first.locator(".c-message")).to_have_text(HTML_MESSAGE)
    assert page.locator(".rows img").count() == 0
    run(page, "")
    shot(page, "search")
    page.context.close()
    watch.check()


def test_a_syntax_error_is_shown_at_its_position(chromium: Browser, base: str) -> None:
    """A query that does not parse is not run: under the box, the text with a caret at the error's
    position and "expected X, found Y" as the parser says them; nothing fails on the network."""
    query = "level:ERROR AND (timeout"
    with pytest.raises(QuerySyntaxError) as error:
        parse(query)
    page, watch = open_page(chromium, base, HOUR)
    settled(page)
    page.locator("#query").fill(query)
    page.locator("#query").press("Enter")
    problem = error.value
    expect(page.locator("#query-error p.error")).to_have_text(
        f"Syntax error at column {problem.position + 1}: expected {problem.expected}, found {problem.found}"
    )
    caret = page.locator("#query-error pre.caret").text_content() or ""
    assert caret.split("\n")[1] == " " * problem.position + "^"
    expect(page.locator("#query")).to_have_attribute("aria-invalid", "true")
    page.locator("#query").fill("timeout")
    expect(page.locator("#query-error")).to_be_empty()
    page.context.close()
    watch.check()


def test_time_range_presets_typed_last_and_absolute(chromium: Browser) -> None:
    """A preset, a typed "last N" and an absolute from/to each bound the search: the totals are the
    logs generated inside each range, and the range is kept in the URL."""
    now = dt.datetime.now(UTC)
    # a log every 20 s for 3 hours: "last 5m" holds the newest few, "last 2h" ~360
    data = make_logs(now, n=540, spacing_s=20)
    with LogAnalyticsEngine() as engine, served(engine) as url:
        ingest(engine, data)
        page, watch = open_page(chromium, url, "/")
        settled(page)
        opened = dt.datetime.now(UTC)
        page.get_by_role("button", name=re.compile("^Time range")).click()
        page.get_by_role("button", name="Last 5 minutes").click()
        settled(page)
        assert params(page)["last"] == "5m"
        shown = int(total(page).inner_text().split()[0].replace(",", ""))
        low = len(matching(data, lambda log: log.time >= dt.datetime.now(UTC) - dt.timedelta(minutes=5)))
        high = len(matching(data, lambda log: log.time >= opened - dt.timedelta(minutes=5, seconds=1)))
        assert low <= shown <= high
        page.get_by_role("button", name=re.compile("^Time range")).click()
        page.get_by_label("Last", exact=True).fill("2h")
        page.get_by_label("Last", exact=True).press("Enter")
        settled(page)
        assert params(page)["last"] == "2h"
        expect(page.locator(".range-button")).to_have_text("Last 2 hours")
        page.get_by_role("button", name=re.compile("^Time range")).click()
        start, end = data[100].time.replace(microsecond=0), data[40].time.replace(microsecond=0)
        page.get_by_label("From (UTC)").fill(start.strftime("%Y-%m-%dT%H:%M:%S"))
        page.get_by_label("To (UTC)").fill(end.strftime("%Y-%m-%dT%H:%M:%S"))
        page.get_by_label("To (UTC)").press("Enter")
        settled(page)
        assert (parse_iso(params(page)["from"]), parse_iso(params(page)["to"])) == (start, end)
        expect(total(page)).to_have_text(logs_text(len(matching(data, between(start, end)))))
        page.context.close()
    watch.check()


def test_a_shared_url_without_an_offset_is_read_as_utc_in_any_zone(
    chromium: Browser, base: str, data: list[Log]
) -> None:
    """`from`/`to` written without an offset (by hand, or by another tool) mean UTC, as the API reads
    them, in a browser whose zone is not UTC too: the total is the logs of that UTC range."""
    start, end = data[100].time.replace(microsecond=0), data[40].time.replace(microsecond=0)
    naive = "&".join(f"{k}={t.strftime('%Y-%m-%dT%H:%M:%S')}" for k, t in (("from", start), ("to", end)))
    page, watch = open_page(chromium, base, "/?" + naive, timezone_id="America/New_York")
    settled(page)
    expect(total(page)).to_have_text(logs_text(len(matching(data, between(start, end)))))
    shown = f"{start:%Y-%m-%d %H:%M:%S} → {end:%Y-%m-%d %H:%M:%S}"  # UTC, not New York's 5 h earlier
    expect(page.locator(".range-button")).to_have_text(shown)
    page.context.close()
    watch.check()


def test_csv_cells_a_spreadsheet_would_run_are_defused(chromium: Browser, base: str) -> None:
    """Text starting with =, +, -, @ (log text is anyone's) leaves the CSV with a leading quote, so a
    spreadsheet shows it instead of running it; numbers stay numbers."""
    page, watch = open_page(chromium, base, HOUR)
    settled(page)
    cells = '[["=HYPERLINK(\\"x\\")"], ["+1"], ["-x"], ["@a"], [-5], ["ok"]]'
    text = page.evaluate(f'import("/ui/csv.js").then((m) => m.toCsv(["v"], {cells}))')
    assert text.split("\r\n") == ["v", '"\'=HYPERLINK(""x"")"', "'+1", "'-x", "'@a", "-5", "ok", ""]
    page.context.close()
    watch.check()


def test_dragging_across_the_histogram_zooms_into_that_range(
    chromium: Browser, base: str, data: list[Log]
) -> None:
    """The histogram stacks hits by level; a drag across it sets an absolute range snapped to its
    buckets, puts it in the URL and answers the logs inside it."""
    opened = dt.datetime.now(UTC)
    page, watch = open_page(chromium, base, HOUR)
    settled(page)
    plot = page.locator(".histogram-plot svg")
    expect(plot).to_be_visible()
    levels = set(page.locator(".histogram .bar").evaluate_all("bars => bars.map(b => b.dataset.level)"))
    assert levels == {log.level for log in data}
    box = plot.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    expect(page.locator(".histogram-tip")).to_be_visible()
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
    page.mouse.up()
    expect(page).to_have_url(re.compile("from="))
    settled(page)
    start, end = parse_iso(params(page)["from"]), parse_iso(params(page)["to"])
    assert "last" not in params(page)
    assert plot.get_attribute("data-step") == "30s"  # what auto gives an hour: at most 150 buckets
    # snapped outward to whole 30 s buckets, and covering the middle of the hour the drag crossed
    # (30 %..70 % of the drawing, its axis margins included: a little less of the hour itself)
    assert start.timestamp() % 30 == 0
    assert end.timestamp() % 30 == 0
    hour_start = opened - dt.timedelta(hours=1)
    assert dt.timedelta(minutes=14) < start - hour_start < dt.timedelta(minutes=22)
    assert dt.timedelta(minutes=38) < end - hour_start < dt.timedelta(minutes=46)
    expected = matching(data, between(start, end))
    expect(total(page)).to_have_text(logs_text(len(expected)))
    assert 0 < len(expected) < len(data)
    page.context.close()
    watch.check()


def test_field_values_add_a_clause_or_its_negation(chromium: Browser, base: str, data: list[Log]) -> None:
    """A value in the fields sidebar adds `field:"value"` to the query and reruns it; its "−" adds
    the negation; values holding quotes and backslashes are quoted so they still match."""
    page, watch = open_page(chromium, base, HOUR)
    settled(page)
    page.locator('.field-item[data-field="source"] .field-value', has_text="db").click()
    settled(page)
    expect(page.locator("#query")).to_have_value('source:"db"')
    expect(total(page)).to_have_text(logs_text(len(matching(data, lambda log: log.source == "db"))))
    region = page.locator('.field-item[data-field="region"]')
    region.locator("summary").click()
    region.get_by_role("button", name='Filter out region: eu "west"').click()
    settled(page)
    expect(page.locator("#query")).to_have_value('source:"db" -region:"eu \\"west\\""')
    kept = matching(data, lambda log: log.source == "db" and log.region != 'eu "west"')
    expect(total(page)).to_have_text(logs_text(len(kept)))
    region = page.locator('.field-item[data-field="region"]')
    region.locator(".field-value", has_text="us\\east").click()
    settled(page)
    expect(page.locator("#query")).to_have_value('source:"db" -region:"eu \\"west\\"" region:"us\\\\east"')
    east = matching(data, lambda log: log.source == "db" and log.region == "us\\east")
    expect(total(page)).to_have_text(logs_text(len(east)))
    counts = page.locator('.field-item[data-field="source"] .value-count').all_text_contents()
    assert counts == [f"{len(east):,}"]
    page.context.close()
    watch.check()


def test_a_row_expands_to_its_fields_json_and_surrounding_logs(
    chromium: Browser, base: str, data: list[Log]
) -> None:
    """Clicking a row shows all its fields as a table and, toggled, as JSON; "show surrounding logs"
    lists the same source's logs just before and after it with the row itself marked."""
    page, watch = open_page(chromium, base, HOUR)
    settled(page)
    run(page, "connection refused")
    expected = matching(data, lambda log: "connection refused" in log.message)
    target = expected[3]
    rows(page).nth(3).click()
    detail = page.locator(".detail")
    expect(detail).to_have_count(1)
    table = detail.locator(".fields-table")
    expect(table.locator("tr", has=page.locator("th", has_text="message")).locator("td")).to_have_text(
        target.message
    )
    expect(table.locator("tr", has=page.locator("th", has_text="region")).locator("td")).to_have_text(
        target.region
    )
    assert "open=" in page.url
    detail.get_by_role("button", name="JSON").click()
    shown = json.loads(detail.locator(".log-json").inner_text())
    assert (shown["message"], shown["source"], shown["metadata"]) == (
        target.message,
        target.source,
        {"region": target.region},
    )
    expect(table).to_be_hidden()
    detail.get_by_role("button", name="Show surrounding logs").click()
    items = detail.locator(".context-list li")
    same = [log for log in reversed(data) if log.source == target.source]  # oldest first
    at = same.index(target)
    around = same[max(0, at - 20) : at + 21]
    expect(items).to_have_count(len(around))
    assert items.locator(".ctx-message").all_text_contents() == [log.message for log in around]
    anchor = detail.locator(".context-list li.anchor")
    expect(anchor).to_have_count(1)
    expect(anchor.locator(".c-time")).to_have_text(target.iso_ms)
    shot(page, "search-expanded")
    rows(page).nth(3).click()
    expect(detail).to_have_count(0)
    assert "open=" not in page.url
    page.context.close()
    watch.check()


def test_scrolling_loads_the_next_pages_without_duplicates(
    chromium: Browser, base: str, data: list[Log]
) -> None:
    """Rows beyond the first page appear as the table is scrolled to its end, through the cursor,
    each log once, in order, until every match is shown."""
    page, watch = open_page(chromium, base, HOUR)
    settled(page)
    expect(rows(page)).to_have_count(50)
    scroller = page.locator(".results-scroll")
    for _ in range(10):
        if rows(page).count() == len(data):
            break
        scroller.evaluate("el => el.scrollTo(0, el.scrollHeight)")
        page.wait_for_timeout(300)
    expect(rows(page)).to_have_count(len(data))
    seqs = rows(page).evaluate_all("rows => rows.map(r => r.dataset.seq)")
    assert len(set(seqs)) == len(data)
    assert rows(page).locator(".c-time").all_text_contents() == [log.iso_ms for log in data]
    expect(page.locator(".summary .shown")).to_have_text(f"showing {len(data):,}")
    page.context.close()
    watch.check()


def test_reloading_the_url_gives_the_same_view(chromium: Browser, base: str, data: list[Log]) -> None:
    """Query, absolute range, chosen columns and the expanded row are in the URL: a reload, or the
    URL opened elsewhere, shows the same view; back returns to the previous query."""
    page, watch = open_page(chromium, base, HOUR)
    settled(page)
    run(page, "logged")
    start, end = data[600].time.replace(microsecond=0), data[100].time.replace(microsecond=0)
    page.get_by_role("button", name=re.compile("^Time range")).click()
    page.get_by_label("From (UTC)").fill(start.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("To (UTC)").fill(end.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("To (UTC)").press("Enter")
    settled(page)
    page.get_by_label("Show region as a column").check()
    expect(page.locator(".row.head")).to_contain_text("region")
    rows(page).nth(2).click()
    expected = matching(data, lambda log: "logged" in words(log.message) and start <= log.time <= end)
    before = rows(page).locator(".c-time").all_text_contents()
    assert before == [log.iso_ms for log in expected[:50]]
    assert params(page)["cols"] == "region"
    url = page.url
    page.reload()
    settled(page)
    expect(page.locator("#query")).to_have_value("logged")
    expect(total(page)).to_have_text(logs_text(len(expected)))
    assert rows(page).locator(".c-time").all_text_contents() == before
    assert rows(page).locator(".c-extra").all_text_contents() == [log.region for log in expected[:50]]
    expect(page.get_by_label("Show region as a column")).to_be_checked()
    expect(page.locator(".row.log[aria-expanded=true] .c-time")).to_have_text(expected[2].iso_ms)
    other, other_watch = open_page(chromium, base, url.removeprefix(base))
    settled(other)
    expect(other.locator(".row.log[aria-expanded=true] .c-time")).to_have_text(expected[2].iso_ms)
    other.context.close()
    page.go_back()  # the range before the absolute one
    settled(page)
    assert params(page).get("last") == "1h"
    expect(page.locator("#query")).to_have_value("logged")
    expect(total(page)).to_have_text(
        logs_text(len(matching(data, lambda log: "logged" in words(log.message))))
    )
    page.context.close()
    watch.check()
    other_watch.check()


def test_results_and_a_pipe_query_download_as_csv(chromium: Browser, base: str, data: list[Log]) -> None:
    """The "Download CSV" button saves the loaded rows, or a pipe query's rows, as RFC 4180 CSV."""
    page, watch = open_page(chromium, base, HOUR)
    settled(page)
    run(page, '"payment said"')
    expected = matching(data, lambda log: log.message == CSV_MESSAGE)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    body = download.value.path().read_bytes().decode()
    assert download.value.suggested_filename.startswith("logs-")
    loaded = expected[:50]
    assert body.count("\r\n") == len(loaded) + 1  # the message's own newline stays a bare LF, quoted
    table = list(csv.reader(io.StringIO(body, newline="")))
    assert table[0] == ["timestamp", "level", "source", "message"]
    assert [row[3] for row in table[1:]] == [CSV_MESSAGE] * len(loaded)
    assert [(row[1], row[2]) for row in table[1:]] == [(log.level, log.source) for log in loaded]
    assert [parse_iso(row[0]) for row in table[1:]] == [log.time for log in loaded]
    run(page, "* | stats by (source) count() as n | sort by (source)")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("stats-")
    table = list(csv.reader(io.StringIO(download.value.path().read_bytes().decode(), newline="")))
    counts = Counter(log.source for log in data)
    assert table == [["source", "n"], *([source, str(counts[source])] for source in sorted(counts))]
    page.context.close()
    watch.check()


def test_slash_focuses_the_query_and_arrows_move_through_rows(chromium: Browser, base: str) -> None:
    """`/` outside an input focuses the query box; on the table, arrow keys move the selection
    (one focusable row at a time) and Enter expands the selected row."""
    page, watch = open_page(chromium, base, HOUR + "&q=logged")
    settled(page)
    page.locator(".total").click()
    page.keyboard.press("/")
    expect(page.locator("#query")).to_be_focused()
    page.keyboard.press("Tab")
    page.locator(".row.log").first.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    third = rows(page).nth(2)
    expect(third).to_be_focused()
    expect(third).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowUp")
    expect(rows(page).nth(1)).to_be_focused()
    assert page.locator('.row.log[tabindex="0"]').count() == 1
    page.keyboard.press("Enter")
    expect(rows(page).nth(1)).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    expect(third).to_be_focused()
    page.context.close()
    watch.check()


def test_create_alert_rule_carries_the_query_and_needs_admin(chromium: Browser, base: str) -> None:
    """The "Create alert rule" button opens the alerts view with the current filter; for a key
    without the admin scope it is disabled, its title saying why."""
    page, watch = open_page(chromium, base, HOUR + "&q=timeout")
    settled(page)
    button = page.get_by_role("button", name="Create alert rule")
    expect(button).to_be_enabled()
    button.click()
    expect(page).to_have_url(re.compile(r"/alerts\?new=1&query=timeout$"))
    # a pipe query's filter is the server's reading of it: a `|` inside quotes stays in the filter
    query = 'source:"db|x" OR timeout | stats by (source) count()'
    page.goto(base + HOUR + "&q=" + quote(query, safe=""))
    settled(page)
    page.get_by_role("button", name="Create alert rule").click()
    filter_text = to_text(parse(query).filter)
    assert "|" in filter_text
    expect(page).to_have_url(
        re.compile(r"/alerts\?new=1&query=" + re.escape(quote(filter_text, safe="")) + "$")
    )
    page.context.close()
    watch.check()
    reader = ApiKey("reader", hashlib.sha256(b"r-secret").hexdigest(), frozenset({"query"}))
    with LogAnalyticsEngine() as engine, served(engine, Settings(api_keys=(reader,))) as keyed:
        page, keyed_watch = open_page(chromium, keyed, HOUR)
        page.get_by_label("API key value").fill("r-secret")
        page.get_by_role("button", name="Use key").click()
        settled(page)
        button = page.get_by_role("button", name="Create alert rule")
        expect(button).to_be_disabled()
        expect(button).to_have_attribute("title", "needs the admin scope (key reader)")
        page.context.close()
    keyed_watch.check()


def test_narrow_screen_keeps_the_query_box_and_results(chromium: Browser, base: str) -> None:
    """On a phone-sized screen the query box and the rows stay visible, the fields sidebar sits
    behind a "Fields" toggle and the table scrolls sideways."""
    page, watch = open_page(chromium, base, HOUR, viewport={"width": 390, "height": 844})
    settled(page)
    expect(page.locator("#query")).to_be_visible()
    expect(rows(page).first).to_be_visible()
    sidebar = page.locator(".fields-sidebar")
    expect(sidebar).to_be_hidden()
    toggle = page.get_by_role("button", name="Fields")
    toggle.click()
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(sidebar).to_be_hidden()
    assert page.locator(".results-scroll").evaluate("el => el.scrollWidth > el.clientWidth")
    shot(page, "search-narrow")
    page.context.close()
    watch.check()


def test_dark_scheme_follows_the_system(chromium: Browser, base: str) -> None:
    """With the system in dark mode the page draws on a dark background with its level colours."""
    page, watch = open_page(chromium, base, HOUR, color_scheme="dark")
    settled(page)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 22, 28)"
    error_bar = page.locator(".histogram .bar.lvfill-ERROR").first
    assert error_bar.evaluate("el => getComputedStyle(el).fill") == "rgb(255, 107, 96)"
    shot(page, "search-dark")
    page.context.close()
    watch.check()
