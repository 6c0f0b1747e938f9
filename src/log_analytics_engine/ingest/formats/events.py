"""Multi-line events: continuation lines (indented, `Caused by:`, `... N more`, Python's traceback
lines, and lines without a time after a timed one) join the event before them, up to a bound; the
joined text is one stored log. Pure Arrow and numpy over a chunk: no Python loop per line."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_EVENT_LINES = 1_000
MAX_EVENT_BYTES = 1 << 20
# Lines that continue the event before them whatever the format, time or not: indented lines, Java's
# and Python's exception lines, and journal export fields (`MESSAGE=…`, `SYSLOG_TIMESTAMP=…`, whose
# values often hold a time: that must not open an event in the middle of an entry).
CONTINUATION = (
    r"^(?:\s|Caused by: |Suppressed: |\.\.\. \d+ (?:more|common frames omitted)"
    r"|Traceback \(most recent call last\):|During handling of the above exception"
    r"|The above exception was the direct cause|_?[A-Z][A-Z0-9_]*=)"
)

# A line that opens with a level word in capitals (`WARNING: disk full`) opens an event, time or not.
LEVEL_FIRST = (
    r"^\[?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|CRITICAL|CRIT|FATAL|ALERT|EMERG|PANIC)\b"
)


@dataclass(frozen=True)
class Events:
    """A chunk's events: the index of each event's first line, and its text."""

    starts: np.ndarray  # int64, increasing, starts[0] == 0
    text: pa.StringArray


def starts_of(fmt: np.ndarray, cont: np.ndarray, timed: np.ndarray, multiline: np.ndarray) -> np.ndarray:
    """Which lines open an event. `fmt` is each line's format (1-based candidate, 0 for none) and
    `multiline[k]` whether events of format k take continuation lines (index 0: the text fallback).

    A line a format matched opens one, and so does a line with a time no format matched. Other lines
    join the event before them when it takes continuations: a continuation-looking line joins any
    such event; a line without a time (a Java exception's first line, Python's last) joins only an
    event of a format, whose lines all carry a time."""
    n = len(fmt)
    opens = (fmt > 0) | (~cont & timed)
    idx = np.arange(n)
    last_open = np.maximum.accumulate(np.where(opens, idx, -1))
    current = np.where(last_open >= 0, fmt[np.maximum(last_open, 0)], -1)  # -1: no event yet
    takes = np.where(current >= 0, multiline[np.maximum(current, 0)], False)
    joins = takes & (cont | (current > 0)) & ~opens
    start = ~joins
    if n:
        start[0] = True
    return _capped(start)


def _capped(start: np.ndarray) -> np.ndarray:
    """Starts with one forced every MAX_EVENT_LINES lines of an event."""
    idx = np.arange(len(start))
    last = np.maximum.accumulate(np.where(start, idx, 0))
    capped: np.ndarray = np.logical_or(start, (idx - last) % MAX_EVENT_LINES == 0)
    return capped


def join(lines: pa.StringArray, start: np.ndarray) -> Events:
    """The events opened at `start`, each its lines joined by newlines (split where over MAX_EVENT_BYTES)."""
    starts = np.flatnonzero(start).astype(np.int64)
    if len(starts) == len(lines):
        return Events(starts, lines)
    starts = _split_big(lines, starts)
    offsets = pa.array(np.append(starts, len(lines)).astype(np.int32))
    text = pc.binary_join(pa.ListArray.from_arrays(offsets, lines), "\n")
    return Events(starts, text)


def _split_big(lines: pa.StringArray, starts: np.ndarray) -> np.ndarray:
    """`starts` with more added inside events over MAX_EVENT_BYTES (a loop over those events only)."""
    sizes = pc.binary_length(lines).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    cum = np.concatenate(([0], np.cumsum(sizes)))
    ends = np.append(starts[1:], len(lines))
    big = np.flatnonzero(cum[ends] - cum[starts] > MAX_EVENT_BYTES)
    if not len(big):
        return starts
    extra = []
    for e in big:
        begin = starts[e]
        for i in range(starts[e] + 1, ends[e]):
            if cum[i + 1] - cum[begin] > MAX_EVENT_BYTES:
                extra.append(i)
                begin = i
    return np.unique(np.concatenate((starts, np.array(extra, np.int64))))
