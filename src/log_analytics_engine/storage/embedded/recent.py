"""The newest committed rows, kept as the Arrow tables they were written from.

Reading a handful of rows back out of DuckDB by seq decompresses whole column segments (~4 ms for a
page of 50 on this machine); searches and tails mostly want the newest rows, which the write path
had in memory a moment ago. `RecentRows` keeps the last `capacity` rows of consecutive Arrow writes
and answers point reads of them with an Arrow `take` (~0.2 ms). Stored rows never change after their
commit, so the copy is exact; after a write it does not see (the SQL inserts of file ingest) the next
one starts it afresh, so it always holds one unbroken seq range.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

CAPACITY = 65_536


class RecentRows:
    """Committed rows of the newest consecutive Arrow writes (columns in stored order, seq first)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        # Replaced whole on every change, so a reader works on a consistent snapshot without the lock.
        self._chunks: tuple[tuple[int, pa.Table], ...] = ()

    def add(self, first_seq: int, table: pa.Table) -> None:
        """Rows just committed with seqs first_seq, first_seq + 1, … (call in commit order)."""
        with self._lock:
            if table.num_rows > self._capacity:
                self._chunks = ()  # a bulk load: keeping it (or a slice, which pins its buffers) costs much
                return
            chunks = self._chunks
            if chunks and chunks[-1][0] + chunks[-1][1].num_rows != first_seq:
                chunks = ()
            kept = [*chunks, (first_seq, table)]
            rows = sum(t.num_rows for _, t in kept)
            while len(kept) > 1 and rows - kept[0][1].num_rows >= self._capacity:
                rows -= kept.pop(0)[1].num_rows
            self._chunks = tuple(kept)

    def clear(self) -> None:
        """Forget every row (a delete went through the table; the next write starts afresh)."""
        with self._lock:
            self._chunks = ()

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def rows(self, seqs: Sequence[int]) -> list[tuple[Any, ...]] | None:
        """The rows with these seqs as tuples of stored columns, in the order given; None unless
        every seq is held here."""
        chunks = self._chunks
        if not chunks or not seqs:
            return None
        low = chunks[0][0]
        high = chunks[-1][0] + chunks[-1][1].num_rows - 1
        if min(seqs) < low or max(seqs) > high:
            return None
        starts = [first for first, _ in chunks]
        out: list[tuple[Any, ...] | None] = [None] * len(seqs)
        for i, (first, table) in enumerate(chunks):
            end = starts[i + 1] if i + 1 < len(chunks) else high + 1
            wanted = [(pos, seq - first) for pos, seq in enumerate(seqs) if first <= seq < end]
            if not wanted:
                continue
            taken = table.take(pa.array([offset for _, offset in wanted], pa.int64()))
            columns = [column.to_pylist() for column in taken.columns]
            for (pos, _), row in zip(wanted, zip(*columns, strict=True), strict=True):
                out[pos] = row
        return out  # type: ignore[return-value]  # every position was filled: the range covers them
