"""Alert rules and fired alerts, with the original fields and a lossless dict form."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from log_analytics_engine.alerting.records import alert_time, sample_entry, time_text
from log_analytics_engine.errors import ConfigError, QueryError
from log_analytics_engine.model import LogEntry
from log_analytics_engine.query.ast import And, Node, Not, Or, RelativeTime, conjoin
from log_analytics_engine.query.dictfilters import compile_filters
from log_analytics_engine.query.parser import parse_filter

# Alertmanager's label names (Prometheus data model)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FIRING = "firing"
MAX_WINDOW_SECONDS = 366 * 86_400
RESOLVED = "resolved"


class AlertSeverity(Enum):
    """How bad an alert is."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(eq=False)
class AlertRule:
    """Fire when `threshold` logs matching `conditions` (dict filters) and/or `query` (query-language
    filter text) have event times within the last `time_window` s. `labels` and `annotations` are
    free key/values that travel with every alert of the rule."""

    name: str
    description: str = ""
    conditions: dict[str, Any] = field(default_factory=dict)
    severity: AlertSeverity = AlertSeverity.MEDIUM
    threshold: int = 1
    time_window: int = 300
    cooldown: int = 600
    enabled: bool = True
    last_triggered: float | None = None
    query: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    filter: Node = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("alert rule needs a name")
        numbers = (
            ("threshold", self.threshold),
            ("time_window", self.time_window),
            ("cooldown", self.cooldown),
        )
        for name, value in numbers:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"rule {self.name!r}: {name} must be a finite number, got {value!r}")
        if self.time_window > MAX_WINDOW_SECONDS:
            raise ConfigError(
                f"rule {self.name!r}: time_window must be at most {MAX_WINDOW_SECONDS} s (a year), "
                f"got {self.time_window}"
            )
        if isinstance(self.severity, str):
            try:
                self.severity = AlertSeverity(self.severity.lower())
            except ValueError as exc:
                raise ConfigError(f"rule {self.name!r}: unknown severity {self.severity!r}") from exc
        if not isinstance(self.severity, AlertSeverity):
            known = ", ".join(s.value for s in AlertSeverity)
            raise ConfigError(f"rule {self.name!r}: severity must be one of {known}, got {self.severity!r}")
        if int(self.threshold) < 1:
            raise ConfigError(f"rule {self.name!r}: threshold must be at least 1, got {self.threshold}")
        if self.time_window <= 0:
            raise ConfigError(f"rule {self.name!r}: time_window must be positive, got {self.time_window}")
        if self.cooldown < 0:
            raise ConfigError(f"rule {self.name!r}: cooldown must not be negative, got {self.cooldown}")
        for kind, pairs in (("labels", self.labels), ("annotations", self.annotations)):
            if not isinstance(pairs, dict):
                raise ConfigError(f"rule {self.name!r}: {kind} must be a mapping, got {pairs!r}")
            for key, text in pairs.items():
                if not isinstance(key, str) or not _LABEL_NAME.fullmatch(key):
                    raise ConfigError(
                        f"rule {self.name!r}: {kind} name {key!r} must match [a-zA-Z_][a-zA-Z0-9_]*"
                    )
                if not isinstance(text, str):
                    raise ConfigError(f"rule {self.name!r}: {kind} {key!r} must be text, got {text!r}")
        parts = [compile_filters(self.conditions or {})]
        if self.query:
            try:
                node = parse_filter(self.query)
            except QueryError as exc:
                raise ConfigError(f"rule {self.name!r}: query: {exc}") from exc
            if _has_relative_time(node):
                raise ConfigError(
                    f"rule {self.name!r}: query: a relative time (_time:15m) has no meaning in a rule; "
                    "the rule's time_window is its window"
                )
            parts.append(node)
        self.filter = conjoin(parts)

    def to_dict(self) -> dict[str, Any]:
        """The rule's settings as plain data (the rules-file schema)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "severity": self.severity.value,
            "threshold": self.threshold,
            "time_window": self.time_window,
            "cooldown": self.cooldown,
            "enabled": self.enabled,
        }
        if self.conditions or not self.query:  # a rule of neither matches every log: say so
            out["conditions"] = dict(self.conditions)
        if self.query:
            out["query"] = self.query
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def should_trigger(self, count: int, current_time: float) -> bool:
        """True when enabled, `count` reaches the threshold and the cooldown since the last firing is over."""
        if not self.enabled or count < self.threshold:
            return False
        return self.last_triggered is None or current_time - self.last_triggered >= self.cooldown


@dataclass(eq=False)
class Alert:
    """One firing of a rule, with up to 5 sample logs (`LogEntry` objects, oldest first) and its
    firing time `triggered_at` (a timezone-aware UTC datetime). `status` is "firing" until the
    rule's window drops back under its threshold, then "resolved" with `resolved_at` set. `labels`,
    `annotations` and `query` come from the rule; `window` is its time window in seconds.

    Built by hand, `triggered_at`/`resolved_at` may also be epoch seconds or time text, `severity`
    its text, and sample logs dicts or the original engine's repr text: they are converted."""

    rule_name: str
    message: str
    severity: AlertSeverity
    triggered_at: dt.datetime
    count: int
    sample_logs: list[LogEntry] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str = FIRING
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    query: str | None = None
    window: float | None = None
    resolved_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        self.severity = severity_from(self.severity)
        self.triggered_at = alert_time(self.triggered_at)
        if self.resolved_at is not None:
            self.resolved_at = alert_time(self.resolved_at)
        if not all(isinstance(s, LogEntry) for s in self.sample_logs):  # else the list is kept: a
            self.sample_logs = [sample_entry(s) for s in self.sample_logs]  # resolved copy shares it

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (times as RFC 3339 UTC text, samples as `LogEntry.to_dict()`);
        `Alert.from_dict` gives back an equal alert."""
        return {
            "rule_name": self.rule_name,
            "message": self.message,
            "severity": self.severity.value,
            "triggered_at": time_text(self.triggered_at),
            "count": self.count,
            "sample_logs": [s.to_dict() for s in self.sample_logs],
            "metadata": dict(self.metadata),
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "query": self.query,
            "window": self.window,
            "resolved_at": None if self.resolved_at is None else time_text(self.resolved_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """Rebuild an alert from `to_dict` output, or from a line the original engine persisted
        (severity `AlertSeverity.HIGH`, `str(datetime)` time, samples as repr text)."""
        return cls(
            rule_name=data["rule_name"],
            message=data["message"],
            severity=severity_from(data["severity"]),
            triggered_at=alert_time(data["triggered_at"]),
            count=int(data["count"]),
            sample_logs=[sample_entry(s) for s in data.get("sample_logs") or []],
            metadata=dict(data.get("metadata") or {}),
            status=str(data.get("status") or FIRING),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
            query=data.get("query"),
            window=None if data.get("window") is None else float(data["window"]),
            resolved_at=None if data.get("resolved_at") is None else alert_time(data["resolved_at"]),
        )

    def key(self) -> tuple[str, dt.datetime, int]:
        """Identity used to de-duplicate alerts loaded from files."""
        return (self.rule_name, self.triggered_at, self.count)

    def __str__(self) -> str:
        return f"[{self.severity.value.upper()}] {self.message} at {self.triggered_at.isoformat()}"


def severity_from(value: object) -> AlertSeverity:
    """A severity from the enum, its value (`"high"`) or the original's persisted `AlertSeverity.HIGH`."""
    if isinstance(value, AlertSeverity):
        return value
    text = str(value)
    if text.startswith("AlertSeverity."):
        text = text.split(".", 1)[1]
    try:
        return AlertSeverity(text.lower())
    except ValueError:
        known = ", ".join(s.value for s in AlertSeverity)
        raise ValueError(f"unknown severity {value!r}; known: {known}") from None


def _has_relative_time(node: Node) -> bool:
    if isinstance(node, RelativeTime):
        return True
    if isinstance(node, And | Or):
        return any(_has_relative_time(i) for i in node.items)
    if isinstance(node, Not):
        return _has_relative_time(node.item)
    return False
