"""Alert rules from a YAML file (`rules.yaml`), validated with errors naming the rule and the field.

rules:
  - name: High Error Rate            # unique
    query: 'level:ERROR source:db'   # query-language filter, and/or
    conditions: {level: ERROR}       # the dict filters of query_logs
    severity: high                   # low | medium | high | critical
    threshold: 3                     # >= 1 matching logs ...
    time_window: 120                 # ... within this many seconds of event time
    cooldown: 60                     # seconds before the rule may fire again
    enabled: true
    description: free text
    labels: {team: db}               # travel with every alert of the rule
    annotations: {runbook: https://example.org/runbooks/db}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from log_analytics_engine.alerting.rules import AlertRule
from log_analytics_engine.errors import ConfigError, QueryError

FIELDS = frozenset(
    {
        "name",
        "description",
        "query",
        "conditions",
        "severity",
        "threshold",
        "time_window",
        "cooldown",
        "enabled",
        "labels",
        "annotations",
    }
)
_MAPPINGS = ("conditions", "labels", "annotations")


def parse_rules(text: str, source: str = "rules") -> list[AlertRule]:
    """Rules from YAML text; ConfigError naming `source`, the rule and the field for anything wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ConfigError(f"{source}: expected a mapping with a `rules:` list")
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for index, item in enumerate(data["rules"], start=1):
        where = f"{source}: rule {index}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping of rule fields, got {type(item).__name__}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: field name: required, a non-empty string")
        where = f"{where} ({name})"
        if name in seen:
            raise ConfigError(f"{where}: field name: another rule has this name")
        seen.add(name)
        rules.append(rule_from_dict(item, where))
    return rules


def rule_from_dict(item: dict[str, Any], where: str) -> AlertRule:
    """One rule of the rules-file schema; ConfigError naming `where` and the field."""
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(FIELDS))}"
        )
    if "query" not in item and "conditions" not in item:
        raise ConfigError(f"{where}: field query: a rule needs `query` or `conditions`")
    for key in _MAPPINGS:
        if key in item and not isinstance(item[key], dict):
            raise ConfigError(f"{where}: field {key}: expected a mapping, got {type(item[key]).__name__}")
    if "query" in item and not isinstance(item["query"], str):
        raise ConfigError(f"{where}: field query: expected query text")
    if "enabled" in item and not isinstance(item["enabled"], bool):
        raise ConfigError(f"{where}: field enabled: expected true or false")
    try:
        return AlertRule(
            name=item["name"],
            description=str(item.get("description", "")),
            conditions=dict(item.get("conditions") or {}),
            severity=item.get("severity", "medium"),
            threshold=item.get("threshold", 1),
            time_window=item.get("time_window", 300),
            cooldown=item.get("cooldown", 600),
            enabled=item.get("enabled", True),
            query=item.get("query"),
            labels={str(k): str(v) for k, v in (item.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (item.get("annotations") or {}).items()},
        )
    except (ConfigError, QueryError) as exc:  # QueryError: a condition the dict filters refuse
        raise ConfigError(f"{where}: {exc}") from exc


def load_rules(path: str | Path) -> list[AlertRule]:
    """Rules from a YAML file; a missing or unreadable file is a ConfigError naming it."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rules file {file}: {exc}") from exc
    return parse_rules(text, str(file))
