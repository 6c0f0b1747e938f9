"""Which alert rules outlive a restart: every rule added through the library, the HTTP API or the CLI is
kept in the store; a rules file's rules are not, since the file is read again at every start — and for
the names it holds, the file wins."""

from __future__ import annotations

import logging
import threading

import orjson

from log_analytics_engine.alerting.rulefile import rule_from_dict
from log_analytics_engine.alerting.rules import AlertRule
from log_analytics_engine.errors import ConfigError, QueryError
from log_analytics_engine.storage.base import AlertLog

log = logging.getLogger(__name__)


class KeptRules:
    """Keeps the store's `alert_rules` table in step with the rules added, changed and removed."""

    def __init__(self, store: AlertLog) -> None:
        self._store = store
        self._from_file: set[str] = set()
        self._lock = threading.Lock()
        self.unreadable = 0  # stored rules that no longer load (logged at open)

    def stored(self) -> list[AlertRule]:
        """The rules kept by earlier runs; one that no longer loads is logged, counted and left stored."""
        rules = []
        for body in self._store.stored_rules():
            try:
                rules.append(rule_from_dict(body, f"stored alert rule {body.get('name')!r}"))
            except (ConfigError, QueryError) as exc:
                self.unreadable += 1
                log.error("%s; it stays stored but is not evaluated", exc)
        return rules

    def added(self, rule: AlertRule) -> None:
        """Keep `rule` (replacing one of its name); ConfigError when it is no rule, or its settings are
        not plain data."""
        if not isinstance(rule, AlertRule):
            raise ConfigError(f"expected an AlertRule, got {type(rule).__name__}")
        try:
            body = orjson.loads(orjson.dumps(rule.to_dict()))
        except orjson.JSONEncodeError as exc:
            raise ConfigError(f"rule {rule.name!r} cannot be stored: {exc}") from exc
        with self._lock:
            self._from_file.discard(rule.name)
            self._store.write_rule(rule.name, body)

    def loaded_from_file(self, rules: list[AlertRule]) -> None:
        """The file's rules replace any kept rule of the same name and are not kept themselves."""
        with self._lock:
            for rule in rules:
                self._from_file.add(rule.name)
                self._store.delete_rule(rule.name)

    def changed(self, rule: AlertRule) -> None:
        """Keep a rule's new settings (enabled or not), unless it came from a rules file."""
        with self._lock:
            if rule.name not in self._from_file:
                self._store.write_rule(rule.name, rule.to_dict())

    def removed(self, name: str) -> None:
        """Forget a rule (one from a rules file comes back when the file is read again)."""
        with self._lock:
            self._from_file.discard(name)
            self._store.delete_rule(name)
