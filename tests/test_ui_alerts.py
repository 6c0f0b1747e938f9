"""The web UI's alerts view in a real browser: rules with their state and count against the threshold,
recent alerts with their sample logs, the rule editor (validated by the API, prefilled from a query),
enable, disable and delete, the admin scope's controls disabled for a key without it, the rule filter
kept in the URL, a narrow screen and the dark theme. Every test generates its logs, ingests them into
the served engine, and computes what the page must show from them."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from urllib.parse import quote

from playwright.sync_api import Browser, Locator, Page, expect

from browser import Watch, open_page, served, shot
from log_analytics_engine import AlertRule, LogAnalyticsEngine, LogEntry
from log_analytics_engine.server.settings import ApiKey, Settings

READY = "body[data-ready=true]"
QUERY = "Query (a filter of the query language)"
THRESHOLD = "Threshold (matching logs)"
NO_ADMIN = "needs the admin scope (key reader)"
FIRES_WITHIN_MS = 20_000  # a refresh is every 3 s; this bounds a hang, it times nothing


@dataclass
class Batch:
    """Generated logs and the ones a rule's query `level:ERROR source:<source>` matches."""

    logs: list[LogEntry]
    matching: list[LogEntry]


def _batch(seed: int, source: str, matches: int, noise: int = 30) -> Batch:
    """`matches` ERROR logs of `source` and `noise` others (other levels of it, errors of sources no
    rule of these tests names), all within the last minute, each at its own millisecond."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    offsets = rng.sample(range(1_000, 60_000), matches + noise)  # ms before now, distinct
    logs = []
    for index, offset in enumerate(offsets):
        when = now - dt.timedelta(milliseconds=offset)
        if index < matches:
            code = rng.randint(500, 599)
            entry = LogEntry(when, "ERROR", f"{source} failure {seed}-{index}: code {code}", source)
        elif rng.random() < 0.5:
            level = rng.choice(["INFO", "WARN", "DEBUG"])
            entry = LogEntry(when, level, f"{source} ok {seed}-{index}", source)
        else:
            entry = LogEntry(when, "ERROR", f"other failure {seed}-{index}", rng.choice(["worker", "cron"]))
        logs.append(entry)
    rng.shuffle(logs)
    return Batch(logs, [e for e in logs if e.level == "ERROR" and e.source == source])


def _oldest_messages(batch: Batch, n: int = 5) -> list[str]:
    """The messages of the rule's sample logs: the oldest matches, oldest first."""
    return [e.message for e in sorted(batch.matching, key=lambda e: e.timestamp)[:n]]


def _key(name: str, secret: str, *scopes: str) -> ApiKey:
    return ApiKey(name, hashlib.sha256(secret.encode()).hexdigest(), frozenset(scopes))


def _rule_row(page: Page, name: str) -> Locator:
    return page.locator(f'.rules-table tr[data-rule="{name}"]')


def _alert_rows(page: Page) -> Locator:
    return page.locator(".alerts-table tbody.alert")


def _next_refresh(page: Page) -> None:
    """Wait until the view has refreshed itself once more (its "updated" time changes)."""
    stamp = page.locator(".updated").text_content() or ""
    expect(page.locator(".updated")).not_to_have_text(stamp, timeout=10_000)


def _open(chromium: Browser, base: str, path: str = "/alerts", **context: object) -> tuple[Page, Watch]:
    page, watch = open_page(chromium, base, path, **context)
    expect(page.locator(READY)).to_be_attached(timeout=15_000)
    return page, watch


