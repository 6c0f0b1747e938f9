"""Catastrophic-backtracking patterns cost linear time everywhere a regex runs: alert rules on ingested
batches, queries and the reference evaluator (all RE2). Python's `re` took 14 s for `(a+)+b` over 31
bytes, doubling with each byte; these inputs are longer, so the old code would not finish."""

from __future__ import annotations

import threading

import pytest

from conftest import T0_S, Clock, entry_at
from log_analytics_engine import AlertRule, LogAnalyticsEngine
from log_analytics_engine.query.evaluate import evaluate
from log_analytics_engine.query.parser import parse_filter

EVIL = ("(a+)+b", "(a|a)+b", "(a|aa)+b", "(.*a){20}b", "^(a+)+$x")
TEXT = "a" * 40 + "c"  # 2**40 backtracking steps for `(a+)+b` in a backtracking engine


def _finishes(work: object, seconds: float = 20.0) -> bool:
    """Run `work` on a thread; True when it is done within `seconds` (RE2 takes microseconds)."""
    worker = threading.Thread(target=work, daemon=True)  # type: ignore[arg-type]
    worker.start()
    worker.join(seconds)
    return not worker.is_alive()


@pytest.mark.parametrize("pattern", EVIL)
def test_a_regex_rule_costs_linear_time_on_ingest(pattern: str, clock: Clock) -> None:
    """A rule `~"<evil>"` evaluated on an ingested log of 41 bytes returns at once, and is right."""
    engine = LogAnalyticsEngine(clock=clock, alert_interval=None)
    engine.add_alert_rule(AlertRule("redos", query=f'~"{pattern}"', threshold=1))
    try:
        assert _finishes(lambda: engine.ingest_logs([entry_at(T0_S, "INFO", TEXT)]))
        assert engine.get_alerts() == []  # no pattern here matches the text
        assert engine.count() == 1
    finally:
        engine.close()


@pytest.mark.parametrize("pattern", EVIL)
def test_the_reference_evaluator_and_queries_cost_linear_time(pattern: str) -> None:
    """The reference evaluator and a query (SQL, DuckDB's RE2) answer the same patterns at once."""
    node = parse_filter(f'~"{pattern}"')
    entry = entry_at(T0_S, "INFO", TEXT)
    answers: list[bool] = []
    assert _finishes(lambda: answers.append(evaluate(node, entry)))
    assert answers == [False]
    with LogAnalyticsEngine() as engine:
        engine.ingest_logs([entry])
        assert engine.search(f'~"{pattern}"').total == 0
