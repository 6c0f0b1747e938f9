"""The bounds on one log, whatever brings it (an HTTP body, a file, a stream): how deep its JSON nests
and how many keys it holds. A line over either is rejected by itself, the rest of its body stored.

Lines are measured on their text, not parsed. Most are plainly within both bounds: shorter than the
shortest JSON past them, or with fewer brackets (colons) than the bound, which one vectorised count
per chunk tells (~30 ms for 64 MB, against ~0.8 s to store it). Only lines past those counts are
scanned exactly, brackets and colons inside strings not counted.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# orjson writes at most 254 levels, and answers wrap a log up to 4 deeper (alerts, an alert, its
# sample logs, a log): a log 252 deep once made every search holding it a 500, and DuckDB stores
# 100,000-deep lines, which nothing then reads. Logs nest a handful of levels; 128 leaves room.
MAX_DEPTH = 128
# Members of objects at every level of a log (its metadata included). A key is a column to Arrow's
# reader and a member to every answer: 1,000 lines of 200 keys each once cost 14 s and 2.6 GB.
MAX_KEYS = 1_000
TOO_DEEP = (
    f"nested deeper than {MAX_DEPTH} levels, the bound of one log (so that answers can hold it); "
    "nothing of it is stored"
)
# The shortest JSON past each bound: a level opens and closes (`[]`), a member is at least `"":0,`.
_DEEP_BYTES = 2 * (MAX_DEPTH + 1)
_KEYS_BYTES = 4 * (MAX_KEYS + 1)
_PIECE = 1 << 18  # an exact scan's step: its arrays (~40 bytes a byte of text) stay ~10 MB
_WINDOW = 4 << 20  # the bytes of lines whose brackets are counted at once
_QUOTE, _BACKSLASH, _COLON = 0x22, 0x5C, 0x3A
_OPEN = np.zeros(256, np.int8)
_OPEN[[0x7B, 0x5B]] = 1  # { [
_OPEN[[0x7D, 0x5D]] = -1  # } ]


def too_many_keys(keys: int) -> str:
    """The rejection of a log holding `keys` keys."""
    return (
        f"{keys:,} keys, over the bound of {MAX_KEYS:,} keys a log (counted at every level); "
        "nothing of it is stored"
    )


def measure(text: bytes) -> tuple[int, int]:
    """The nesting depth of JSON text and its keys (colons outside strings: each member has one),
    brackets and colons inside strings not counted. Scanned in pieces, so a line of any length costs
    bounded memory."""
    depth = deepest = keys = 0
    in_string = False
    backslashes = 0  # the run of them that ended the previous piece
    for at in range(0, len(text), _PIECE):
        piece = np.frombuffer(text, np.uint8, min(_PIECE, len(text) - at), at)
        index = np.arange(len(piece))
        # A quote is escaped by an odd run of backslashes just before it.
        last_plain = np.maximum.accumulate(np.where(piece == _BACKSLASH, -1 - backslashes, index))
        run = np.empty(len(piece), np.int64)
        run[0] = backslashes
        run[1:] = index[:-1] - last_plain[:-1]
        quotes = (piece == _QUOTE) & (run % 2 == 0)
        inside = (np.cumsum(quotes) + in_string) % 2 == 1
        steps = np.where(inside, 0, _OPEN[piece])
        if len(steps):
            levels = np.cumsum(steps, dtype=np.int64) + depth
            deepest = max(deepest, int(levels.max()))
            depth = int(levels[-1])
        keys += int(np.count_nonzero((piece == _COLON) & ~inside))
        in_string = bool(inside[-1])
        backslashes = len(piece) - 1 - int(last_plain[-1])
    return deepest, keys


def reason(text: bytes) -> str | None:
    """Why a line is over a bound, or None. Exact, for lines the counts of `over_bound` pick."""
    depth, keys = measure(text)
    if depth > MAX_DEPTH:
        return TOO_DEEP
    if keys > MAX_KEYS:
        return too_many_keys(keys)
    return None


def text_reason(line: str) -> str | None:
    """`reason` for a line held as text, after the counts that clear most lines."""
    size = len(line)
    if size < _DEEP_BYTES:
        return None
    if line.count("{") + line.count("[") <= MAX_DEPTH and (size < _KEYS_BYTES or line.count(":") <= MAX_KEYS):
        return None
    return reason(line.encode("utf-8", "surrogatepass"))


def _brackets(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """How many `{` and `[` each line holds (line i is data[starts[i]:starts[i + 1]]), counted a run
    of lines of about _WINDOW bytes at a time: the arrays of a whole 64 MB chunk at once were ~2x it."""
    counts = np.zeros(len(starts) - 1, np.int64)
    first = 0
    while first < len(counts):
        last = min(len(counts), max(first + 1, int(np.searchsorted(starts, starts[first] + _WINDOW)) - 1))
        window = data[starts[first] : starts[last]]
        # `{` and `[` are the bytes that read `{` with bit 5 set; each counted in the line it falls in
        at = np.flatnonzero((window | 0x20) == 0x7B) + starts[first]
        line = np.searchsorted(starts, at, "right") - 1 - first
        counts[first:last] = np.bincount(line, minlength=last - first)
        first = last
    return counts


def over_bound(lines: pa.StringArray) -> list[tuple[int, str]]:
    """(position, reason) of the lines over a bound, in order."""
    if not len(lines):
        return []
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, 4 * lines.offset)
    sizes = np.diff(offsets)
    if sizes.max() < _DEEP_BYTES:
        return []
    data = np.frombuffer(lines.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    suspects = set(np.flatnonzero(_brackets(data, offsets - offsets[0]) > MAX_DEPTH).tolist())
    for i in np.flatnonzero(sizes >= _KEYS_BYTES).tolist():
        start = int(offsets[i] - offsets[0])
        if np.count_nonzero(data[start : start + int(sizes[i])] == _COLON) > MAX_KEYS:
            suspects.add(i)
    out = []
    for i in sorted(suspects):
        start = int(offsets[i] - offsets[0])
        why = reason(data[start : start + int(sizes[i])].tobytes())
        if why is not None:
            out.append((i, why))
    return out
