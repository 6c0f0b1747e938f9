"""The exception tree of the engine; every error carries the HTTP status an edge would answer with.

LogAnalyticsError (500)
├── QueryError (400)          a filter, sort key or query that cannot be run as given
├── IngestError (400)         input that cannot be ingested at all (missing file, unknown type)
├── ConfigError (400)         an invalid setting or rule definition
└── StorageError (503)        the store cannot be opened or written (e.g. locked by another process)
"""

from __future__ import annotations


class LogAnalyticsError(Exception):
    """Root of every error this package raises on purpose."""

    status = 500


class QueryError(LogAnalyticsError):
    """A query, filter or sort key that cannot be run as given."""

    status = 400


class IngestError(LogAnalyticsError):
    """Input that cannot be ingested at all, such as a missing file or an unknown file type."""

    status = 400


class ConfigError(LogAnalyticsError):
    """An invalid setting or rule definition."""

    status = 400


class StorageError(LogAnalyticsError):
    """The store cannot be opened or written, for example because another process owns it."""

    status = 503
