"""Text formats: ingest speed of syslog and access logs through the format registry, against the text
path before it (`bench/textref.py`, same engine, same file, same process), and the share of lines
read with the right time and level on labelled corpora (loghub's `X.log` + `X.log_structured.csv`).

    python -m bench.formats                      # 500k lines of each format, 3 runs, median
    python -m bench.formats --lines 100000 --runs 1
    python -m bench.formats --corpus ../shared/datasets/loghub   # accuracy too

The section "Text formats" of bench/results.md is replaced with the table (`--output`).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import textref
from bench.abuse import output_options, publish, run_line, section_text
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.ingest.files import _chunk_table, _prefetched, read_chunks
from log_analytics_engine.model import normalize_level

BENCH_DIR = Path(__file__).resolve().parent
SECTION = "## Text formats (`python -m bench.formats`)"
TARGET_LINES_PER_S = 150_000
TARGET_RATIO = 0.8
TARGET_ACCURACY = 0.98
_PROGRAMS = ("sshd", "CRON", "systemd", "kernel", "sudo", "postfix/smtpd", "dhclient", "nginx")
_WORDS = [
    "accepted",
    "failed",
    "session",
    "opened",
    "closed",
    "for",
    "user",
    "root",
    "from",
    "port",
    "ssh2",
    "timeout",
    "connection",
    "reset",
]
_PATHS = ("/", "/index.html", "/api/v1/orders", "/static/app.js", "/login", "/img/logo.png", "/search")
_AGENTS = ("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "curl/8.5.0", "Go-http-client/1.1")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def write_syslog(path: Path, n: int, seed: int = 7) -> None:
    """`n` BSD syslog lines over a day, several hosts and programs, with pids."""
    rng = random.Random(seed)
    start = dt.datetime(2025, 7, 21)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            t = start + dt.timedelta(seconds=i * 86_400 / n)
            host, prog = f"web{rng.randrange(12):02d}", rng.choice(_PROGRAMS)
            words = " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(4, 14)))
            out.write(
                f"{_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S} {host} "
                f"{prog}[{rng.randrange(1, 65536)}]: {words}\n"
            )


def write_access(path: Path, n: int, seed: int = 11) -> None:
    """`n` combined access log lines over a day: clients, methods, paths, statuses, sizes, agents."""
    rng = random.Random(seed)
    start = dt.datetime(2025, 7, 21, tzinfo=dt.UTC)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            t = start + dt.timedelta(seconds=i * 86_400 / n)
            ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            status = rng.choices((200, 304, 404, 500, 503), (80, 8, 8, 2, 2))[0]
            method = rng.choices(("GET", "POST", "PUT"), (85, 12, 3))[0]
            path_ = rng.choice(_PATHS) + (f"?q={rng.randrange(10**6)}" if rng.random() < 0.3 else "")
            out.write(
                f'{ip} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "{method} {path_} HTTP/1.1" '
                f"{status} {rng.randrange(100, 90_000)} "
                f'"https://example.com/" "{rng.choice(_AGENTS)}"\n'
            )


def ingest_formats(data: Path, store: Path, file_type: str) -> float:
    """Seconds to ingest the file through the format registry (detected or forced), store closed."""
    engine = LogAnalyticsEngine(store, alert_interval=None)
    started = time.perf_counter()
    report = engine.ingest_logs_from_file(data, file_type=file_type)
    elapsed = time.perf_counter() - started
    engine.close()
    assert report["count"] > 0, report
    return elapsed


def ingest_reference(data: Path, store: Path) -> float:
    """Seconds to ingest the file through the text path before the format registry (one SQL per chunk)."""
    engine = LogAnalyticsEngine(store, alert_interval=None)
    pipeline = engine._pipeline  # the reference drives the same pipeline the engine's file ingest uses
    started = time.perf_counter()
    select = textref.select_sql()
    for chunk in _prefetched(read_chunks(data)):
        pipeline.ingest_select(select, _chunk_table(chunk))
    elapsed = time.perf_counter() - started
    engine.close()
    return elapsed


@dataclass
class Speed:
    name: str
    lines: int
    detected: float
    forced: float
    reference: float


def median_of(runs: int, work: Callable[[Path], float], tmp: Path) -> float:
    times = []
    for i in range(runs):
        store = tmp / f"store-{time.monotonic_ns()}-{i}"
        times.append(work(store))
    return statistics.median(times)


def measure_speed(lines: int, runs: int, tmp: Path) -> list[Speed]:
    out = []
    for name, writer, forced in (
        ("syslog", write_syslog, "syslog-rfc3164"),
        ("access", write_access, "access-combined"),
    ):
        data = tmp / f"{name}.log"
        writer(data, lines)
        progress(f"{name}: {lines:,} lines written ({data.stat().st_size / 1e6:.0f} MB)")
        detected = median_of(runs, lambda s, d=data: ingest_formats(d, s, "text"), tmp)
        forced_s = median_of(runs, lambda s, d=data, f=forced: ingest_formats(d, s, f), tmp)
        reference = median_of(runs, lambda s, d=data: ingest_reference(d, s), tmp)
        out.append(Speed(name, lines, detected, forced_s, reference))
        progress(
            f"{name}: detected {lines / detected:,.0f}/s, forced {lines / forced_s:,.0f}/s, "
            f"before {lines / reference:,.0f}/s"
        )
    return out


@dataclass
class Accuracy:
    name: str
    lines: int
    time_right: int
    time_known: int
    level_right: int
    level_known: int
    format: str


def _truth_time(row: dict[str, str]) -> tuple[int, ...] | None:
    """(month, day, hour, minute, second) of a labelled line, or None (loghub's columns vary per file).
    Years are left out: syslog lines carry none, so a year is the engine's inference, not a reading."""
    try:
        if (
            "Time" in row and "Date" in row and row["Date"].isdigit() and len(row["Date"]) == 6
        ):  # HDFS 081109 203615
            d, t = row["Date"], row["Time"]
            return (int(d[2:4]), int(d[4:6]), int(t[0:2]), int(t[2:4]), int(t[4:6]))
        if "Month" in row:  # Linux: Month, Date, Time
            h, m, s = (int(x) for x in row["Time"].split(":"))
            return (_MONTHS.index(row["Month"]) + 1, int(row["Date"]), h, m, s)
        if "Day" in row and "Date" in row:  # OpenSSH: Date (month), Day, Time
            h, m, s = (int(x) for x in row["Time"].split(":"))
            return (_MONTHS.index(row["Date"]) + 1, int(row["Day"]), h, m, s)
        if "Time" in row:  # Apache: Sun Dec 04 04:47:44 2005
            t = dt.datetime.strptime(row["Time"], "%a %b %d %H:%M:%S %Y")
            return (t.month, t.day, t.hour, t.minute, t.second)
    except (ValueError, KeyError):
        return None
    return None


def _truth_level(row: dict[str, str]) -> str | None:
    level = row.get("Level", "")
    folded = normalize_level(level)
    return (
        folded if level and folded in {"TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "FATAL"} else None
    )


def measure_accuracy(corpus: Path, tmp: Path) -> list[Accuracy]:
    """For each `X.log` with `X.log_structured.csv` under `corpus`: lines read with the right time
    (to the second) and the right level, where the labels give them."""
    out = []
    for log in sorted(corpus.rglob("*.log")):
        labels = log.with_name(log.name + "_structured.csv")
        if not labels.exists():
            continue
        rows = list(csv.DictReader(labels.open(encoding="utf-8", errors="replace")))
        engine = LogAnalyticsEngine(alert_interval=None)
        report = engine.ingest_logs_from_file(log, file_type="text")
        stored = engine.query_logs({}, sort_by="seq")
        engine.close()
        acc = Accuracy(log.stem, len(rows), 0, 0, 0, 0, str(report["format"]))
        for row, entry in zip(rows, stored, strict=False):
            truth = _truth_time(row)
            if truth is not None:
                acc.time_known += 1
                t = entry.datetime if hasattr(entry, "datetime") else None
                if t is None:
                    t = dt.datetime.fromtimestamp((entry.timestamp_ns or 0) / 1e9, dt.UTC)
                acc.time_right += (t.month, t.day, t.hour, t.minute, t.second) == truth
            level = _truth_level(row)
            if level is not None:
                acc.level_known += 1
                acc.level_right += entry.level == level
        if len(stored) != len(rows):
            progress(f"{log.name}: {len(stored)} logs stored for {len(rows)} labelled lines (events joined)")
        out.append(acc)
    return out


def render(speeds: list[Speed], accuracy: list[Accuracy]) -> tuple[str, list[str]]:
    missed: list[str] = []
    lines = [
        "| text ingest (lines/s) | formats, detected | formats, forced | before (one SQL per chunk) "
        "| detected ÷ before | target |",
        "|---|---|---|---|---|---|",
    ]
    for s in speeds:
        rate, ratio = s.lines / s.detected, s.reference / s.detected
        lines.append(
            f"| {s.name}, {s.lines:,} lines | {rate:,.0f} | {s.lines / s.forced:,.0f} "
            f"| {s.lines / s.reference:,.0f} "
            f"| {ratio:.2f}× | ≥ {TARGET_LINES_PER_S:,}/s, ≥ {TARGET_RATIO}× |"
        )
        if rate < TARGET_LINES_PER_S:
            missed.append(f"{s.name} {rate:,.0f} lines/s < {TARGET_LINES_PER_S:,}")
        if ratio < TARGET_RATIO:
            missed.append(f"{s.name} {ratio:.2f}× of the path before < {TARGET_RATIO}×")
    if accuracy:
        lines += [
            "",
            "| labelled file | format detected | lines | right time (to the s) | right level |",
            "|---|---|---|---|---|",
        ]
        for a in accuracy:
            t = f"{a.time_right / a.time_known:.1%} of {a.time_known:,}" if a.time_known else "no labels"
            lv = f"{a.level_right / a.level_known:.1%} of {a.level_known:,}" if a.level_known else "no labels"
            lines.append(f"| {a.name} | {a.format} | {a.lines:,} | {t} | {lv} |")
            for right, known, what in (
                (a.time_right, a.time_known, "time"),
                (a.level_right, a.level_known, "level"),
            ):
                if known and right / known < TARGET_ACCURACY:
                    missed.append(f"{a.name} {what} {right / known:.1%} < {TARGET_ACCURACY:.0%}")
    return "\n".join(lines), missed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=500_000, help="lines of each generated format")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each path (the median is shown)")
    parser.add_argument(
        "--corpus", type=Path, help="a directory of labelled logs (X.log + X.log_structured.csv)"
    )
    output_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as tmp:
        speeds = measure_speed(opts.lines, opts.runs, Path(tmp))
        accuracy = measure_accuracy(opts.corpus, Path(tmp)) if opts.corpus else []
    table, missed = render(speeds, accuracy)
    text = section_text(run_line(started, f"{opts.runs} run(s) each, median"), table, missed)
    publish(opts, text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