def test_rule_made_in_the_editor_fires_and_its_alert_shows_its_samples(chromium: Browser) -> None:
    """New rule → fill → Save lists the rule (ok, 0 / threshold); logs that match turn it firing with
    their count, and its alert, expanded by click or Enter, shows the oldest matches as samples."""
    batch = _batch(1, "api", matches=7)
    with LogAnalyticsEngine() as engine, served(engine) as base:
        page, watch = _open(chromium, base)
        expect(page.get_by_text("No rules yet")).to_be_visible()
        expect(page.get_by_label("Rule", exact=True).locator("option")).to_have_text(["All rules"])
        page.get_by_role("button", name="New rule").click()
        editor = page.locator(".rule-editor")
        expect(editor.get_by_role("heading", name="New rule")).to_be_visible()
        page.get_by_label("Name").fill("api-errors")
        page.get_by_label("Description").fill("errors of the api")
        page.get_by_label(QUERY).fill("level:ERROR source:api")
        page.get_by_label("Severity").select_option("high")
        page.get_by_label(THRESHOLD).fill("4")
        page.get_by_label("Time window").fill("5m")
        page.get_by_label("Cooldown").fill("1h")
        page.get_by_label("Labels (key=value, one a line)").fill("team=api\nservice=checkout")
        page.get_by_label("Annotations (key=value, one a line)").fill("runbook=https://example.org/rb")
        expect(editor.locator("#rule-time_window-seconds")).to_have_text("= 300 s")
        expect(editor.locator("#rule-cooldown-seconds")).to_have_text("= 3600 s")
        expect(editor.locator(".verdict")).to_have_text("The rule is valid.")
        expect(editor.locator(".summary")).to_have_text(
            "Fires (high) when 4 or more logs matching level:ERROR source:api fall within 5m (300 s); "
            "then waits 1h (3600 s) before firing again."
        )
        expect(editor.locator(".preview")).to_have_text(
            "Now: 0 matching logs in the last 5m; it would not fire now."
        )
        # a refresh while the editor is open keeps what was typed
        _next_refresh(page)
        expect(page.get_by_label("Name")).to_have_value("api-errors")
        shot(page, "alerts-editor")
        page.get_by_role("button", name="Save rule").click()
        expect(page.locator(".live")).to_have_text("Saved rule api-errors.")
        expect(editor).to_have_count(0)
        row = _rule_row(page, "api-errors")
        expect(row.locator(".badge").first).to_have_text("ok")
        expect(row.locator(".count-text")).to_have_text("0 / 4")
        expect(row).to_contain_text("level:ERROR source:api")
        expect(row).to_contain_text("never")
        (rule,) = engine.get_alert_rules()
        saved = (rule.threshold, rule.time_window, rule.cooldown, rule.severity.value)
        assert saved == (4, 300, 3600, "high")
        assert rule.labels == {"team": "api", "service": "checkout"}

        engine.ingest_logs(batch.logs)
        count = len(batch.matching)
        expect(row.locator(".badge").first).to_have_text("firing", timeout=FIRES_WITHIN_MS)
        expect(row.locator(".count-text")).to_have_text(f"{count} / 4")
        expect(row).to_contain_text("just now")
        alert = _alert_rows(page).first
        expect(_alert_rows(page)).to_have_count(1)
        expect(alert).to_contain_text("api-errors")
        expect(alert.locator(".badge.status-firing")).to_have_text("firing")
        expect(alert.locator("td.num")).to_have_text(str(count))
        expect(alert).to_contain_text(f"{count} matches in 300s")
        alert.locator(".alert-summary").click()
        samples = alert.locator(".samples-table tbody tr")
        expect(samples).to_have_count(5)
        expect(samples.locator("td.message")).to_have_text(_oldest_messages(batch))
        expect(samples.locator("td.lv-ERROR")).to_have_count(5)
        expect(alert.locator(".alert-facts")).to_contain_text("team=api")
        expect(alert.locator(".alert-facts")).to_contain_text("runbook=https://example.org/rb")
        shot(page, "alerts")
        summary = alert.locator(".alert-summary")
        summary.focus()
        page.keyboard.press("Enter")
        expect(summary).to_have_attribute("aria-expanded", "false")
        page.keyboard.press("Enter")
        expect(summary).to_have_attribute("aria-expanded", "true")
        # a refresh keeps the row expanded and focused
        _next_refresh(page)
        expect(summary).to_have_attribute("aria-expanded", "true")
        expect(summary).to_be_focused()
        page.context.close()
    watch.check()


