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
from log_analytics_engine.model import INGEST_SCHEMA, LogEntry
from log_analytics_engine.query.ast import (
    And,
    Compare,
    FieldEq,
    FieldIn,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    TimeRange,
    Word,
)
from log_analytics_engine.query.evaluate import evaluate
from log_analytics_engine.storage.base import Store

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
        self._codes: dict[str, tuple[np.ndarray, dict[str, int]]] = {}
        self._entries: dict[int, LogEntry] = {}

    @cached_property
    def _lowered(self) -> tuple[bytes, np.ndarray]:
        """The lower-cased messages as one UTF-8 buffer and the row offsets into it."""
        low = pc.utf8_lower(self.table.column("message").combine_chunks())
        _, offsets_buffer, data_buffer = low.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[low.offset : low.offset + len(low) + 1]
        return (b"" if data_buffer is None else data_buffer.to_pybytes()), offsets

    @cached_property
    def not_ascii(self) -> Mask:
        # Python and Arrow may lower-case non-ASCII text differently: such rows are always candidates
        mask: Mask = ~_mask(pc.string_is_ascii(self.table.column("message")))
        return mask

    def contains(self, text: str) -> Mask:
        """Rows whose lower-cased message contains `text` (or that are not ASCII)."""
        data, offsets = self._lowered
        needle = text.encode()
        hits = []
        at = data.find(needle)
        while at != -1:
            hits.append(at)
            at = data.find(needle, at + 1)
        mask = self.not_ascii.copy()
        if hits:
            mask[np.searchsorted(offsets, hits, side="right") - 1] = True
        return mask

    def equals(self, field: str, values: Sequence[str]) -> Mask:
        """Rows whose `field` is one of `values` (for tags: holds one of them)."""
        if field == "tags":
            tags = self.table.column("tags").combine_chunks()
            hits = _mask(pc.is_in(pc.list_flatten(tags), pa.array(values, pa.string())))
            parents = np.asarray(pc.list_parent_indices(tags))
            mask = np.zeros(self.rows, dtype=bool)
            mask[parents[hits]] = True
            return mask
        codes = self._codes.get(field)
        if codes is None:
            encoded = pc.dictionary_encode(self.table.column(field).combine_chunks())
            # a null gets the code one past the dictionary, which no value maps to
            nulls = len(encoded.dictionary)
            indices = np.asarray(encoded.indices.fill_null(nulls), dtype=np.int64)
            codes = indices, {v: i for i, v in enumerate(encoded.dictionary.to_pylist())}
            self._codes[field] = codes
        indices, positions = codes
        lookup = np.zeros(len(positions) + 1, dtype=bool)
        lookup[[positions[v] for v in values if v in positions]] = True
        found: Mask = lookup[indices]
        return found

    def entries(self, rows: Sequence[int]) -> list[LogEntry]:
        """The logs of these rows as the evaluator reads them: only the candidates a prefilter left
        are converted (a 65k-row commit whole took ~170 ms), each at most once across rules."""
        missing = [r for r in rows if r not in self._entries]
        if missing:
            taken = self.table.take(pa.array(missing, pa.int64()))
            columns = [taken.column(name).to_pylist() for name in INGEST_SCHEMA.names]
            for r, values in zip(missing, zip(*columns, strict=True), strict=True):
                self._entries[r] = LogEntry.from_stored((None, *values))
        return [self._entries[r] for r in rows]

    @cached_property
    def severity(self) -> np.ndarray:
        return np.asarray(self.table.column("severity"), dtype=np.int64)


def _mask(array: pa.Array | pa.ChunkedArray) -> Mask:
    out: Mask = np.asarray(pc.fill_null(array, False), dtype=bool)
    return out


_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def prefilter(node: Node, cols: _Columns) -> tuple[Mask | None, Node | None]:
    """A mask every log the node matches is in (None: no cheap narrowing), and what of the node the
    mask's rows must still satisfy (None when the mask is exactly the node's matches)."""
    if isinstance(node, MatchAll):
        return np.ones(cols.rows, dtype=bool), None
    if isinstance(node, Word):
        return cols.contains(node.token), node
    if isinstance(node, Phrase):
        masks = [cols.contains(t) for t in node.tokens]
        return np.logical_and.reduce(masks), node
    if isinstance(node, Prefix) and node.field == "message":
        return cols.contains(node.prefix.lower()), node
    if isinstance(node, FieldEq | FieldIn) and (node.field in _STRING_COLUMNS or node.field == "tags"):
        values = [node.value] if isinstance(node, FieldEq) else list(node.values)
        if all(isinstance(v, str) for v in values):
            return cols.equals(node.field, values), None  # type: ignore[arg-type]
        return None, node
    if isinstance(node, Compare) and node.field == "severity":
        return _COMPARE[node.op](cols.severity, node.value), None
    if isinstance(node, And):
        parts = [prefilter(i, cols) for i in node.items]
        masks = [m for m, _ in parts if m is not None]
        rest = [r for _, r in parts if r is not None]
        mask = np.logical_and.reduce(masks) if masks else None
        return mask, (None if not rest else rest[0] if len(rest) == 1 else And(tuple(rest)))
    if isinstance(node, Or):
        parts = [prefilter(i, cols) for i in node.items]
        masks = [m for m, _ in parts if m is not None]
        if len(masks) < len(parts):
            return None, node
        either: Mask = np.logical_or.reduce(masks)
        return either, (node if any(r is not None for _, r in parts) else None)
    if isinstance(node, Not):
        inner, left = prefilter(node.item, cols)
        return (~inner, None) if inner is not None and left is None else (None, node)
    return None, node  # comparisons, regexes, existence: every row is a candidate


class BatchMatcher:
    """Match one write against a set of rules; `match` gives each rule's matching event times."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def match(
        self,
        rules: Sequence[AlertRule],
        first_seq: int,
        last_seq: int,
        table: pa.Table | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The event times (int64 ns) and seqs of each rule's matches among the write's rows."""
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(rules)
        in_sql: list[int] = []
        if table is not None:
            cols = _Columns(table)
            ts = np.asarray(table.column("ts"), dtype=np.int64)
            seqs = np.arange(first_seq, first_seq + table.num_rows, dtype=np.int64)  # the append's order
            for i, rule in enumerate(rules):
                if not python_matchable(rule.filter):
                    in_sql.append(i)
                    continue
                mask, rest = prefilter(rule.filter, cols)
                if rest is None and mask is not None:
                    out[i] = ts[mask], seqs[mask]
                    continue
                candidates = np.flatnonzero(mask).tolist() if mask is not None else range(table.num_rows)
                node = rest or rule.filter
                rows = list(candidates)
                logs = cols.entries(rows)
                hits = [j for j, log in zip(rows, logs, strict=True) if evaluate(node, log)]
                out[i] = ts[hits], seqs[hits]
        else:
            in_sql = list(range(len(rules)))
        if in_sql:
            found = self._store.match_rows([rules[i].filter for i in in_sql], first_seq, last_seq)
            for i, matched in zip(in_sql, found, strict=True):
                out[i] = matched.ts, matched.seqs
        none = np.empty(0, np.int64)
        return [o if o is not None else (none, none) for o in out]
