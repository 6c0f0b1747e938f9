"""What `engine.search` and `engine.run` return."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from log_analytics_engine.errors import QueryError
from log_analytics_engine.model import LogEntry


@dataclass
class SearchResult:
    """A page of logs (newest first), how many match in all, and the next page's cursor (None at the end)."""

    logs: list[LogEntry]
    total: int
    cursor: str | None = None


@dataclass
class QueryResult:
    """The columns (names, in order) and rows (dicts keyed by those names) of a query, and
    warnings about what it left out (e.g. non-numeric values skipped by `avg`)."""

    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def encode_cursor(ts: int, seq: int) -> str:
    """An opaque cursor for the position just after the log (ts, seq) in newest-first order."""
    return base64.urlsafe_b64encode(f"{ts}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """The (ts, seq) a cursor points after; QueryError for a cursor this engine did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, seq = text.split(":")
        return int(ts), int(seq)
    except (ValueError, UnicodeDecodeError) as exc:
        raise QueryError(f"invalid cursor {cursor!r}") from exc