def test_rule_from_a_query_opens_prefilled_and_fires(chromium: Browser) -> None:
    """`/alerts?new=1&query=…` (where the search view's button leads) opens the editor with that query
    and a name made from it; saved, the parameters leave the URL, and matching logs fire it."""
    earlier, batch = _batch(20, "api", matches=2), _batch(2, "api", matches=5)
    everything = Batch(earlier.logs + batch.logs, earlier.matching + batch.matching)
    with LogAnalyticsEngine() as engine, served(engine) as base:
        page, watch = _open(chromium, base, "/alerts?new=1&query=level:ERROR%20source:api")
        expect(page.get_by_label(QUERY)).to_have_value("level:ERROR source:api")
        expect(page.get_by_label("Name")).to_have_value("level-error-source-api")
        expect(page.locator(".verdict")).to_have_text("The rule is valid.")
        page.get_by_label(THRESHOLD).fill("3")
        # logs already stored count in the editor's preview (the rule sees them once saved)
        engine.ingest_logs(earlier.logs)
        page.get_by_label("Time window").fill("10m")
        expect(page.locator(".preview")).to_have_text(
            f"Now: {len(earlier.matching)} matching logs in the last 10m; it would not fire now."
        )
        page.get_by_role("button", name="Save rule").click()
        expect(page.locator(".live")).to_have_text("Saved rule level-error-source-api.")
        expect(page).to_have_url(base + "/alerts")
        page.reload()
        expect(page.locator(READY)).to_be_attached(timeout=15_000)
        expect(page.locator(".rule-editor")).to_have_count(0)
        row = _rule_row(page, "level-error-source-api")
        expect(row.locator(".count-text")).to_have_text(f"{len(earlier.matching)} / 3")
        expect(row.locator(".badge").first).to_have_text("ok")
        engine.ingest_logs(batch.logs)
        count = len(everything.matching)
        expect(row.locator(".badge").first).to_have_text("firing", timeout=FIRES_WITHIN_MS)
        expect(row.locator(".count-text")).to_have_text(f"{count} / 3")
        alert = _alert_rows(page).first
        expect(alert).to_contain_text("level-error-source-api")
        expect(alert.locator("td.num")).to_have_text(str(count))
        alert.locator(".alert-summary").click()
        expect(alert.locator(".samples-table td.message")).to_have_text(_oldest_messages(everything))
        (alert_kept,) = engine.get_alerts()
        assert alert_kept.count == count
        page.context.close()
    watch.check()


def test_create_alert_rule_from_the_search_page_fires(chromium: Browser) -> None:
    """The search page's "Create alert rule" brings its query to the alerts editor (no reload), the
    preview counts the logs already matching, and once saved the next matching logs fire it."""
    earlier, batch = _batch(8, "api", matches=2), _batch(9, "api", matches=3)
    everything = Batch(earlier.logs + batch.logs, earlier.matching + batch.matching)
    with LogAnalyticsEngine() as engine, served(engine) as base:
        engine.ingest_logs(earlier.logs)
        page, watch = _open(chromium, base, "/?last=1h&q=" + quote("level:ERROR source:api"))
        expect(page.locator(".search-view")).to_have_attribute("data-status", "done", timeout=15_000)
        page.get_by_role("button", name="Create alert rule").click()
        expect(page).to_have_url(base + "/alerts?new=1&query=" + quote("level:ERROR source:api", safe=""))
        expect(page.get_by_label(QUERY)).to_have_value("level:ERROR source:api")
        expect(page.get_by_label("Name")).to_have_value("level-error-source-api")
        preview = f"Now: {len(earlier.matching)} matching logs in the last 5m"
        expect(page.locator(".preview")).to_have_text(preview + "; it would fire now.")  # threshold 1
        page.get_by_label(THRESHOLD).fill(str(len(everything.matching)))
        expect(page.locator(".preview")).to_have_text(preview + "; it would not fire now.")
        page.get_by_role("button", name="Save rule").click()
        expect(page.locator(".live")).to_have_text("Saved rule level-error-source-api.")
        expect(page).to_have_url(base + "/alerts")
        row = _rule_row(page, "level-error-source-api")
        expect(row.locator(".badge").first).to_have_text("ok")
        engine.ingest_logs(batch.logs)
        count = len(everything.matching)
        expect(row.locator(".badge").first).to_have_text("firing", timeout=FIRES_WITHIN_MS)
        expect(row.locator(".count-text")).to_have_text(f"{count} / {count}")
        expect(_alert_rows(page).first.locator("td.num")).to_have_text(str(count))
        page.context.close()
    watch.check()


