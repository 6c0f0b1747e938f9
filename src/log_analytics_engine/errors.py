"""The exception tree of the engine; every error carries the HTTP status an edge would answer with.

LogAnalyticsError (500)
├── QueryError (400)          a filter, sort key or query that cannot be run as given
│   └── QuerySyntaxError (400)  query text that does not follow the grammar (position, found, expected)
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


class QuerySyntaxError(QueryError):
    """Query text that does not follow the grammar: where (0-based offset), what was found there and what
    was expected instead."""

    def __init__(self, expected: str, position: int, found: str) -> None:
        super().__init__(f"expected {expected} at {position}, found {found}")
        self.expected = expected
        self.position = position
        self.found = found

    def __reduce__(self) -> tuple[type[QuerySyntaxError], tuple[str, int, str]]:
        # The message is derived, so pickling (e.g. across a process pool) rebuilds from the parts.
        return (type(self), (self.expected, self.position, self.found))


class IngestError(LogAnalyticsError):
    """Input that cannot be ingested at all, such as a missing file or an unknown file type."""

    status = 400


class ConfigError(LogAnalyticsError):
    """An invalid setting or rule definition."""

    status = 400


class StorageError(LogAnalyticsError):
    """The store cannot be opened or written, for example because another process owns it."""

    status = 503
