"""Which logs of one committed write each alert rule matches, as arrays of event times.

A write of `LogEntry` objects (the `ingest_logs` path) is matched in two stages: a vectorised Arrow
prefilter derived from the rule (a necessary condition: level/source/tag equality, the words as
substrings of the lower-cased message), then the reference evaluator on the few candidates it
leaves. Rules the prefilter cannot narrow cheaply, and writes made in SQL (file ingest), are matched
by one SQL pass over the write's rows for all such rules at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from log_analytics_engine.alerting.rules import AlertRule
from log_analytics_engine.model import LogEntry
from log_analytics_engine.query.ast import (
    And,
    FieldEq,
    FieldIn,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    TimeRange,
    Word,
    has_text,
)
from log_analytics_engine.query.evaluate import evaluate
from log_analytics_engine.query.sql import TOKENS_SQL, compile_where
from log_analytics_engine.storage.embedded import EmbeddedStore

Mask = np.ndarray
_STRING_COLUMNS = frozenset({"level", "source", "thread_id", "request_id", "user_id"})
# fields whose stored value the Python evaluator cannot see on a fresh entry
_STORED_ONLY = frozenset({"seq", "_time", "timestamp"})


def python_matchable(node: Node) -> bool:
    """True when evaluating the node on the entries agrees with SQL on the stored rows."""
    if isinstance(node, TimeRange):  # a missing event time is stored as the ingest time
        return False
    if isinstance(node, And | Or):
        return all(python_matchable(i) for i in node.items)
    if isinstance(node, Not):
        return python_matchable(node.item)
    field = getattr(node, "field", None)
    return field not in _STORED_ONLY


class _Columns:
    """The batch's columns the prefilters read, each computed at most once."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.rows = table.num_rows

    @cached_property
    def lower_message(self) -> pa.Array:
        return pc.utf8_lower(self.table.column("message"))

    @cached_property
    def not_ascii(self) -> Mask:
        # Python and Arrow may lower-case non-ASCII text differently: such rows are always candidates
        mask: Mask = ~_mask(pc.string_is_ascii(self.table.column("message")))
        return mask

    def contains(self, text: str) -> Mask:
        found: Mask = _mask(pc.match_substring(self.lower_message, text)) | self.not_ascii
        return found

    def equals(self, field: str, values: Sequence[str]) -> Mask:
        if field == "tags":
            tags = self.table.column("tags").combine_chunks()
            hits = _mask(pc.is_in(pc.list_flatten(tags), pa.array(values, pa.string())))
            parents = np.asarray(pc.list_parent_indices(tags))
            mask = np.zeros(self.rows, dtype=bool)
            mask[parents[hits]] = True
            return mask
        return _mask(pc.is_in(self.table.column(field), pa.array(values, pa.string())))


def _mask(array: pa.Array | pa.ChunkedArray) -> Mask:
    out: Mask = np.asarray(pc.fill_null(array, False), dtype=bool)
    return out


def prefilter(node: Node, cols: _Columns) -> Mask | None:
    """A mask every log the node matches is in (None: no cheap narrowing)."""
    if isinstance(node, Word):
        return cols.contains(node.token)
    if isinstance(node, Phrase):
        return _all([cols.contains(t) for t in node.tokens])
    if isinstance(node, Prefix) and node.field == "message":
        return cols.contains(node.prefix.lower())
    if isinstance(node, FieldEq | FieldIn) and (node.field in _STRING_COLUMNS or node.field == "tags"):
        values = [node.value] if isinstance(node, FieldEq) else list(node.values)
        if all(isinstance(v, str) for v in values):
            return cols.equals(node.field, values)  # type: ignore[arg-type]
        return None
    if isinstance(node, And):
        return _all([m for m in (prefilter(i, cols) for i in node.items) if m is not None])
    if isinstance(node, Or):
        masks = [prefilter(i, cols) for i in node.items]
        if any(m is None for m in masks):
            return None
        either: Mask = np.logical_or.reduce(masks)  # type: ignore[arg-type]
        return either
    return None  # MatchAll, Not, comparisons, regexes, existence: every row is a candidate


def _all(masks: list[Mask]) -> Mask | None:
    return np.logical_and.reduce(masks) if masks else None


class BatchMatcher:
    """Match one write against a set of rules; `match` gives each rule's matching event times."""

    def __init__(self, store: EmbeddedStore) -> None:
        self._store = store

    def match(
        self,
        rules: Sequence[AlertRule],
        first_seq: int,
        last_seq: int,
        entries: Sequence[LogEntry] | None = None,
        table: pa.Table | None = None,
    ) -> list[np.ndarray]:
        """Sorted int64 event times (ns) of each rule's matches among the write's rows."""
        out: list[np.ndarray | None] = [None] * len(rules)
        in_sql: list[int] = []
        if entries is not None and table is not None and len(entries) == table.num_rows:
            cols = _Columns(table)
            ts = np.asarray(table.column("ts"), dtype=np.int64)
            for i, rule in enumerate(rules):
                if not python_matchable(rule.filter):
                    in_sql.append(i)
                    continue
                mask = prefilter(rule.filter, cols)
                candidates = np.flatnonzero(mask).tolist() if mask is not None else range(len(entries))
                node = rule.filter
                hits = [j for j in candidates if evaluate(node, entries[j])]
                out[i] = np.sort(ts[hits])
        else:
            in_sql = list(range(len(rules)))
        if in_sql:
            for i, times in zip(
                in_sql, self._match_sql([rules[i] for i in in_sql], first_seq, last_seq), strict=True
            ):
                out[i] = times
        return [o if o is not None else np.empty(0, np.int64) for o in out]

    def _match_sql(self, rules: Sequence[AlertRule], first_seq: int, last_seq: int) -> list[np.ndarray]:
        # the write's messages are tokenized once for every rule's words (see compile_where)
        text = any(has_text(rule.filter) for rule in rules)
        parts, params = [], []
        for i, rule in enumerate(rules):
            flt = compile_where(rule.filter, tokens="_tokens" if text else None)
            parts.append(f"coalesce({flt.sql}, false) AS m{i}")
            params.extend(flt.params)
        tokens = f", {TOKENS_SQL} AS _tokens" if text else ""
        found = self._store.numpy(
            f"SELECT ts, {', '.join(parts)} FROM (SELECT *{tokens} FROM logs WHERE seq BETWEEN ? AND ?)",
            [*params, first_seq, last_seq],
        )
        ts = np.asarray(found["ts"], dtype=np.int64)
        return [np.sort(ts[np.asarray(found[f"m{i}"], dtype=bool)]) for i in range(len(rules))]
