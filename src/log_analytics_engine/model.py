"""The log record (`LogEntry`), level normalisation and severity, and the stored column schema."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from log_analytics_engine import jsontext
from log_analytics_engine.timeparse import TimestampError, datetime_of, format_timestamp, parse_timestamp

# The dialects of level words fold onto these; a word that is no level anyone writes is kept
# (upper-cased) and scores as INFO. NOTICE stays its own level (syslog users search for it).
SEVERITY: Mapping[str, int] = {
    "TRACE": 0,
    "DEBUG": 10,
    "INFO": 20,
    "NOTICE": 20,
    "WARN": 30,
    "ERROR": 40,
    "FATAL": 50,
}
_DIALECTS: Mapping[str, tuple[str, ...]] = {
    # glog/klog, logcat and others write one letter; Java's util.logging writes FINE..SEVERE
    "TRACE": ("T", "TRC", "TRACE", "FINER", "FINEST", "VERBOSE", "V", "ALL"),
    "DEBUG": ("D", "DBG", "DEBUG", "FINE", "CONFIG", "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5"),
    "INFO": ("I", "INF", "INFO", "INFORMATION", "INFORMATIONAL", "LOG"),
    "NOTICE": ("N", "NOTICE"),
    "WARN": ("W", "WRN", "WARN", "WARNING", "WARNINGS"),
    "ERROR": ("E", "ERR", "ERROR", "ERRORS", "SEVERE", "FAIL", "FAILURE"),
    "FATAL": ("F", "FTL", "FATAL", "CRIT", "CRITICAL", "ALERT", "A", "EMERG", "EMERGENCY", "PANIC"),
}
LEVEL_ALIASES: Mapping[str, str] = {
    word: level for level, words in _DIALECTS.items() for word in words if word != level
}
DEFAULT_SEVERITY = 20
DEFAULT_LEVEL = "INFO"

# The optional string columns of the original LogEntry, stored as their own columns.
ID_FIELDS = ("thread_id", "request_id", "user_id")
# Every column of the store, in order; `ts` is the event time (`_time`/`timestamp` in queries).
STORED_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("ts", pa.int64()),
        ("ingested_at", pa.int64()),
        ("level", pa.string()),
        ("severity", pa.int16()),
        ("source", pa.string()),
        ("message", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("thread_id", pa.string()),
        ("request_id", pa.string()),
        ("user_id", pa.string()),
        ("metadata", pa.string()),
    ]
)
COLUMNS = tuple(STORED_SCHEMA.names)
# What an ingest hands the store: every column but `seq`, which the store assigns.
INGEST_SCHEMA = pa.schema([f for f in STORED_SCHEMA if f.name != "seq"])
# Field names a user may sort or filter by, mapped to their column.
FIELD_COLUMNS: Mapping[str, str] = {
    "timestamp": "ts",
    "_time": "ts",
    "ts": "ts",
    "ingested_at": "ingested_at",
    "level": "level",
    "severity": "severity",
    "severity_score": "severity",
    "source": "source",
    "message": "message",
    "tags": "tags",
    "thread_id": "thread_id",
    "request_id": "request_id",
    "user_id": "user_id",
    "seq": "seq",
}
_TOKEN = re.compile(r"[^\W_]+")


def normalize_level(level: object) -> str:
    """Upper-case a level and fold its dialects (`Err`, `E`, `SEVERE` -> ERROR, `crit` -> FATAL)."""
    if level is None:
        return DEFAULT_LEVEL
    text = str(level).strip().upper()
    if not text:
        return DEFAULT_LEVEL
    return LEVEL_ALIASES.get(text, text)


def severity_of(level: str) -> int:
    """The numeric severity of a normalised level; unknown levels score as INFO."""
    return SEVERITY.get(level, DEFAULT_SEVERITY)


def tokenize(text: str) -> list[str]:
    """Split text into the lower-case words the text index holds: runs of letters and digits."""
    return _TOKEN.findall(text.lower())


class LogEntry:
    """One log record. Every entry is distinct: equality is identity, never content."""

    __slots__ = (
        "_level",
        "_timestamp_ns",
        "ingested_at_ns",
        "message",
        "metadata",
        "request_id",
        "seq",
        "source",
        "tags",
        "thread_id",
        "user_id",
    )

    def __init__(
        self,
        timestamp: str | int | float | dt.datetime | None,
        level: str,
        message: str,
        source: str = "",
        thread_id: str | None = None,
        request_id: str | None = None,
        user_id: str | None = None,
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        parsed_time: dt.datetime | None = None,
        *,
        seq: int | None = None,
        ingested_at_ns: int | None = None,
    ) -> None:
        self.message = "" if message is None else str(message)
        self.source = "" if source is None else str(source)
        self.thread_id = None if thread_id is None else str(thread_id)
        self.request_id = None if request_id is None else str(request_id)
        self.user_id = None if user_id is None else str(user_id)
        self.tags: list[str] = [str(t) for t in tags] if tags else []
        self.metadata: dict[str, Any] = dict(metadata) if metadata else {}
        self.seq = seq
        self.ingested_at_ns = ingested_at_ns
        self._level = normalize_level(level)
        self._timestamp_ns: int | None = None
        self.timestamp = timestamp
        if parsed_time is not None:  # the original's field: the event time, over the text's
            self._timestamp_ns = parse_timestamp(parsed_time)

    @classmethod
    def from_stored(cls, row: Sequence[Any]) -> LogEntry:
        """Build an entry from a stored row (a tuple in STORED_SCHEMA column order), parsing nothing
        but the metadata JSON."""
        (
            seq,
            ts,
            ingested_at,
            level,
            _severity,
            source,
            message,
            tags,
            thread_id,
            request_id,
            user_id,
            meta,
        ) = row
        entry = cls.__new__(cls)
        entry._timestamp_ns = ts
        entry._level = level
        entry.message = message
        entry.source = source
        entry.thread_id = thread_id
        entry.request_id = request_id
        entry.user_id = user_id
        entry.tags = list(tags or ())
        entry.metadata = jsontext.loads(meta) if meta else {}
        entry.seq = seq
        entry.ingested_at_ns = ingested_at
        return entry

    @property
    def timestamp(self) -> str:
        """Event time as RFC 3339 UTC text (the raw value when it could not be parsed and not yet stored)."""
        if self._timestamp_ns is None:
            return str(self.metadata.get("timestamp_raw", ""))
        return format_timestamp(self._timestamp_ns)

    @timestamp.setter
    def timestamp(self, value: str | int | float | dt.datetime | None) -> None:
        if value is None or value == "":
            self._timestamp_ns = time.time_ns()
            return
        try:
            self._timestamp_ns = parse_timestamp(value)
        except TimestampError:
            # Kept, not replaced silently: the store sets the time at ingest and counts the error.
            self._timestamp_ns = None
            self.metadata["timestamp_raw"] = str(value)
        else:
            self.metadata.pop("timestamp_raw", None)

    @property
    def timestamp_ns(self) -> int | None:
        """Event time in nanoseconds since the epoch (UTC); None while an unparseable time awaits ingest."""
        return self._timestamp_ns

    @property
    def parsed_time(self) -> dt.datetime | None:
        """Event time as a timezone-aware UTC datetime (microseconds); None while an unparseable time
        awaits ingest."""
        return None if self._timestamp_ns is None else datetime_of(self._timestamp_ns)

    @parsed_time.setter
    def parsed_time(self, value: dt.datetime) -> None:
        self._timestamp_ns = parse_timestamp(value)

    @property
    def level(self) -> str:
        """The normalised level (upper case; WARNING -> WARN, CRITICAL -> FATAL)."""
        return self._level

    @level.setter
    def level(self, value: str) -> None:
        self._level = normalize_level(value)

    @property
    def severity_score(self) -> int:
        """TRACE 0, DEBUG 10, INFO 20, WARN 30, ERROR 40, FATAL 50; unknown levels 20."""
        return severity_of(self._level)

    @property
    def age_seconds(self) -> float:
        """Seconds between the event time and now (negative for a time in the future)."""
        if self._timestamp_ns is None:
            return 0.0
        return (time.time_ns() - self._timestamp_ns) / 1e9

    def matches_filter(self, filters: Mapping[str, Any]) -> bool:
        """True when this entry satisfies the filter dict, with the same meaning as `query_logs`."""
        from log_analytics_engine.query.dictfilters import compile_filters
        from log_analytics_engine.query.evaluate import evaluate

        return evaluate(compile_filters(filters), self)

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain JSON-ready data; `LogEntry(**d)` rebuilds an equal-content entry."""
        return {
            "timestamp": self.timestamp,
            "level": self._level,
            "message": self.message,
            "source": self.source,
            "thread_id": self.thread_id,
            "request_id": self.request_id,
            "user_id": self.user_id,
            "tags": list(self.tags),
            "metadata": dict(self.metadata),
        }

    def __repr__(self) -> str:
        return (
            f"LogEntry(timestamp={self.timestamp!r}, level={self._level!r}, source={self.source!r}, "
            f"message={self.message[:80]!r})"
        )
