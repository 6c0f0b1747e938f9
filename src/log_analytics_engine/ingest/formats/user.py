"""The user's own formats, from a TOML file (`--format-file`, or `format_file` in the server config):
one table per format under `[formats.NAME]`, with an RE2 `pattern` of named groups or a grok-like
`grok` (`%{PATTERN:field}`, `%{PATTERN:field:int}`, `%{PATTERN}`), and optionally the group holding
the time (`time`, default `time`) and its strptime layout (`time_layout`, else the scanner reads it),
the level group (`level`), the source groups (`source`), `multiline`, `description` and `example`
(which must then match). Every definition is checked at load; an error names the format and the
problem. The groups' names follow base.py's conventions, so a user format is a RegexFormat.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from log_analytics_engine.errors import ConfigError
from log_analytics_engine.ingest.formats import JSON_NAMES, builtin
from log_analytics_engine.ingest.formats.base import RegexFormat, check_field, check_name, group_names
from log_analytics_engine.query import regex

# Grok's common patterns, written for RE2 (linear time: no backreferences, no lookaround).
GROK: Mapping[str, str] = {
    "WORD": r"\w+",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "INT": r"[+-]?\d+",
    "POSINT": r"\d+",
    "NONNEGINT": r"\d+",
    "NUMBER": r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)",
    "BASE10NUM": r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)",
    "IPV4": r"(?:\d{1,3}\.){3}\d{1,3}",
    "IPV6": r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?",
    "IP": r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})",
    "HOSTNAME": r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?",
    "IPORHOST": r"(?:(?:\d{1,3}\.){3}\d{1,3}|[A-Za-z0-9][A-Za-z0-9.-]*)",
    "USER": r"[\w.@-]+",
    "USERNAME": r"[\w.@-]+",
    "PROG": r"[\w./-]+",
    "PATH": r"(?:/[^\s]*)+",
    "URIPATH": r"/[^\s?#]*",
    "URIPATHPARAM": r"/[^\s#]*",
    "URI": r"[A-Za-z][A-Za-z0-9+.-]*://\S+",
    "UUID": r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}",
    "QS": r'"(?:[^"\\]|\\.)*"',
    "QUOTEDSTRING": r'"(?:[^"\\]|\\.)*"',
    "LOGLEVEL": (
        r"(?i:trace|debug|info|notice|warn(?:ing)?|err(?:or)?|crit(?:ical)?|fatal|severe|emerg(?:ency)?|alert|panic)"
    ),
    "TIMESTAMP_ISO8601": r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?",
    "HTTPDATE": r"\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}",
    "SYSLOGTIMESTAMP": r"[A-Za-z]{3} +\d{1,2} \d\d:\d\d:\d\d",
    "DATESTAMP": r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?",
    "TIME": r"\d\d:\d\d:\d\d(?:[.,]\d+)?",
}
_GROK_REF = re.compile(r"%\{([A-Z0-9_]+)(?::([A-Za-z_][\w.]*))?(?::(int|float))?\}")
# User formats win detection ties against built-ins that match the same lines.
USER_SPECIFICITY = 100
_KEYS = {"pattern", "grok", "time", "time_layout", "level", "source", "multiline", "description", "example"}


def grok_to_regex(grok: str) -> tuple[str, frozenset[str]]:
    """The RE2 pattern of a grok expression and the fields typed `:int`/`:float` (written as numbers);
    ValueError naming an unknown pattern."""
    numeric: set[str] = set()

    def expand(match: re.Match[str]) -> str:
        name, field, kind = match.groups()
        if name not in GROK:
            raise ValueError(f"unknown grok pattern %{{{name}}}; known: {', '.join(sorted(GROK))}")
        if field is None:
            return f"(?:{GROK[name]})"
        if kind:
            numeric.add(field.replace(".", "_"))
        return f"(?P<{field.replace('.', '_')}>{GROK[name]})"

    pattern = _GROK_REF.sub(expand, grok)
    left = re.search(r"%\{[^}]*\}?", pattern)
    if left:  # a lower-case name or a field name that is not one, which would match literally
        raise ValueError(
            f"{left.group(0)!r} is not a grok reference: %{{PATTERN}}, %{{PATTERN:field}} or "
            "%{PATTERN:field:int}, PATTERN in capitals, field a name"
        )
    return pattern, frozenset(numeric)


def _renamed(pattern: str, group: str, to: str) -> str:
    """`pattern` with its group `group` named `to` (a format names its time and level groups)."""
    return pattern.replace(f"(?P<{group}>", f"(?P<{to}>")


def user_format(name: str, spec: Mapping[str, Any]) -> RegexFormat:
    """A checked user format; ConfigError naming the format and what is wrong with it."""
    try:
        return _build(name, spec)
    except (ValueError, TypeError, re.error) as exc:
        raise ConfigError(f"format {name!r}: {exc}") from exc


def _build(name: str, spec: Mapping[str, Any]) -> RegexFormat:
    check_name(name)
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(_KEYS))}")
    if ("pattern" in spec) == ("grok" in spec):
        raise ValueError("give either `pattern` (a regular expression) or `grok`")
    numeric: frozenset[str] = frozenset()
    if "grok" in spec:
        pattern, numeric = grok_to_regex(_text(spec, "grok"))
    else:
        pattern = _text(spec, "pattern")
    pattern = pattern if pattern.startswith("^") else "^" + pattern
    refusal = regex.refusal(pattern)
    if refusal is not None:
        lookaround = refusal in ("invalid perl operator", "invalid escape sequence")
        hint = "; RE2 has no backreferences or lookaround" if lookaround else ""
        raise ValueError(f"pattern is not one RE2 accepts ({refusal}{hint})")
    if regex.compiled(pattern).search("") is not None:
        raise ValueError(
            "the pattern matches an empty line, so it would read every file's lines: make it "
            "require what each line of the format holds"
        )
    names = group_names(pattern)
    for role in ("time", "level"):
        group = _text(spec, role, role)
        if role in spec and group not in names:
            raise ValueError(f"{role} group {group!r} is not a group of the pattern ({', '.join(names)})")
        if group != role and group in names:
            pattern = _renamed(pattern, group, role)
    sources = spec.get("source", ())
    sources = (sources,) if isinstance(sources, str) else tuple(sources)
    names = group_names(pattern)
    for group in (*sources,):
        if group not in names:
            raise ValueError(f"source group {group!r} is not a group of the pattern ({', '.join(names)})")
    for group in names:
        check_field(group)
    multiline = spec.get("multiline", True)
    if not isinstance(multiline, bool):
        raise ValueError(f"`multiline` must be true or false, got {multiline!r}")
    layout = spec.get("time_layout")
    if layout is not None and ("%" not in str(layout) or "time" not in names):
        raise ValueError("`time_layout` is a strptime layout (%Y-%m-%d %H:%M:%S) for the `time` group")
    fmt = RegexFormat(
        name=name,
        description=_text(spec, "description", f"user format {name}"),
        example=_text(spec, "example", ""),
        pattern=pattern,
        multiline=multiline,
        specificity=USER_SPECIFICITY,
        source=sources,
        numeric=numeric,
        time_layout=None if layout is None else str(layout),
    )
    if fmt.example and regex.compiled(pattern).search(fmt.example) is None:
        raise ValueError(f"the example {fmt.example!r} does not match the pattern")
    return fmt


def _text(spec: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"`{key}` must be a string, got {value!r}")
    return value


def _check_free(name: str) -> None:
    """ValueError when `name` is taken: by a built-in's name or alias, JSON lines' or `auto`."""
    if name == "auto":
        raise ValueError("the name 'auto' is reserved (it asks for detection)")
    if name in JSON_NAMES:
        raise ValueError(f"the name {name!r} is taken by JSON lines")
    for fmt in builtin():
        if name == fmt.name or name in fmt.aliases:
            raise ValueError(f"the name {name!r} is taken by the built-in {fmt.name}; choose another")


def load_formats(source: Path | Mapping[str, Any]) -> list[RegexFormat]:
    """The formats of a TOML file (or its parsed tables: `{"formats": {NAME: {...}}}`)."""
    if isinstance(source, Path):
        try:
            tables = tomllib.loads(source.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the format file {source}: {exc}") from exc
        try:
            return _formats_of(tables)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
    return _formats_of(dict(source))


def _formats_of(tables: Mapping[str, Any]) -> list[RegexFormat]:
    formats = tables.get("formats", {})
    if not isinstance(formats, dict) or not all(isinstance(v, dict) for v in formats.values()):
        raise ConfigError("user formats are tables: [formats.NAME] with a pattern or grok")
    for name in formats:
        try:
            _check_free(name)
        except ValueError as exc:
            raise ConfigError(f"format {name!r}: {exc}") from exc
    return [user_format(name, spec) for name, spec in formats.items()]
