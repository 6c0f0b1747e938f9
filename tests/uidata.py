"""Generated logs with known answers for the web UI's browser tests: fixed times just before `now`
(so relative ranges hold them), a few sources and levels, words to search for, metadata values that
need quoting, messages that need CSV quoting and one that looks like HTML. The expected answers are
computed here from the generated data, never asked of the engine."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.model import LogEntry

SOURCES = ("api", "db", "web", "auth")
LEVELS = ("INFO",) * 6 + ("WARN", "WARN", "ERROR", "DEBUG")
REGIONS = ("eu", 'eu "west"', "us\\east", "ap")
HTML_MESSAGE = "<img src=x onerror=alert(1)> looks like html"
CSV_MESSAGE = 'payment said "no", retrying\nsecond line'


@dataclass(frozen=True)
class Log:
    """What a test needs to know of a generated log."""

    time: dt.datetime
    level: str
    source: str
    message: str
    region: str

    def entry(self) -> LogEntry:
        return LogEntry(
            self.time, self.level, self.message, source=self.source, metadata={"region": self.region}
        )

    @property
    def iso_ms(self) -> str:
        """The time as the UI shows it: `2025-07-21 12:00:00.123`."""
        return self.time.strftime("%Y-%m-%d %H:%M:%S.") + f"{self.time.microsecond // 1000:03d}"


def _message(i: int, rng: random.Random) -> str:
    kind = i % 10
    if kind == 0:
        return f"request {i} timeout after {rng.randint(100, 9000)} ms"
    if kind == 1:
        return f"connection refused by db-{rng.randint(1, 3)}"
    if kind == 2 and i % 20 == 2:
        return CSV_MESSAGE
    if kind == 3 and i % 100 == 3:
        return HTML_MESSAGE
    if kind in (4, 5):
        return f"user {rng.randint(1, 500)} logged in"
    return f"GET /api/items/{i} 200 in {rng.randint(1, 300)} ms"


def make_logs(now: dt.datetime, n: int = 1200, spacing_s: float = 2.5, seed: int = 7) -> list[Log]:
    """`n` logs, newest first, the newest 5 s before `now` and then one every `spacing_s` seconds
    (plus under a second of jitter, so times are distinct and not on round seconds)."""
    rng = random.Random(seed)
    logs = []
    for i in range(n):
        offset = 5 + i * spacing_s + rng.randint(1, 900) / 1000
        time = (now - dt.timedelta(seconds=offset)).replace(microsecond=0) + dt.timedelta(
            milliseconds=rng.randint(0, 999)
        )
        logs.append(Log(time, rng.choice(LEVELS), rng.choice(SOURCES), _message(i, rng), rng.choice(REGIONS)))
    logs.sort(key=lambda log: log.time, reverse=True)
    return logs


def ingest(engine: LogAnalyticsEngine, logs: Iterable[Log]) -> None:
    """Store `logs` (oldest first, as a shipper would send them) and index them."""
    engine.ingest_logs([log.entry() for log in sorted(logs, key=lambda log: log.time)])
    engine.flush()


def words(text: str) -> list[str]:
    """The words of a message as the query language sees them (whole tokens, any case)."""
    return re.findall(r"[^\W]+", text.lower())


def matching(logs: Iterable[Log], keep: Callable[[Log], bool]) -> list[Log]:
    """The logs `keep` selects, newest first (the UI's order)."""
    return [log for log in logs if keep(log)]


def between(start: dt.datetime, end: dt.datetime) -> Callable[[Log], bool]:
    """A range with both bounds included, as the search API reads start/end."""
    return lambda log: start <= log.time <= end


def parse_iso(text: str) -> dt.datetime:
    """An RFC 3339 time from the URL (`2025-07-21T12:00:00Z`)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
