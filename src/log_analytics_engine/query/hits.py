"""Hits over time, the histogram above a search: matching logs counted per time bucket (aligned to
UTC multiples of the step), optionally one row per value of a field in each bucket, run as a
`| stats by (_time:STEP, field) count()` of the parsed filter (never query text spliced together).

The step is the caller's (`5m`) or `auto`: the smallest of STEPS giving at most AUTO_BUCKETS over the
range asked (or, without one, over the matching logs' span), so the histogram's resolution follows a
zoom. A step giving more than MAX_BUCKETS over the range is refused: 1s over 30 days is 2.6M buckets.
"""

from __future__ import annotations

from log_analytics_engine.errors import QueryError
from log_analytics_engine.query.ast import Node, StatFunc, Stats, TimeBucket
from log_analytics_engine.query.grammar import BUCKET_UNITS, DURATION_UNITS_NS
from log_analytics_engine.query.lexer import MAX_DURATION_NS
from log_analytics_engine.query.results import MAX_RESULT_ROWS, HitsResult
from log_analytics_engine.storage.base import Store
from log_analytics_engine.timeparse import parse_timestamp

AUTO_BUCKETS = 150
MAX_BUCKETS = 10_000
# The steps `auto` chooses from, as the language writes them.
STEPS = ("1s", "5s", "10s", "30s", "1m", "5m", "10m", "30m", "1h", "3h", "6h", "12h", "1d", "7d", "30d")


def step_ns(step: str) -> int:
    """A step as the language writes one (a positive count and s, m, h or d) in ns, else QueryError."""
    count, unit = step[:-1], step[-1:]
    # isascii: str.isdigit() also accepts digits int() refuses (like '²')
    if not (count.isascii() and count.isdigit()) or unit not in BUCKET_UNITS or int(count) <= 0:
        raise QueryError(f"step must be auto or a positive number of s, m, h or d (like 5m), got {step!r}")
    ns = int(count) * DURATION_UNITS_NS[unit]
    if ns > MAX_DURATION_NS:
        raise QueryError(f"step must be at most 106751d (what int64 nanoseconds hold), got {step!r}")
    return ns


def hits(
    store: Store,
    node: Node,
    span: tuple[int | None, int | None],
    step: str = "auto",
    field: str | None = None,
) -> HitsResult:
    """Count the logs matching `node` per bucket; `span` = (low, high) ns of the range asked (None:
    open), which the chosen step and the bucket bound are measured over."""
    if step != "auto":
        step_ns(step)  # a bad step is refused whatever the data
    low, high = span
    if low is None or high is None:
        bounds = (StatFunc("min", ("_time",), "low"), StatFunc("max", ("_time",), "high"))
        found = store.run(node, (Stats((), bounds),)).rows
        if not found or found[0]["low"] is None:
            return HitsResult(step if step != "auto" else STEPS[0], [])
        low = parse_timestamp(found[0]["low"]) if low is None else low
        high = parse_timestamp(found[0]["high"]) if high is None else high
    width = max(int(high) - int(low), 1)
    if step == "auto":
        step = next((s for s in STEPS if width / step_ns(s) <= AUTO_BUCKETS), STEPS[-1])
    size = step_ns(step)
    buckets = -(-width // size) + 1  # aligned buckets touching the range, its ends' included
    if buckets > MAX_BUCKETS:
        raise QueryError(
            f"step {step} gives {buckets:,} buckets over this range; at most {MAX_BUCKETS:,} "
            "(use a larger step, or auto)"
        )
    keys: tuple[str | TimeBucket, ...] = (TimeBucket(size),) + ((field,) if field else ())
    try:
        result = store.run(node, (Stats(keys, (StatFunc("count", (), "hits"),)),))
    except QueryError as exc:
        if not str(exc).startswith("the query returns more than"):
            raise
        raise QueryError(
            f"hits by {field}: more than {MAX_RESULT_ROWS:,} (bucket, value) rows; use a larger step "
            "or a field with fewer values"
        ) from exc
    return HitsResult(step, result.rows)
