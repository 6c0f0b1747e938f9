"""What the engine's queries return (search, run, fields, hits), whichever store answered."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from log_analytics_engine.errors import QueryError
from log_analytics_engine.model import LogEntry
from log_analytics_engine.query.printer import field_text

# The most rows a query with pipes returns (a larger answer is refused, naming `| limit`).
MAX_RESULT_ROWS = 10_000


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


@dataclass
class FieldSummary:
    """One field: in how many of the sampled logs it has a value, its most frequent values, and
    `query`, the field as query text (`region`, `"k8s/pod"`, `metadata.level` for a metadata key
    named as a column): pasted before `:value`, it selects this field."""

    name: str
    count: int
    top: list[tuple[Any, int]] = field(default_factory=list)
    query: str = ""

    def __post_init__(self) -> None:
        self.query = self.query or field_text(self.name)


@dataclass
class FieldsResult:
    """The fields of the newest `sampled` matching logs (at most SAMPLE_LOGS), by name."""

    sampled: int
    fields: list[FieldSummary]


@dataclass
class HitsResult:
    """The step used and one row per non-empty bucket (and field value): `_time` (RFC 3339, the
    bucket's start), `hits`, and the field's value under its name when split by one."""

    step: str
    buckets: list[dict[str, Any]]
