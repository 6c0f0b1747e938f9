"""Deleting stored logs: the intent file that makes a delete crash-safe, and its DuckDB statements.

A delete (EmbeddedStore.delete) writes the seqs of the rows it removes to the intent file, commits
their removal from the table together with the store's marks (the highest seq ever stored, so an
open neither replays the deleted newest logs from the write-ahead log nor gives their seqs out
again), has the text index drop their documents, and removes the file. An open that finds the file
(a crash in between) does the table and index steps again: both are idempotent.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np

from log_analytics_engine.storage.embedded.commitmark import stored_high

INTENT_FILE = "DELETING"


class DeleteIntent:
    """The seqs of the delete in progress, in `<data>/DELETING` (little-endian int64s); an in-memory
    store (`directory` None) keeps none: nothing of it outlives the process."""

    def __init__(self, directory: Path | None) -> None:
        self.file = None if directory is None else directory / INTENT_FILE

    def write(self, seqs: np.ndarray, fsync: bool) -> None:
        """Record the seqs (whole or not at all: written aside, then renamed into place)."""
        if self.file is None:
            return
        partial = self.file.with_name(INTENT_FILE + ".partial")
        with partial.open("wb") as out:
            out.write(seqs.astype("<i8").tobytes())
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        partial.replace(self.file)

    def read(self) -> np.ndarray | None:
        """The seqs of a delete a crash interrupted, or None."""
        if self.file is None or not self.file.exists():
            return None
        return np.frombuffer(self.file.read_bytes(), dtype="<i8").astype(np.int64)

    def clear(self) -> None:
        """The delete is complete: forget it."""
        if self.file is not None:
            self.file.unlink(missing_ok=True)


def deleted_total(db: duckdb.DuckDBPyConnection) -> int:
    """How many logs the store's deletes removed in all."""
    row = db.execute("SELECT coalesce(max(deleted_logs), 0) FROM store_marks").fetchall()
    return int(row[0][0]) if row else 0


def delete_rows(cur: duckdb.DuckDBPyConnection, relation: str, first: int, last: int) -> int:
    """Inside the caller's transaction: delete the rows whose seqs the registered `relation` (column
    `seq`, between `first` and `last`) holds, and advance the marks; how many rows went."""
    high = stored_high(cur)
    # the seq range lets DuckDB skip row groups by their min/max before testing membership
    found = cur.execute(
        f"DELETE FROM logs WHERE seq BETWEEN ? AND ? AND seq IN (SELECT seq FROM {relation})",
        [first, last],
    ).fetchall()
    gone = int(found[0][0]) if found else 0
    total = deleted_total(cur) + gone
    cur.execute("DELETE FROM store_marks").fetchall()
    cur.execute("INSERT INTO store_marks VALUES (?, ?)", [high, total]).fetchall()
    return gone
