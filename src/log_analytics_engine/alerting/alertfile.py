"""The alerts file of `persist_alerts_to_file` / `load_alerts_from_file`: JSON lines, one alert each.

We write `Alert.to_dict()` (lossless); we read that and the original engine's lines too (see
alerting/records.py for how its fields were written).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import orjson

from log_analytics_engine.alerting.rules import Alert
from log_analytics_engine.errors import IngestError


def write_alerts(path: Path, alerts: Iterable[Alert]) -> int:
    """Write the alerts, one JSON object a line (replacing the file); returns how many."""
    count = 0
    with path.open("wb") as out:
        for alert in alerts:
            out.write(orjson.dumps(alert.to_dict()) + b"\n")
            count += 1
    return count


def read_alerts(path: Path) -> list[Alert]:
    """Every alert of a file written by either engine; IngestError naming the line of one that is not."""
    if not path.exists():
        raise IngestError(f"no such alerts file: {path}")
    alerts = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            alerts.append(Alert.from_dict(data))
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            raise IngestError(f"{path}:{number}: not an alert record: {exc}") from exc
    return alerts
