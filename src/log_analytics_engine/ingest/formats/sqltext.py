"""SQL text of the formats' constants."""

from __future__ import annotations


def q(text: str) -> str:
    """A constant of this package as a SQL string literal (never input: formats are code or checked
    config)."""
    return "'" + text.replace("'", "''") + "'"
