"""Embedded log analytics: durable ingest, indexed search and aggregation, alerting and metrics."""

from log_analytics_engine.alerting.rules import Alert, AlertRule, AlertSeverity
from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import (
    ConfigError,
    IngestError,
    LogAnalyticsError,
    QueryError,
    StorageError,
)
from log_analytics_engine.model import LogEntry

__all__ = [
    "Alert",
    "AlertRule",
    "AlertSeverity",
    "ConfigError",
    "IngestError",
    "LogAnalyticsEngine",
    "LogAnalyticsError",
    "LogEntry",
    "QueryError",
    "StorageError",
]
