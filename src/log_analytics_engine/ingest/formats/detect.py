"""Detection by sampling: the format whose pattern matches the most sampled lines wins, ties going to
the more specific; every format that matches a fair share of the sample stays a candidate, so a
concatenation of files in different formats gets each line read by the format it matches."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa

from log_analytics_engine.ingest.formats import events
from log_analytics_engine.ingest.formats.base import Format, q

WINDOWS = 8  # sampled stretches of a chunk: its start, and evenly spread after it
WINDOW_LINES = 128
# A format is a candidate when it matches this share of the sampled lines that could open an event
# (not blank, not continuation lines: a Java log's records are outnumbered by their stack traces,
# 1,024 lines each for a StackOverflowError), and 2 of them.
MIN_SHARE = 0.02
# In a sample this small (a short file) one matching line makes a candidate.
SMALL_SAMPLE = 100


def sample(lines: pa.StringArray) -> pa.StringArray:
    """Up to WINDOWS stretches of WINDOW_LINES lines, the first at the start."""
    n = len(lines)
    if n <= WINDOWS * WINDOW_LINES:
        return lines
    starts = np.linspace(0, n - WINDOW_LINES, WINDOWS).astype(np.int64)
    index = (starts[:, None] + np.arange(WINDOW_LINES)[None, :]).ravel()
    return lines.take(pa.array(index))


def candidates(
    cur: duckdb.DuckDBPyConnection, lines: pa.StringArray, formats: Sequence[Format]
) -> list[Format]:
    """The formats that match a fair share of the sampled lines, the more specific first (a line
    both combined and common access logs match is read as combined), then by lines matched and
    registry order; empty when none does (the text fallback reads them)."""
    if not formats:
        return []
    matches = [f"regexp_matches(line, {q(f.pattern)})" for f in formats]
    counts = ", ".join(f"count_if({m})" for m in matches)
    # a line that looks like a continuation and that no format matches cannot open an event: not counted
    openers = f"count_if(NOT regexp_matches(line, {q(events.CONTINUATION)}) OR {' OR '.join(matches)})"
    cur.register("detect_sample", pa.table({"line": sample(lines)}))
    try:
        row = cur.execute(
            f"SELECT {openers}, {counts} FROM detect_sample WHERE length(trim(line, ' \t\r\n')) > 0"
        ).fetchall()[0]
    finally:
        cur.unregister("detect_sample")
    total, scores = int(row[0] or 0), [int(c or 0) for c in row[1:]]
    need = 1 if total < SMALL_SAMPLE else max(2, int(total * MIN_SHARE))
    ranked = sorted(range(len(formats)), key=lambda i: (-formats[i].specificity, -scores[i], i))
    return [formats[i] for i in ranked if scores[i] >= need]