def test_editor_shows_the_apis_errors_and_saves_nothing_invalid(chromium: Browser) -> None:
    """A query with a syntax error shows the API's "expected … at N" with a caret under N, threshold 0
    shows its error, Save sends no PUT for either; Escape closes the editor unsaved."""
    with LogAnalyticsEngine() as engine, served(engine) as base:
        page, watch = _open(chromium, base)
        puts: list[str] = []
        page.on("request", lambda request: puts.append(request.url) if request.method == "PUT" else None)
        page.get_by_role("button", name="New rule").click()
        page.get_by_label("Name").fill("broken")
        query = page.get_by_label(QUERY)
        query.fill("level:(")
        verdict = page.locator(".verdict")
        expect(verdict).to_contain_text("expected a value at 6, found (")
        expect(query).to_have_attribute("aria-invalid", "true")
        expect(page.locator(".caret")).to_have_text("level:(\n      ^")
        page.get_by_role("button", name="Save rule").click()
        expect(verdict).to_contain_text("expected a value at 6, found (")
        query.fill("level:ERROR")
        page.get_by_label(THRESHOLD).fill("0")
        expect(verdict).to_contain_text("threshold must be at least 1, got 0")
        expect(page.get_by_label(THRESHOLD)).to_have_attribute("aria-invalid", "true")
        expect(query).not_to_have_attribute("aria-invalid", "true")
        page.get_by_role("button", name="Save rule").click()
        expect(verdict).to_contain_text("threshold must be at least 1, got 0")
        page.get_by_label("Time window").fill("5 minutes")
        unread = 'time_window: expected seconds or a duration like 30s, 5m, 1h, got "5 minutes"'
        expect(verdict).to_contain_text(unread)
        page.get_by_label("Time window").fill("90s")
        page.get_by_label(THRESHOLD).fill("2")
        expect(verdict).to_have_text("The rule is valid.")
        page.get_by_label(THRESHOLD).press("Escape")
        expect(page.locator(".rule-editor")).to_have_count(0)
        expect(page.get_by_role("button", name="New rule")).to_be_focused()
        assert puts == []
        assert engine.get_alert_rules() == []
        page.context.close()
    watch.check()


def test_enable_disable_and_delete_after_the_confirm_dialog(chromium: Browser) -> None:
    """The enabled switch disables the rule (disabled badge) and enables it again; Edit saves a changed
    threshold and cooldown; Delete asks in a dialog — Cancel or Escape keeps the rule, Delete removes
    it from the page and the engine."""
    with LogAnalyticsEngine() as engine, served(engine) as base:
        engine.add_alert_rule(AlertRule(name="db-errors", query="level:ERROR source:db", threshold=2))
        engine.add_alert_rule(AlertRule(name="web-errors", query="level:ERROR source:web", threshold=2))
        page, watch = _open(chromium, base)
        row = _rule_row(page, "db-errors")
        switch = page.get_by_role("switch", name="Enabled: db-errors")
        expect(switch).to_be_checked()
        switch.uncheck()
        expect(page.locator(".live")).to_have_text("Disabled rule db-errors.")
        expect(row.locator(".badge").first).to_have_text("disabled")
        expect(row.locator("td[data-label='Count / threshold']")).to_have_text("– / 2")
        assert [r.enabled for r in engine.get_alert_rules() if r.name == "db-errors"] == [False]
        switch.check()
        expect(page.locator(".live")).to_have_text("Enabled rule db-errors.")
        expect(row.locator(".badge").first).to_have_text("ok")
        assert all(r.enabled for r in engine.get_alert_rules())

        page.get_by_role("button", name="Edit db-errors").click()
        expect(page.get_by_role("heading", name="Edit rule db-errors")).to_be_visible()
        expect(page.get_by_label(THRESHOLD)).to_have_value("2")
        expect(page.get_by_label("Time window")).to_have_value("5m")
        page.get_by_label(THRESHOLD).fill("5")
        page.get_by_label("Cooldown").fill("30s")
        page.get_by_role("button", name="Save rule").click()
        expect(page.locator(".live")).to_have_text("Saved rule db-errors.")
        expect(row.locator(".count-text")).to_have_text("0 / 5")
        expect(page.get_by_role("button", name="Edit db-errors")).to_be_focused()
        edited = [
            (r.threshold, r.cooldown, r.query) for r in engine.get_alert_rules() if r.name == "db-errors"
        ]
        assert edited == [(5, 30, "level:ERROR source:db")]

        page.get_by_role("button", name="Delete db-errors").click()
        dialog = page.get_by_role("dialog", name="Delete rule")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Delete the rule db-errors?")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_have_count(0)
        expect(row).to_have_count(1)
        page.get_by_role("button", name="Delete db-errors").click()
        page.keyboard.press("Escape")  # Escape answers no too
        expect(page.get_by_role("dialog")).to_have_count(0)
        expect(row).to_have_count(1)
        page.get_by_role("button", name="Delete db-errors").click()
        page.get_by_role("dialog", name="Delete rule").get_by_role("button", name="Delete").click()
        expect(page.locator(".live")).to_have_text("Deleted rule db-errors.")
        expect(row).to_have_count(0)
        expect(_rule_row(page, "web-errors")).to_have_count(1)
        assert [r.name for r in engine.get_alert_rules()] == ["web-errors"]
        page.context.close()
    watch.check()


