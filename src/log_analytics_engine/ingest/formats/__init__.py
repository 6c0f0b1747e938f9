"""The log format registry: every built-in text format (one module per family, each entry declarative
or a small class), plus the user's own from config. `registry()` builds it; nothing happens on import."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest.formats import (
    access,
    desktop,
    errorlogs,
    glog,
    java,
    journal,
    logfmt,
    mobile,
    python,
    syslog,
    text,
)
from log_analytics_engine.ingest.formats.base import Format

__all__ = ("Format", "Registry", "builtin", "registry")

JSON_NAMES = ("jsonl", "ndjson", "json")


def builtin() -> tuple[Format, ...]:
    """The built-in formats, in the order detection breaks ties of equal specificity."""
    return (
        *syslog.FORMATS,
        *access.FORMATS,
        *errorlogs.FORMATS,
        *python.FORMATS,
        *java.FORMATS,
        *glog.FORMATS,
        *logfmt.FORMATS,
        *journal.FORMATS,
        *mobile.FORMATS,
        *desktop.FORMATS,
        text.TEXT,
    )


@dataclass(frozen=True)
class Registry:
    """Formats by name (and alias); `detectable` are those detection tries (all but the fallback)."""

    formats: tuple[Format, ...]

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for fmt in self.formats:
            for name in (fmt.name, *fmt.aliases):
                if name in seen or name in JSON_NAMES:
                    owner = seen.get(name, "JSON lines")
                    raise IngestError(f"format name {name!r} of {fmt.name} is taken by {owner}")
                seen[name] = fmt.name

    def __iter__(self) -> Iterator[Format]:
        return iter(self.formats)

    @property
    def fallback(self) -> Format:
        return text.TEXT

    @property
    def detectable(self) -> tuple[Format, ...]:
        return tuple(f for f in self.formats if f is not text.TEXT)

    def get(self, name: str) -> Format:
        """The format called `name` (or an alias of it); IngestError listing the names otherwise."""
        wanted = name.lower()
        for fmt in self.formats:
            if wanted == fmt.name or wanted in fmt.aliases:
                return fmt
        names = ", ".join(["auto", "jsonl", *(f.name for f in self.formats)])
        raise IngestError(f"unknown file_type or format {name!r}; use one of: {names}")

    def with_formats(self, extra: Iterable[Format]) -> Registry:
        """This registry and `extra` (user formats, tried before the built-ins on ties)."""
        return Registry((*extra, *self.formats))

    def describe(self) -> list[Mapping[str, object]]:
        return [
            {"name": f.name, "aliases": list(f.aliases), "description": f.description, "example": f.example}
            for f in self.formats
        ]


def registry(extra: Iterable[Format] = ()) -> Registry:
    """The built-in formats and the user's `extra` ones."""
    return Registry((*extra, *builtin()))
