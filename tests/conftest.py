"""Shared fixtures: in-memory and durable engines, a settable clock, a deterministic log generator and
Chromium for the UI tests."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from log_analytics_engine import LogAnalyticsEngine, LogEntry

if TYPE_CHECKING:
    from playwright.sync_api import Browser

NS = 1_000_000_000
# 2025-07-21T12:00:00Z, the time of the README's examples.
T0_S = 1_753_099_200
T0_NS = T0_S * NS

LEVELS = ("trace", "DEBUG", "debug", "INFO", "info", "Info", "WARN", "warning", "WARNING", "ERROR", "error")
LEVELS += ("critical", "FATAL", "CRITICAL", "notice")
SOURCES = ("api", "db", "auth", "cache", "web", "worker", "billing")
TAGS = ("api", "db", "payments", "critical", "tenant-a", "tenant-b", "eu", "us", "v2")
WORDS = (
    "connection",
    "failed",
    "timeout",
    "cache",
    "cached",
    "miss",
    "hit",
    "user",
    "login",
    "request",
    "database",
    "retry",
    "error",
    "warning",
    "disk",
    "full",
    "payment",
    "declined",
    "café",
    "naïve",
    "日本語",
    "42",
    "v2",
)
REGIONS = ("eu", "us", "ap")


def _format_time(ns: int, style: int) -> str | int | float | dt.datetime:
    """One of several accepted spellings of the same instant (ms precision, so every form is exact)."""
    ms = ns // 1_000_000
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    if style == 0:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    if style == 1:
        return when.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(timespec="milliseconds")
    if style == 2:  # naive, space separated, Python logging's comma fraction: UTC by definition
        return when.strftime("%Y-%m-%d %H:%M:%S,") + f"{ms % 1000:03d}"
    if style == 3:  # epoch milliseconds
        return ms
    if style == 4:
        return when
    if style == 5:  # whole seconds, 'Z'
        return when.strftime("%Y-%m-%dT%H:%M:%SZ") if ms % 1000 == 0 else when.isoformat()
    return str(ms)  # epoch ms as text


def generate_logs(n: int, seed: int = 0, start_ns: int = T0_NS, id_prefix: str = "r") -> list[LogEntry]:
    """`n` varied LogEntry objects, the same for the same seed; `request_id` is `{id_prefix}{i}`, unique.

    Levels include the aliases (warning, critical) in mixed case, timestamps come in several formats
    (ISO with Z or offset, naive with a comma, epoch ms, datetime), most logs have tags and metadata,
    and some share identical content with another log.
    """
    rnd = random.Random(seed)
    out: list[LogEntry] = []
    for i in range(n):
        if i > 0 and rnd.random() < 0.03:
            # identical content (time, level, message, source) with an earlier log, different tags
            twin = out[rnd.randrange(len(out))]
            out.append(
                LogEntry(
                    twin.timestamp,
                    twin.level,
                    twin.message,
                    twin.source,
                    request_id=f"{id_prefix}{i}",
                    tags=[rnd.choice(TAGS)],
                )
            )
            continue
        ts = start_ns + rnd.randrange(0, 3 * 3600 * 1000) * 1_000_000
        words = rnd.sample(WORDS, rnd.randint(2, 6))
        if rnd.random() < 0.3:
            words[0] = words[0].upper()
        message = " ".join(words)
        if rnd.random() < 0.2:
            message += f", code={rnd.randint(1, 5)}"
        meta: dict[str, object] = {}
        if rnd.random() < 0.7:
            meta["region"] = rnd.choice(REGIONS)
        if rnd.random() < 0.5:
            meta["duration_ms"] = rnd.randint(1, 20)
        if rnd.random() < 0.2:
            meta["host"] = f"h{rnd.randint(1, 4)}"
        out.append(
            LogEntry(
                _format_time(ts, rnd.randrange(7)),
                rnd.choice(LEVELS),
                message,
                source=rnd.choice(SOURCES) if rnd.random() < 0.9 else "",
                thread_id=f"t{rnd.randint(1, 4)}" if rnd.random() < 0.5 else None,
                request_id=f"{id_prefix}{i}",
                user_id=f"u{rnd.randint(1, 30)}" if rnd.random() < 0.6 else None,
                tags=rnd.sample(TAGS, rnd.randint(0, 3)),
                metadata=meta,
            )
        )
    return out


@pytest.fixture
def make_logs() -> Callable[..., list[LogEntry]]:
    """The deterministic log generator (`generate_logs`)."""
    return generate_logs


@pytest.fixture
def engine() -> Iterator[LogAnalyticsEngine]:
    """An in-memory engine, closed after the test."""
    eng = LogAnalyticsEngine()
    yield eng
    eng.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory path (not created yet)."""
    return tmp_path / "data"


@pytest.fixture
def durable_engine(data_dir: Path) -> Iterator[LogAnalyticsEngine]:
    """An engine storing in a temporary directory, closed after the test."""
    eng = LogAnalyticsEngine(data_dir)
    yield eng
    eng.close()


class Clock:
    """A settable clock for `LogAnalyticsEngine(clock=...)`: call it for the time, set `.now` to move it."""

    def __init__(self, now: float = T0_S) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    """A clock frozen at 2025-07-21T12:00:00Z until moved."""
    return Clock()


def entry_at(
    seconds: float, level: str = "INFO", message: str = "something happened", **kw: object
) -> LogEntry:
    """A log whose event time is `seconds` after the epoch (float seconds)."""
    return LogEntry(dt.datetime.fromtimestamp(seconds, dt.UTC), level, message, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium (headless, driven by Playwright) for one test module's pages."""
    from playwright.sync_api import sync_playwright  # loaded only by the modules with a browser

    from browser import launch

    with sync_playwright() as playwright:
        found = launch(playwright)
        yield found
        found.close()
