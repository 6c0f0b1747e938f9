"""Summary statistics of the store (`get_stats`), computed in SQL; the distinct-word count is cached."""

from __future__ import annotations

import threading
import time
from typing import Any

from log_analytics_engine.storage.embedded.store import EmbeddedStore

# Counting distinct words scans every message (~1 s per 1M logs): refresh it at most this often
# once the store is large; small stores are always exact.
KEYWORDS_REFRESH_SECONDS = 30.0
KEYWORDS_EXACT_BELOW = 200_000
_KEYWORDS_SQL = r"""
SELECT count(DISTINCT w) FROM (
    SELECT unnest(regexp_extract_all(lower(message), '[\pL\pN]+')) AS w FROM logs
)
"""


class StatsReader:
    """Counts by level, source and tag, totals and the distinct-word count."""

    def __init__(self, store: EmbeddedStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._keywords: tuple[int, float, int] | None = None  # (total it was computed at, when, value)

    def _pairs(self, sql: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in self._store.rows(sql)}

    def keywords(self, total: int) -> int:
        """Distinct words across all messages (cached; see KEYWORDS_REFRESH_SECONDS)."""
        with self._lock:
            cached = self._keywords
        now = time.monotonic()
        if cached is not None and (
            cached[0] == total
            or (total >= KEYWORDS_EXACT_BELOW and now - cached[1] < KEYWORDS_REFRESH_SECONDS)
        ):
            return cached[2]
        row = self._store.row(_KEYWORDS_SQL)
        value = int(row[0] if row else 0)
        with self._lock:
            self._keywords = (total, now, value)
        return value

    def summary(self) -> dict[str, Any]:
        """`total_logs`, `levels`, `sources`, `tags`, `keywords` (the original keys) plus time bounds, and
        the logs deleted in all, and the opens that accepted missing committed logs (`recover`) with how
        many seqs they gave up."""
        row = self._store.row("SELECT count(*), min(ts), max(ts) FROM logs")
        total = int(row[0]) if row else 0
        mark = self._store.commit_mark
        return {
            "total_logs": total,
            "levels": self._pairs("SELECT level, count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC, 1"),
            "sources": self._pairs("SELECT source, count(*) FROM logs GROUP BY 1 ORDER BY 2 DESC, 1"),
            "tags": self._pairs(
                "SELECT t, count(*) FROM (SELECT unnest(tags) AS t FROM logs) GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            "keywords": self.keywords(total),
            "oldest_ns": None if row is None or row[1] is None else int(row[1]),
            "newest_ns": None if row is None or row[2] is None else int(row[2]),
            "deleted_logs": self._store.deleted_logs,
            "store_recoveries": 0 if mark is None else mark.recoveries,
            "store_lost_seqs": 0 if mark is None else mark.lost,
        }
