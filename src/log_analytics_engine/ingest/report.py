"""What an ingest did, as one dataclass every edge renders its own way (the library's dict, the
native HTTP answer, an Elasticsearch `_bulk` item list, an OTLP partial success).

A decoder (bytes in) returns a `Decoded`: the Arrow table of the stored columns and the report of
what it could not take; the engine's one ingest entry fills in what was stored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from log_analytics_engine.model import INGEST_SCHEMA

# Rejections listed by position (all are counted): 4M rejected items once made a 1.4 GB answer.
MAX_LISTED = 1_000


@dataclass(frozen=True)
class Rejection:
    """An item of the input that was not stored: its 0-based position there (line, document,
    record or frame), why, and a short reason code (the `reason` label of the metrics)."""

    position: int
    reason: str
    code: str = "invalid"
    file: str | None = None  # in a directory ingest, the file it is in


@dataclass
class IngestReport:
    """Accepted (stored durably before the report exists), rejected (the first MAX_LISTED by
    position, all of them counted, by code), dropped by pre-ingest hooks, stored without a time of
    their own (the ingest time given), the input's bytes and its lines that were not UTF-8."""

    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    rejected_count: int = 0
    rejected_by: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    no_timestamp: int = 0
    bytes: int = 0
    replaced_utf8_lines: int = 0  # lines holding bytes that are not UTF-8 (replaced with U+FFFD)
    max_listed: int = field(default=MAX_LISTED, repr=False)

    def reject(self, position: int, reason: str, code: str = "invalid") -> None:
        """Count a rejection, listing it while fewer than `max_listed` are."""
        self.rejected_count += 1
        self.rejected_by[code] += 1
        if len(self.rejected) < self.max_listed:
            self.rejected.append(Rejection(position, reason, code))

    def add(self, other: IngestReport, offset: int = 0) -> None:
        """Fold `other` (of a later part of the same input, its positions from `offset`) into this."""
        self.accepted += other.accepted
        self.dropped += other.dropped
        self.no_timestamp += other.no_timestamp
        self.bytes += other.bytes
        self.replaced_utf8_lines += other.replaced_utf8_lines
        self.rejected_count += other.rejected_count
        self.rejected_by.update(other.rejected_by)
        room = self.max_listed - len(self.rejected)
        self.rejected += [
            Rejection(r.position + offset, r.reason, r.code, r.file) for r in other.rejected[: max(room, 0)]
        ]

    def sorted_rejections(self) -> list[Rejection]:
        """The listed rejections by position."""
        return sorted(self.rejected, key=lambda r: r.position)

    def to_lines(self) -> dict[str, Any]:
        """The library's report of lines ingested from memory (a file report's keys): `count`,
        `rejected` and `rejected_lines` numbered from 1."""
        return {
            "count": self.accepted,
            "dropped": self.dropped,
            "bad_timestamps": self.no_timestamp,
            "rejected": self.rejected_count,
            "rejected_lines": [
                {"line": r.position + 1, "reason": r.reason} for r in self.sorted_rejections()
            ],
            "bytes": self.bytes,
            "replaced_utf8_lines": self.replaced_utf8_lines,
        }

    def to_answer(self) -> dict[str, Any]:
        """The native API's answer (`/api/v1/logs`): accepted, rejected with their index, the count."""
        return {
            "accepted": self.accepted,
            "rejected": [{"index": r.position, "reason": r.reason} for r in self.sorted_rejections()],
            "rejected_count": self.rejected_count,
            "dropped": self.dropped,
        }


@dataclass
class Decoded:
    """A decoder's output: the stored columns (model.INGEST_SCHEMA) of what it read, and the report
    of what it could not (rejections, logs without a time of their own, the input's bytes)."""

    table: pa.Table
    report: IngestReport = field(default_factory=IngestReport)

    @classmethod
    def empty(cls, report: IngestReport | None = None) -> Decoded:
        """Nothing to store (every item rejected, or none given)."""
        return cls(INGEST_SCHEMA.empty_table(), report or IngestReport())
