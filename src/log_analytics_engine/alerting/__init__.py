"""Alerting: rules, incremental per-batch evaluation, fired alerts and notification hooks."""