def test_rule_filter_is_kept_in_the_url(chromium: Browser) -> None:
    """Clicking a rule's name lists its alerts only, as `?rule=NAME`, which a reload keeps; the select
    goes back to every rule."""
    api, db = _batch(3, "api", matches=3), _batch(4, "db", matches=4)
    with LogAnalyticsEngine() as engine, served(engine) as base:
        engine.add_alert_rule(AlertRule(name="api-errors", query="level:ERROR source:api", threshold=3))
        engine.add_alert_rule(AlertRule(name="db-errors", query="level:ERROR source:db", threshold=4))
        engine.ingest_logs(api.logs)
        engine.ingest_logs(db.logs)
        fired = {a.rule_name: a.count for a in engine.get_alerts()}
        assert fired == {"api-errors": len(api.matching), "db-errors": len(db.matching)}
        page, watch = _open(chromium, base)
        expect(_alert_rows(page)).to_have_count(2)
        page.get_by_role("button", name="db-errors", exact=True).click()
        expect(page).to_have_url(base + "/alerts?rule=db-errors")
        expect(_alert_rows(page)).to_have_count(1)
        expect(_alert_rows(page).first).to_contain_text("db-errors")
        expect(_alert_rows(page).first.locator("td.num")).to_have_text(str(len(db.matching)))
        page.reload()
        expect(page.locator(READY)).to_be_attached(timeout=15_000)
        expect(page.get_by_label("Rule", exact=True)).to_have_value("db-errors")
        options = page.get_by_label("Rule", exact=True).locator("option")
        expect(options).to_have_text(["All rules", "api-errors", "db-errors"])
        expect(_alert_rows(page)).to_have_count(1)
        expect(_rule_row(page, "db-errors")).to_have_class("selected")
        # a refresh keeps the focus on the rule's name
        name_button = page.get_by_role("button", name="db-errors", exact=True)
        name_button.focus()
        _next_refresh(page)
        expect(name_button).to_be_focused()
        expect(name_button).to_have_attribute("aria-pressed", "true")
        page.get_by_label("Rule", exact=True).select_option("")
        expect(page).to_have_url(base + "/alerts")
        expect(_alert_rows(page)).to_have_count(2)
        page.go_back()
        expect(_alert_rows(page)).to_have_count(1)
        page.context.close()
    watch.check()


def test_a_query_key_sees_rules_and_alerts_with_admin_actions_disabled(chromium: Browser) -> None:
    """On a keyed server a `query` key (given in the key dialog) sees the rules and alerts, and New
    rule, Edit, the enabled switch and Delete are disabled with a title naming the admin scope; an
    admin key gets them enabled. No request is refused on the way."""
    keys = (_key("reader", "r-secret", "query"), _key("boss", "b-secret", "admin"))
    batch = _batch(5, "api", matches=2)
    with LogAnalyticsEngine() as engine, served(engine, Settings(api_keys=keys)) as base:
        engine.add_alert_rule(AlertRule(name="api-errors", query="level:ERROR source:api", threshold=2))
        engine.ingest_logs(batch.logs)
        for secret, allowed in (("r-secret", False), ("b-secret", True)):
            page, watch = open_page(chromium, base, "/alerts?new=1&query=level:WARN")
            expect(page.locator("#key-dialog")).to_be_visible(timeout=15_000)
            page.get_by_label("API key value").fill(secret)
            page.get_by_role("button", name="Use key").click()
            expect(page.locator(READY)).to_be_attached(timeout=15_000)
            row = _rule_row(page, "api-errors")
            expect(row.locator(".badge").first).to_have_text("firing")
            expect(row.locator(".count-text")).to_have_text("2 / 2")
            expect(_alert_rows(page)).to_have_count(1)
            controls = [
                page.get_by_role("button", name="New rule"),
                page.get_by_role("button", name="Edit api-errors"),
                page.get_by_role("switch", name="Enabled: api-errors"),
                page.get_by_role("button", name="Delete api-errors"),
            ]
            for control in controls:
                if allowed:
                    expect(control).to_be_enabled()
                    expect(control).not_to_have_attribute("title", NO_ADMIN)
                else:
                    expect(control).to_be_disabled()
                    expect(control).to_have_attribute("title", NO_ADMIN)
            if allowed:  # the admin key gets the editor the URL asked for
                expect(page.get_by_label(QUERY)).to_have_value("level:WARN")
                page.get_by_role("button", name="Cancel").click()
                expect(page).to_have_url(base + "/alerts")
                page.get_by_role("button", name="Edit api-errors").click()
                expect(page.get_by_label("Name")).to_have_value("api-errors")
                expect(page.get_by_label("Name")).to_have_attribute("readonly", "")
                expect(page.get_by_label(QUERY)).to_have_value("level:ERROR source:api")
            else:
                expect(page.locator(".rule-editor")).to_have_count(0)
                expect(page.locator(".live")).to_have_text(f"Creating a rule {NO_ADMIN}.")
            page.context.close()
            watch.check()


