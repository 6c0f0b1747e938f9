"""Retention: logs are kept by age (`retention = "30d"`) and the store by size (`max_disk = "20GB"`),
whole event days at a time (UTC), the oldest first; applied when the engine opens and then every
RETENTION_SECONDS on a background thread, for any Store (`days`, `drop_days`, `disk_usage`).

A day goes once all of it is older than the age: with 30d, a log stays 30 to 31 days. The size bound
drops the oldest days until the store's live data fits, but never the newest day holding logs (a
single day larger than the bound is reported, not emptied). Logs with future times count as their
own days and go last.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from log_analytics_engine import bytesize
from log_analytics_engine.errors import ConfigError, LogAnalyticsError
from log_analytics_engine.periodic import Periodic
from log_analytics_engine.storage.base import DAY_NS, Store

log = logging.getLogger(__name__)
RETENTION_SECONDS = 60.0
_AGE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_AGE_NS = {"h": 3_600 * 10**9, "d": DAY_NS, "w": 7 * DAY_NS}


def parse_age(text: str, setting: str = "retention") -> int:
    """An age like `30d`, `12h` or `2w` in ns; a ConfigError naming `setting` otherwise."""
    match = _AGE.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise ConfigError(f"{setting} must be a positive number of h, d or w (like 30d), got {text!r}")
    return int(match.group(1)) * _AGE_NS[match.group(2)]


def parse_size(text: str, setting: str = "max_disk") -> int:
    """A size like `20GB`, `512MiB` (bytesize.py's units) or a plain number of bytes; a ConfigError
    naming `setting` otherwise."""
    size = int(text) if text.strip().isdigit() else bytesize.parse_size(text, setting)
    if size <= 0:
        raise ConfigError(f"{setting} must be positive, got {text!r}")
    return size


@dataclass(frozen=True)
class RetentionPolicy:
    """How long logs are kept (ns) and how many bytes the store may hold; None: no bound."""

    max_age_ns: int | None = None
    max_disk_bytes: int | None = None

    @classmethod
    def of(cls, retention: str | None, max_disk: str | None) -> RetentionPolicy:
        """The policy of the settings' texts (None: that bound is off)."""
        return cls(
            None if retention is None else parse_age(retention),
            None if max_disk is None else parse_size(max_disk),
        )

    def __bool__(self) -> bool:
        return self.max_age_ns is not None or self.max_disk_bytes is not None


class Retention:
    """Applies a policy to a store and counts what it dropped; `after_drop(logs)` follows each drop
    (the engine re-reads its alert windows)."""

    def __init__(
        self,
        store: Store,
        policy: RetentionPolicy,
        clock: Callable[[], float],
        after_drop: Callable[[int], None] = lambda dropped: None,
    ) -> None:
        self._store = store
        self._after_drop = after_drop
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()  # one pass at a time
        self.runs = 0
        self.dropped_days = 0
        self.dropped_logs = 0
        self.last_run: float | None = None
        self.last_seconds = 0.0
        self.last_error: str | None = None
        self.over_disk = False
        self._per_log = 0.0  # bytes per log, as last measured
        self._free = 0.0  # bytes freed by drops and not yet reused
        self._rows_after: int | None = None  # logs held after the last pass

    def apply(self) -> int:
        """One pass: drop the days past the age, then the oldest days while the store is over its
        size; how many logs went."""
        if not self.policy:
            return 0
        with self._lock:
            started = time.perf_counter()
            days = self._store.days()  # (day, logs), oldest first
            doomed: list[int] = []
            if self.policy.max_age_ns is not None:
                horizon = int(self._clock() * 10**9) - self.policy.max_age_ns
                doomed = [day for day, _ in days if (day + 1) * DAY_NS <= horizon]
            gone = set(doomed)
            kept = [(day, n) for day, n in days if day not in gone]
            self.over_disk = False
            total = sum(n for _, n in days)
            per_log = 0.0
            if self.policy.max_disk_bytes is not None and kept:
                per_log = self._bytes_per_log(total)
                live = per_log * sum(n for _, n in kept)
                while live > self.policy.max_disk_bytes and len(kept) > 1:
                    day, n = kept.pop(0)
                    doomed.append(day)
                    live -= per_log * n
                self.over_disk = live > self.policy.max_disk_bytes
            dropped = self._store.drop_days(sorted(doomed)) if doomed else 0
            # the space of dropped logs stays in the files (blocks of partly deleted row groups, index
            # segments until merged) and is reused by the writes after: counted free until then
            self._free += per_log * dropped
            self._rows_after = total - dropped
            self.runs += 1
            self.dropped_days += len(doomed)
            self.dropped_logs += dropped
            self.last_run = self._clock()
            self.last_seconds = time.perf_counter() - started
            self.last_error = None
        if doomed:
            log.info("retention dropped %d logs of %d days", dropped, len(doomed))
            self._after_drop(dropped)
        return dropped

    def _bytes_per_log(self, total: int) -> float:
        """The store's bytes per log: measured (`disk_usage` / logs) unless space freed by earlier
        drops is still unused, when the measure taken before those drops stands (DuckDB's used
        blocks do not fall when a delete leaves row groups partly full: measured anew, each pass
        would drop more days)."""
        if self._rows_after is not None:  # the writes since the last pass fill freed space first
            added = max(0, total - self._rows_after)
            self._free = max(0.0, self._free - added * self._per_log)
        if self._free <= 0 or self._per_log == 0:
            self._free = 0.0
            self._per_log = self._store.disk_usage() / max(total, 1)
        return self._per_log

    def status(self) -> dict[str, Any]:
        """The policy and what it did: runs, days and logs dropped, the last run's time (epoch
        seconds) and duration, the last error while failing, and whether the newest day alone
        is over the size bound."""
        return {
            "max_age_seconds": None if self.policy.max_age_ns is None else self.policy.max_age_ns / 10**9,
            "max_disk_bytes": self.policy.max_disk_bytes,
            "runs": self.runs,
            "dropped_days": self.dropped_days,
            "dropped_logs": self.dropped_logs,
            "last_run": self.last_run,
            "last_seconds": self.last_seconds,
            "last_error": self.last_error,
            "over_disk": self.over_disk,
        }


def _pass_failed(retention: Retention, exc: Exception) -> None:
    retention.last_error = str(exc)  # the store refused (a full disk, closed): the next pass retries
    log.error("retention pass failed: %s", exc)


def retention_worker(retention: Retention) -> Periodic[Retention]:
    """A thread running `retention.apply()` every RETENTION_SECONDS (Periodic: start, stop)."""
    return Periodic(
        retention,
        Retention.apply,
        RETENTION_SECONDS,
        "log-analytics-retention",
        _pass_failed,
        (LogAnalyticsError,),
    )
