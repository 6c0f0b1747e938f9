"""Embedded log analytics: durable ingest, indexed search and aggregation, alerting and metrics."""

from log_analytics_engine.alerting.rules import Alert, AlertRule, AlertSeverity
from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import (
    ConfigError,
    IngestError,
    LogAnalyticsError,
    QueryError,
    QuerySyntaxError,
    StorageError,
)
from log_analytics_engine.model import LogEntry
from log_analytics_engine.query.results import QueryResult, SearchResult

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
    "QueryResult",
    "QuerySyntaxError",
    "SearchResult",
    "StorageError",
]
