"""The query AST: filter nodes (one tree for dict filters, alert conditions and query text) and the
pipe nodes of the query language (`| sort`, `| stats` ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scalar = str | int | float
CompareOp = Literal["<", "<=", ">", ">="]

# Fields the text index holds besides the message words; any other field is answered by SQL.
INDEXED_FIELDS = frozenset({"level", "source", "tags", "severity"})


@dataclass(frozen=True, slots=True)
class MatchAll:
    """Every log."""


@dataclass(frozen=True, slots=True)
class Word:
    """The message holds this token (whole word, compared lower-case)."""

    token: str


@dataclass(frozen=True, slots=True)
class Phrase:
    """The message holds these tokens next to each other, in order."""

    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FieldEq:
    """A field equals a value; for `tags`, one of the tags does; `metadata.key` reaches into metadata."""

    field: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class FieldIn:
    """A field equals one of the values (for `tags`: shares one of them)."""

    field: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    """A numeric comparison of a field (severity, or a metadata value read as a number)."""

    field: str
    op: CompareOp
    value: float


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Event time between start and end in ns UTC (bounds included unless said); either may be None."""

    start: int | None = None
    end: int | None = None
    include_end: bool = True
    include_start: bool = True


@dataclass(frozen=True, slots=True)
class RelativeTime:
    """Event time within the last `ns` nanoseconds before the query runs (`_time:15m`)."""

    ns: int


@dataclass(frozen=True, slots=True)
class Prefix:
    """On `message`: a word starts with `prefix` (lower-case); on another field: its text does."""

    field: str
    prefix: str


@dataclass(frozen=True, slots=True)
class Regex:
    """The field's text matches the RE2 `pattern` anywhere (case-sensitive unless `(?i)`)."""

    field: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Exists:
    """The field has a value (for `tags`: at least one tag)."""

    field: str


@dataclass(frozen=True, slots=True)
class And:
    """All of the children."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of the children."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Not the child."""

    item: Node


Node = (
    MatchAll
    | Word
    | Phrase
    | Prefix
    | Regex
    | Exists
    | FieldEq
    | FieldIn
    | Compare
    | TimeRange
    | RelativeTime
    | And
    | Or
    | Not
)


# -- pipes ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sort:
    """`| sort by (f1 desc, f2)`: keys as (field, descending)."""

    keys: tuple[tuple[str, bool], ...]


@dataclass(frozen=True, slots=True)
class Limit:
    """`| limit n`."""

    n: int


@dataclass(frozen=True, slots=True)
class Offset:
    """`| offset n`."""

    n: int


@dataclass(frozen=True, slots=True)
class Fields:
    """`| fields a, b`: keep only these fields."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """A `by` key of `| stats`: `_time:1m` buckets of `step_ns`, aligned to UTC."""

    step_ns: int
    field: str = "_time"


@dataclass(frozen=True, slots=True)
class StatFunc:
    """One `| stats` function: `count()`, `count_uniq(f)`, `sum(f)`, `avg(f)`, `min(f)`, `max(f)`,
    `quantile(p, f)`; `alias` names its column (`... as n`)."""

    name: str
    args: tuple[str | float, ...] = ()
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    """`| stats by (keys) func, func ...`."""

    by: tuple[str | TimeBucket, ...]
    funcs: tuple[StatFunc, ...]


@dataclass(frozen=True, slots=True)
class Top:
    """`| top n by (fields)`: the n most frequent value combinations with their counts."""

    n: int
    by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Uniq:
    """`| uniq by (fields)`: the distinct value combinations."""

    by: tuple[str, ...]


Pipe = Sort | Limit | Offset | Fields | Stats | Top | Uniq


@dataclass(frozen=True, slots=True)
class Query:
    """A filter and the pipes applied to its result, in order."""

    filter: Node
    pipes: tuple[Pipe, ...] = ()


def conjoin(items: list[Node]) -> Node:
    """AND the items together, dropping MatchAll; no items means MatchAll."""
    kept = [i for i in items if not isinstance(i, MatchAll)]
    if not kept:
        return MatchAll()
    if len(kept) == 1:
        return kept[0]
    return And(tuple(kept))


def has_text(node: Node) -> bool:
    """True when the tree holds a message word, phrase or word prefix."""
    if isinstance(node, Word | Phrase):
        return True
    if isinstance(node, Prefix):
        return node.field == "message"
    if isinstance(node, And | Or):
        return any(has_text(i) for i in node.items)
    if isinstance(node, Not):
        return has_text(node.item)
    return False


def words(node: Node) -> list[str]:
    """Every message token the tree searches for."""
    if isinstance(node, Word):
        return [node.token]
    if isinstance(node, Phrase):
        return list(node.tokens)
    if isinstance(node, And | Or):
        return [t for i in node.items for t in words(i)]
    if isinstance(node, Not):
        return words(node.item)
    return []


def term_count(node: Node) -> int:
    """How many filter terms (leaves) the tree holds; a phrase counts each of its words."""
    if isinstance(node, And | Or):
        return sum(term_count(i) for i in node.items)
    if isinstance(node, Not):
        return term_count(node.item)
    if isinstance(node, Phrase):
        return len(node.tokens)
    if isinstance(node, FieldIn):
        return len(node.values)
    return 1


def fields(node: Node) -> set[str]:
    """Every field the tree compares (not message words or time)."""
    if isinstance(node, FieldEq | FieldIn | Compare | Prefix | Regex | Exists):
        return {node.field}
    if isinstance(node, And | Or):
        return {f for i in node.items for f in fields(i)}
    if isinstance(node, Not):
        return fields(node.item)
    return set()


def resolve_time(node: Node, now_ns: int) -> Node:
    """The tree with every RelativeTime turned into the absolute TimeRange it means at `now_ns`."""
    if isinstance(node, RelativeTime):
        return TimeRange(now_ns - node.ns, now_ns)
    if isinstance(node, And):
        return And(tuple(resolve_time(i, now_ns) for i in node.items))
    if isinstance(node, Or):
        return Or(tuple(resolve_time(i, now_ns) for i in node.items))
    if isinstance(node, Not):
        return Not(resolve_time(node.item, now_ns))
    return node


def index_only(node: Node) -> bool:
    """True when the text index alone can answer the tree (words, phrases, time and indexed fields)."""
    if isinstance(node, MatchAll | Word | Phrase | TimeRange):
        return True
    if isinstance(node, Prefix):
        # the index holds whole tokens (letters and digits), so only such a prefix can be looked up
        if node.field == "message":
            return node.prefix.isalnum()
        return node.field in INDEXED_FIELDS - {"severity"}
    if isinstance(node, FieldEq | FieldIn):
        return node.field in INDEXED_FIELDS
    if isinstance(node, Compare):
        return node.field == "severity"
    if isinstance(node, And | Or):
        return all(index_only(i) for i in node.items)
    if isinstance(node, Not):
        return index_only(node.item)
    return False
