"""Alert rules and fired alerts, with the original fields and a lossless dict form."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from log_analytics_engine.errors import ConfigError
from log_analytics_engine.query.ast import Node
from log_analytics_engine.query.dictfilters import compile_filters


class AlertSeverity(Enum):
    """How bad an alert is."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(eq=False)
class AlertRule:
    """Fire when `threshold` logs matching `conditions` have event times within the last `time_window` s."""

    name: str
    description: str
    conditions: dict[str, Any]
    severity: AlertSeverity
    threshold: int = 1
    time_window: int = 300
    cooldown: int = 600
    enabled: bool = True
    last_triggered: float | None = None
    filter: Node = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("alert rule needs a name")
        if isinstance(self.severity, str):
            try:
                self.severity = AlertSeverity(self.severity.lower())
            except ValueError as exc:
                raise ConfigError(f"rule {self.name!r}: unknown severity {self.severity!r}") from exc
        if int(self.threshold) < 1:
            raise ConfigError(f"rule {self.name!r}: threshold must be at least 1, got {self.threshold}")
        if self.time_window <= 0:
            raise ConfigError(f"rule {self.name!r}: time_window must be positive, got {self.time_window}")
        if self.cooldown < 0:
            raise ConfigError(f"rule {self.name!r}: cooldown must not be negative, got {self.cooldown}")
        self.filter = compile_filters(self.conditions or {})

    def should_trigger(self, count: int, current_time: float) -> bool:
        """True when enabled, `count` reaches the threshold and the cooldown since the last firing is over."""
        if not self.enabled or count < self.threshold:
            return False
        return self.last_triggered is None or current_time - self.last_triggered >= self.cooldown


@dataclass(eq=False)
class Alert:
    """One firing of a rule, with up to 5 sample logs (oldest first)."""

    rule_name: str
    message: str
    severity: AlertSeverity
    triggered_at: float
    count: int
    sample_logs: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; `Alert.from_dict` gives back an equal alert."""
        return {
            "rule_name": self.rule_name,
            "message": self.message,
            "severity": self.severity.value,
            "triggered_at": self.triggered_at,
            "count": self.count,
            "sample_logs": [dict(s) for s in self.sample_logs],
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """Rebuild an alert from `to_dict` output (also accepts the old `AlertSeverity.HIGH` text)."""
        severity = str(data["severity"])
        if severity.startswith("AlertSeverity."):
            severity = severity.split(".", 1)[1].lower()
        return cls(
            rule_name=data["rule_name"],
            message=data["message"],
            severity=AlertSeverity(severity),
            triggered_at=float(data["triggered_at"]),
            count=int(data["count"]),
            sample_logs=[dict(s) for s in data.get("sample_logs") or [] if isinstance(s, dict)],
            metadata=dict(data.get("metadata") or {}),
        )

    def key(self) -> tuple[str, float, int]:
        """Identity used to de-duplicate alerts loaded from files."""
        return (self.rule_name, self.triggered_at, self.count)

    def __str__(self) -> str:
        when = dt.datetime.fromtimestamp(self.triggered_at, dt.UTC).isoformat()
        return f"[{self.severity.value.upper()}] {self.message} at {when}"


def now() -> float:
    """The default clock: epoch seconds."""
    return time.time()
