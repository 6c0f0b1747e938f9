"""The exception tree of the engine; every error carries the HTTP status an edge would answer with.

LogAnalyticsError (500)
├── QueryError (400)          a filter, sort key or query that cannot be run as given
│   └── QuerySyntaxError (400)  query text that does not follow the grammar (position, found, expected)
├── IngestError (400)         input that cannot be ingested at all (missing file, unknown type, not a log)
│   └── DamagedGzipError (400)  gzip data that stops decompressing at a byte offset (truncated, corrupt)
├── ConfigError (400)         an invalid setting or rule definition
├── BackupError (400)         a backup destination that cannot be used (exists and is not empty)
└── StorageError (503)        the store cannot be opened or written (e.g. locked by another process)
    ├── DiskFullError (507)     the disk holding the store is full: nothing of the write was stored
    └── DamagedStoreError (503)  the store holds fewer committed logs than it acknowledged (a damaged WAL)

Errors an edge should ask to be retried carry `retry_after` (seconds).
"""

from __future__ import annotations


class LogAnalyticsError(Exception):
    """Root of every error this package raises on purpose."""

    status = 500
    retry_after: int | None = None


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


class DamagedGzipError(IngestError):
    """Gzip data that cannot be decompressed past `offset` (a 0-based byte offset into the compressed
    data; its length when truncated): why, and the output `decoded` before it. `where` names the file
    or body once known."""

    def __init__(self, offset: int, reason: str, decoded: bytes = b"", where: str | None = None) -> None:
        self.offset = offset
        self.reason = reason
        self.decoded = decoded
        self.where = where
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}damaged gzip at byte {self.offset:,}: {self.reason}"

    def __reduce__(self) -> tuple[type[DamagedGzipError], tuple[int, str, bytes, str | None]]:
        return (type(self), (self.offset, self.reason, self.decoded, self.where))


class ConfigError(LogAnalyticsError):
    """An invalid setting or rule definition."""

    status = 400


class BackupError(LogAnalyticsError):
    """A backup destination that cannot be used as given: it exists and is not empty, or lies inside
    the store it would copy."""

    status = 400


class StorageError(LogAnalyticsError):
    """The store cannot be opened or written, for example because another process owns it."""

    status = 503
    retry_after: int | None = 1


class DiskFullError(StorageError):
    """The disk holding the store is full; the write was rolled back whole (nothing of it stored)."""

    status = 507
    retry_after = 30


class OverloadedError(StorageError):
    """Acknowledged writes wait to be stored past the store's memory bound (the applier is behind);
    nothing of this write was stored: retry after a pause."""

    status = 429
    retry_after = 1


class DamagedStoreError(StorageError):
    """A data directory whose database came back short of the logs it committed (a damaged write-ahead
    log); it is not opened unless told to accept the loss (`recover`). Not retried as a busy store is."""

    retry_after = None