def test_narrow_screen_stacks_and_scrolls_tables(chromium: Browser) -> None:
    """At 390×844 each rule is a card of labelled lines (its count in view), the alerts table scrolls
    sideways inside its panel (the page itself does not), and an alert still expands to its samples."""
    batch = _batch(6, "api", matches=3)
    with LogAnalyticsEngine() as engine, served(engine) as base:
        engine.add_alert_rule(AlertRule(name="api-errors", query="level:ERROR source:api", threshold=3))
        engine.ingest_logs(batch.logs)
        page, watch = _open(chromium, base, viewport={"width": 390, "height": 844})
        row = _rule_row(page, "api-errors")
        expect(row.locator(".badge").first).to_have_text("firing")
        expect(row.locator(".count-text")).to_have_text(f"{len(batch.matching)} / 3")
        expect(row.locator(".count-text")).to_be_in_viewport()
        expect(row.get_by_role("button", name="Delete api-errors")).to_be_in_viewport()
        expect(page.get_by_role("heading", name="Rules")).to_be_visible()
        expect(page.get_by_role("heading", name="Recent alerts")).to_be_visible()
        expect(page.get_by_role("button", name="New rule")).to_be_in_viewport()
        alerts_region = page.get_by_role("region", name="Recent alerts table")
        assert alerts_region.evaluate("el => el.scrollWidth > el.clientWidth")
        rules_region = page.get_by_role("region", name="Rules table")
        assert rules_region.evaluate("el => el.scrollWidth <= el.clientWidth")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        alert = _alert_rows(page).first
        alert.locator(".alert-summary").click()
        expect(alert.locator(".samples-table tbody tr")).to_have_count(3)
        shot(page, "alerts-narrow")
        page.get_by_role("button", name="New rule").click()
        editor_width = page.locator(".rule-editor").evaluate("el => el.getBoundingClientRect().width")
        assert editor_width <= 390
        page.context.close()
    watch.check()


def test_dark_theme_follows_the_system(chromium: Browser) -> None:
    """With the system in dark mode the view draws on the dark background, a firing badge in the dark
    theme's danger colour."""
    batch = _batch(7, "api", matches=4)
    with LogAnalyticsEngine() as engine, served(engine) as base:
        engine.add_alert_rule(
            AlertRule(name="api-errors", query="level:ERROR source:api", threshold=3, labels={"team": "api"})
        )
        engine.ingest_logs(batch.logs)
        page, watch = _open(chromium, base, color_scheme="dark")
        badge = _rule_row(page, "api-errors").locator(".badge").first
        expect(badge).to_have_text("firing")
        expect(page.locator("body")).to_have_css("background-color", "rgb(18, 22, 28)")
        expect(badge).to_have_css("background-color", "rgb(255, 107, 96)")
        _alert_rows(page).first.locator(".alert-summary").click()
        expect(_alert_rows(page).first.locator(".samples-table tbody tr")).to_have_count(4)
        shot(page, "alerts-dark")
        page.context.close()
    watch.check()
