"""Filter nodes of the query AST: one tree for dict filters, alert conditions and (later) query text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scalar = str | int | float
CompareOp = Literal["<", "<=", ">", ">="]

# Fields the text index holds besides the message words; any other field is answered by SQL.
INDEXED_FIELDS = frozenset({"level", "source", "tags", "severity"})
STRING_COLUMNS = frozenset({"level", "source", "message", "request_id", "user_id", "thread_id"})


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
    """Event time within [start, end] in ns UTC; either side may be open (None)."""

    start: int | None = None
    end: int | None = None
    include_end: bool = True


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


Node = MatchAll | Word | Phrase | FieldEq | FieldIn | Compare | TimeRange | And | Or | Not


def conjoin(items: list[Node]) -> Node:
    """AND the items together, dropping MatchAll; no items means MatchAll."""
    kept = [i for i in items if not isinstance(i, MatchAll)]
    if not kept:
        return MatchAll()
    if len(kept) == 1:
        return kept[0]
    return And(tuple(kept))


def has_text(node: Node) -> bool:
    """True when the tree holds a message word or phrase."""
    if isinstance(node, Word | Phrase):
        return True
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


def fields(node: Node) -> set[str]:
    """Every field the tree compares (not message words or time)."""
    if isinstance(node, FieldEq | FieldIn | Compare):
        return {node.field}
    if isinstance(node, And | Or):
        return {f for i in node.items for f in fields(i)}
    if isinstance(node, Not):
        return fields(node.item)
    return set()


def index_only(node: Node) -> bool:
    """True when the text index alone can answer the tree (words, phrases, time and indexed fields)."""
    if isinstance(node, MatchAll | Word | Phrase | TimeRange):
        return True
    if isinstance(node, FieldEq | FieldIn):
        return node.field in INDEXED_FIELDS
    if isinstance(node, Compare):
        return node.field == "severity"
    if isinstance(node, And | Or):
        return all(index_only(i) for i in node.items)
    if isinstance(node, Not):
        return index_only(node.item)
    return False
