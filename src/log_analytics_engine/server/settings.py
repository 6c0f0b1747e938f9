r"""Server settings: defaults, then one TOML file, then `LOG_ANALYTICS_*` environment variables, then
command-line flags (each overriding the one before).

```toml
[server]
host = "127.0.0.1"          # a non-loopback address needs API keys, or insecure = true
port = 8080
data = "log-analytics-data" # the embedded store's directory; absent: in memory
rules = "rules.yaml"        # alert rules file loaded at start (optional)
insecure = false            # allow binding beyond loopback without API keys
durability = "os"           # an ingest is answered once in the WAL: "os" (survives a killed server)
                            # or "fsync" (on the disk: survives a power loss; writers share fsyncs)
retention = "30d"           # keep logs this long (h, d or w), whole UTC days; absent: forever
max_disk = "20GB"           # and the data directory's live data this small, the oldest days first
memory_limit = "512MB"      # DuckDB's memory (its cache, sorts, hash tables); past it, work spills to disk

[limits]
max_body_bytes = 16777216   # larger request bodies get 413
max_pending_ingest = 8      # ingest requests in progress; more get 429 with Retry-After
max_search_limit = 1000     # largest `limit` of /api/v1/search

[ingest]
timezone = "UTC"            # zone of naive times in text logs (an IANA name)
format_file = "formats.toml" # more user formats ([formats.NAME] tables), besides those below

[protocols]
es_prefix = "/es"           # the Elasticsearch API also under this path ("/es/_bulk"); always at "/"
es_source_fields = "service.name,host.name" # document fields read as the source, first present

[syslog]                    # listeners, off unless an address is given (also --syslog-udp/-tcp)
udp = "127.0.0.1:5514"
tcp = "127.0.0.1:5514"
tls = "127.0.0.1:6514"      # TCP with TLS: needs tls_cert and tls_key (PEM files)
tls_cert = "server.pem"
tls_key = "server.key"
max_connections = 1000      # open TCP/TLS connections; more are closed at once (counted)

[formats.myapp]             # a user log format: a regex of named groups (or grok = "%{...}")
pattern = '^(?P<time>\S+ \S+) \[(?P<level>\w+)\] (?P<component>\w+): '
source = "component"

[[api_keys]]                # any number; `log-analytics keygen` prints one
name = "shipper"
sha256 = "…"                # hex SHA-256 of the key: keys are never stored in clear
scopes = ["ingest"]         # ingest, query, admin (admin may do everything)
```

Environment: `LOG_ANALYTICS_HOST`, `_PORT`, `_DATA`, `_RULES`, `_INSECURE` (1/true), `_DURABILITY`,
`_RETENTION`, `_MAX_DISK`,
`_MAX_BODY_BYTES`, `_MAX_PENDING_INGEST`, `_MAX_SEARCH_LIMIT`, `_TIMEZONE`, `_FORMAT_FILE`, `_ES_PREFIX`,
`_ES_SOURCE_FIELDS`, `_SYSLOG_UDP`, `_SYSLOG_TCP`, `_SYSLOG_TLS`, `_SYSLOG_TLS_CERT`, `_SYSLOG_TLS_KEY`,
`_SYSLOG_MAX_CONNECTIONS`, and `LOG_ANALYTICS_API_KEYS`:
`_MEMORY_LIMIT`, `_MAX_BODY_BYTES`, `_MAX_PENDING_INGEST`, `_MAX_SEARCH_LIMIT`, `_TIMEZONE`, `_FORMAT_FILE`,
`_ES_PREFIX`, `_ES_SOURCE_FIELDS`, `_SYSLOG_UDP`, `_SYSLOG_TCP`, `_SYSLOG_TLS`, `_SYSLOG_TLS_CERT`,
`_SYSLOG_TLS_KEY`, `_SYSLOG_MAX_CONNECTIONS`, and `LOG_ANALYTICS_API_KEYS`:
space-separated `name:scope+scope:sha256hex` items, added to the file's keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from log_analytics_engine.errors import ConfigError
from log_analytics_engine.ingest.formats.base import RegexFormat
from log_analytics_engine.ingest.formats.user import load_formats
from log_analytics_engine.ingest.formats.zones import check_zone
from log_analytics_engine.memory import MEMORY_LIMIT, memory_limit_bytes
from log_analytics_engine.storage.base import DURABILITY_MODES
from log_analytics_engine.storage.retention import RetentionPolicy

SCOPES = ("ingest", "query", "admin")
_HEX64 = re.compile(r"[0-9a-f]{64}")
ENV_PREFIX = "LOG_ANALYTICS_"


def hash_key(key: str) -> str:
    """The hex SHA-256 under which a key is configured."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """One configured key: a name for logs, its SHA-256, and what it may do."""

    name: str
    sha256: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """True when the key has the scope (admin has every scope)."""
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class Settings:
    """Everything the server reads at start."""

    host: str = "127.0.0.1"
    port: int = 8080
    data: Path | None = None
    rules: Path | None = None
    insecure: bool = False
    durability: str = "os"
    retention: str | None = None
    max_disk: str | None = None
    memory_limit: str = MEMORY_LIMIT
    max_body_bytes: int = 16 * 1024 * 1024
    max_pending_ingest: int = 8
    max_search_limit: int = 1000
    api_keys: tuple[ApiKey, ...] = field(default_factory=tuple)
    timezone: str = "UTC"
    format_file: Path | None = None
    formats: tuple[RegexFormat, ...] = field(default_factory=tuple)
    es_prefix: str = "/es"
    es_source_fields: str = "service.name,host.name"
    syslog_udp: str | None = None
    syslog_tcp: str | None = None
    syslog_tls: str | None = None
    syslog_tls_cert: Path | None = None
    syslog_tls_key: Path | None = None
    syslog_max_connections: int = 1000

    def __post_init__(self) -> None:
        check_zone(self.timezone)
        if self.durability not in DURABILITY_MODES:
            raise ConfigError(
                f"durability must be one of {', '.join(DURABILITY_MODES)}, got {self.durability!r}"
            )
        RetentionPolicy.of(self.retention, self.max_disk)  # a bad value is named before the store opens
        memory_limit_bytes(self.memory_limit)
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be 1-65535, got {self.port}")
        if self.es_prefix and not (self.es_prefix.startswith("/") and len(self.es_prefix) > 1):
            raise ConfigError(f"es_prefix must be empty or a path like /es, got {self.es_prefix!r}")
        if self.syslog_tls is not None and (self.syslog_tls_cert is None or self.syslog_tls_key is None):
            raise ConfigError("syslog tls needs tls_cert and tls_key ([syslog] PEM files)")
        for name in ("max_body_bytes", "max_pending_ingest", "max_search_limit", "syslog_max_connections"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")

    def check_bind(self) -> None:
        """ConfigError unless the server may listen on `host`: loopback, or keys, or insecure."""
        if self.api_keys or self.insecure or is_loopback(self.host):
            return
        raise ConfigError(
            f"refusing to listen on {self.host} without API keys: configure [[api_keys]] (see "
            "`log-analytics keygen`) or pass --insecure"
        )


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _key(item: Mapping[str, Any], where: str) -> ApiKey:
    name, digest, scopes = item.get("name"), item.get("sha256"), item.get("scopes")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: name: required, a non-empty string")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise ConfigError(
            f"{where} ({name}): sha256: required, 64 lower-case hex digits of the key's SHA-256"
        )
    if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
        raise ConfigError(
            f"{where} ({name}): scopes: a non-empty list of {', '.join(SCOPES)}; got {scopes!r}"
        )
    return ApiKey(name, digest, frozenset(scopes))


_SECTIONS: dict[str, dict[str, type]] = {
    "server": {
        "host": str,
        "port": int,
        "data": str,
        "rules": str,
        "insecure": bool,
        "durability": str,
        "retention": str,
        "max_disk": str,
        "memory_limit": str,
    },
    "limits": {"max_body_bytes": int, "max_pending_ingest": int, "max_search_limit": int},
    "ingest": {"timezone": str, "format_file": str},
    "protocols": {"es_prefix": str, "es_source_fields": str},
    "syslog": {"udp": str, "tcp": str, "tls": str, "tls_cert": str, "tls_key": str, "max_connections": int},
}
# Sections whose keys are settings of that name with a prefix (`[syslog] udp` is `syslog_udp`).
_PREFIXED = {"syslog": "syslog_"}


def _from_file(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    values: dict[str, Any] = {}
    for section, body in raw.items():
        if section == "api_keys":
            if not isinstance(body, list):
                raise ConfigError(f"{path}: api_keys must be an array of tables ([[api_keys]])")
            values["api_keys"] = tuple(_key(item, f"{path}: api_keys[{i}]") for i, item in enumerate(body))
            continue
        if section == "formats":
            try:
                values["formats"] = tuple(load_formats({"formats": body}))
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from exc
            continue
        known = _SECTIONS.get(section)
        if known is None or not isinstance(body, dict):
            raise ConfigError(
                f"{path}: unknown section [{section}]; sections: {', '.join(_SECTIONS)}, formats, api_keys"
            )
        for key, value in body.items():
            kind = known.get(key)
            if kind is None:
                raise ConfigError(f"{path}: [{section}] unknown key {key!r}; keys: {', '.join(known)}")
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"{path}: [{section}] {key} must be a {kind.__name__}, got {value!r}")
            _check_named(section, key, value, f"{path}: [{section}] {key}")
            values[_PREFIXED.get(section, "") + key] = value
    return values


# Settings whose values are checked where they are read, so that an error names the file and key or
# the variable (the server would otherwise fail at start with no word of where the value came from).
# A format file is read, and its errors named, when the engine opens.
_NAMED_CHECKS: dict[tuple[str, str], Callable[[str], object]] = {
    ("ingest", "timezone"): check_zone,
    ("server", "memory_limit"): memory_limit_bytes,
}


def _check_named(section: str, key: str, value: object, where: str) -> None:
    """ConfigError naming `where` (the file and key, or the variable) when `[section] key` is invalid."""
    check = _NAMED_CHECKS.get((section, key))
    if check is not None:
        try:
            check(str(value))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for section_name, section in _SECTIONS.items():
        for short, kind in section.items():
            key = _PREFIXED.get(section_name, "") + short
            text = env.get(ENV_PREFIX + key.upper())
            if text is None:
                continue
            if kind is bool:
                values[key] = text.strip().lower() in ("1", "true", "yes", "on")
            elif kind is int:
                try:
                    values[key] = int(text)
                except ValueError as exc:
                    raise ConfigError(f"{ENV_PREFIX}{key.upper()} must be an integer, got {text!r}") from exc
            else:
                _check_named(section_name, short, text, ENV_PREFIX + key.upper())
                values[key] = text
    keys = env.get(ENV_PREFIX + "API_KEYS", "").split()
    parsed = []
    for i, item in enumerate(keys):
        parts = item.split(":")
        if len(parts) != 3:
            raise ConfigError(f"{ENV_PREFIX}API_KEYS item {i + 1}: expected name:scope+scope:sha256hex")
        parsed.append(_key({"name": parts[0], "scopes": parts[1].split("+"), "sha256": parts[2]}, "env"))
    if parsed:
        values["env_api_keys"] = tuple(parsed)
    return values


def load_settings(config: Path | None = None, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
    """Settings from defaults, the TOML file, the environment and the flags (None flags are unset)."""
    values: dict[str, Any] = {}
    if config is not None:
        values.update(_from_file(config))
    from_env = _from_env(os.environ if env is None else env)
    extra_keys = from_env.pop("env_api_keys", ())
    values.update(from_env)
    values.update({k: v for k, v in flags.items() if v is not None})
    values["api_keys"] = tuple(values.get("api_keys", ())) + tuple(extra_keys)
    for key in ("data", "rules", "format_file", "syslog_tls_cert", "syslog_tls_key"):
        if isinstance(values.get(key), str):
            values[key] = Path(values[key])
    names = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    return Settings(**values)
