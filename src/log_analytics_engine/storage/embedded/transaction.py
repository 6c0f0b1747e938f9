"""One DuckDB transaction on a cursor, rolled back whatever fails inside it (COMMIT included)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb


@contextlib.contextmanager
def transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """`cur` inside BEGIN … COMMIT; ROLLBACK when anything within (or the COMMIT) raises."""
    cur.execute("BEGIN TRANSACTION").fetchall()
    try:
        yield cur
        cur.execute("COMMIT").fetchall()
    except BaseException:
        # whatever failed, COMMIT included: a cursor left in an aborted transaction failed every
        # later statement of its thread (the indexer's catch-ups among them)
        with contextlib.suppress(duckdb.Error):
            cur.execute("ROLLBACK").fetchall()
        raise
