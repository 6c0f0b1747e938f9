"""The Python blocks of the README's library section run as written, in order, and do what they say."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    # up to the shippers' section: its blocks are clients and configs that need a running server
    # (tests/test_loki_push.py and tests/test_otlp.py run its python blocks against one)
    return text.split("## Library quick start", 1)[1].split("## Shippers and protocols", 1)[0]


def _library_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", _section(), flags=re.S)


def _sample_files(root: Path) -> None:
    lines = [
        {"timestamp": "2025-07-21T11:30:00Z", "level": "ERROR", "message": "db down", "source": "db"},
        {"timestamp": "2025-07-21T11:31:00Z", "level": "WARN", "message": "cache cold", "tags": ["api"]},
        {"timestamp": "2025-07-21T11:32:00Z", "level": "INFO", "message": "ok", "region": "eu"},
    ]
    (root / "logs.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (root / "app.log").write_text("2025-07-21 11:40:00,120 ERROR [billing] charge failed: cache timeout\n")
    (root / "logs").mkdir()
    (root / "logs" / "a.jsonl").write_text('{"message": "from dir", "level": "debug"}\nnot json\n')
    with gzip.open(root / "logs" / "b.log.gz", "wt") as handle:
        handle.write("Oct 11 22:14:15 host sshd[42]: Failed password for root\n")


def test_readme_has_library_blocks() -> None:
    """The library section keeps its examples (so the next test is not vacuous)."""
    assert len(_library_blocks()) >= 8


def test_library_blocks_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block runs against one engine; the engine then holds what the blocks ingested."""
    monkeypatch.chdir(tmp_path)
    _sample_files(tmp_path)
    [rules_yaml] = re.findall(r"```yaml\n(.*?)```", _section(), flags=re.S)
    (tmp_path / "rules.yaml").write_text(rules_yaml)  # the README's rules file example
    namespace: dict[str, Any] = {}
    for block in _library_blocks():
        exec(compile(block, str(README), "exec"), namespace)  # our own README
    engine = namespace["engine"]
    # 1 + 2 entries, 3 JSONL lines, 1 text line, 2 files of the directory (one line rejected)
    assert engine.count() == 9
    assert namespace["metrics"]["count"] == 3
    assert namespace["total"] == engine.count({"level": "ERROR"}) == 3
    assert {log.message for log in engine.query_logs({"keyword": "cache"})} == {
        "Cache miss for key user:42",
        "cache refreshed",
        "cache cold",
        "2025-07-21 11:40:00,120 ERROR [billing] charge failed: cache timeout",
    }
    assert (tmp_path / "rejected.txt").read_text() == "not json\n"
    assert namespace["stats"]["total_logs"] == 9
    assert "loganalytics_total_logs 9.0" in namespace["prom_metrics"]
    assert [r.name for r in engine.get_alert_rules()] == ["High Error Rate", "db errors"]
    engine.close()
