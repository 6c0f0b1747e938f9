"""The abuse benchmark: `log-analytics serve` over a store of generated logs, eight abusive clients
for a while beside one well-behaved client, and what that costs the well-behaved one and the
server's memory (issue 11's targets), with how every abusive request was answered.

    python -m bench.abuse [--quick] [--seconds 60] [--logs 100000] [--settle 30] [--strict]

The abusers (two of each kind) run in a child process of their own, so that their client work does
not hold the GIL of the well-behaved client, which runs here: a 100-log NDJSON ingest and a search,
five rounds a second, through a warm-up alone, the abuse, and a settling time after it. The
server's RSS (`VmRSS` of /proc/<pid>/status) is sampled every 0.25 s.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import itertools
import json
import multiprocessing
import os
import platform
import select
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.generate import cached_jsonl
from bench.http import LOGS_PATH, NDJSON, SEARCH_PATH, _serve, _wait_indexed
from bench.measure import in_child
from bench.report import fmt_ms
from bench.run import BENCH_DIR, _commit, _version, progress
from log_analytics_engine import LogAnalyticsEngine

MB = 1024 * 1024
# Targets of issue 11: the well-behaved client's p99, the server's peak RSS, and its RSS once the
# abuse has stopped, against its RSS before.
TARGET_P99_S = 1.0
TARGET_PEAK_MB = 1024.0
TARGET_SETTLED = 1.20
ROUNDS_PER_S = 5  # of the well-behaved client: one ingest and one search each
WELL_BATCH = 100
WELL_SEARCH: dict[str, str | int] = {"q": "level:ERROR", "limit": 50}
REQUEST_TIMEOUT_S = 120.0  # a request not answered within this counts as a timeout
RSS_EVERY_S = 0.25
SLOW_BODY_BYTES = 1_000_000  # the Content-Length a slow client announces (and never sends)
SLOW_PACE_S = 1.0  # one byte a second, as in the issue
SLOW_BURST = 10  # the pausing slow client sends this many bytes, then nothing
KEYSET_LINES, KEYSET_KEYS = 1_000, 200
REDOS_LINES = 50
# Patterns on which a backtracking engine (Python's re) runs for minutes on these texts.
REDOS = [
    ("(a+)+b", "a" * 60 + "c", "aab"),
    ("(a|aa)+c", "a" * 60 + "b", "aac"),
    ("(.*a){12}b", "a" * 60, "a" * 12 + "b"),
    ("([a-zA-Z]+)*x", "a" * 60 + "1", "abx"),
    (r"(\w+\s?)+$", "a" * 60 + "!", "ab cd"),
]
KINDS = ("slow body", "ReDoS rule + matching ingest", "huge keyset", "deep nesting")
KIND_NAMES = dict(zip(("slow", "redos", "keyset", "deep"), KINDS, strict=True))  # for --only
CLIENTS_PER_KIND = 2


@dataclass(frozen=True)
class Options:
    """What to run."""

    logs: int
    seconds: float
    warmup: float
    settle: float
    seed: int
    data_dir: Path
    output: Path
    strict: bool
    kinds: tuple[str, ...] = KINDS


def parse_args(argv: Sequence[str] | None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.abuse", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a CI-sized run: 10k logs, 5 s of abuse, 5 s settle"
    )
    parser.add_argument("--logs", type=int, help="logs in the store before the abuse (default 100000)")
    parser.add_argument("--seconds", type=float, help="seconds of abuse (default 60)")
    parser.add_argument(
        "--settle", type=float, help="seconds after the abuse before the last RSS (default 30)"
    )
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / ".data", help="generated files (reused)")
    parser.add_argument(
        "--output", type=Path, default=BENCH_DIR / "results.md", help="file whose abuse section is replaced"
    )
    parser.add_argument("--strict", action="store_true", help="exit status 1 when a target is missed")
    parser.add_argument(
        "--only", help=f"comma-separated abuse kinds to run, of {', '.join(KIND_NAMES)} (default: all)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    return Options(
        logs=args.logs or (10_000 if quick else 100_000),
        seconds=args.seconds or (5.0 if quick else 60.0),
        warmup=2.0 if quick else 10.0,
        settle=args.settle if args.settle is not None else (5.0 if quick else 30.0),
        seed=args.seed,
        data_dir=args.data_dir,
        output=args.output,
        strict=args.strict,
        kinds=tuple(KIND_NAMES[k.strip()] for k in args.only.split(",")) if args.only else KINDS,
    )


# -- the abusers (in their own process) ------------------------------------------------------------


@dataclass
class Tally:
    """Requests of one abuse kind: how many were tried and how each was answered."""

    tried: int = 0
    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: str) -> None:
        with self.lock:
            self.tried += 1
            self.answers[answer] += 1

    def request(self, send: Callable[[], httpx.Response]) -> httpx.Response | None:
        """Send one request and count its answer (a status code, or why there was none)."""
        try:
            response = send()
        except httpx.TimeoutException:
            self.add("timeout")
            return None
        except httpx.TransportError as exc:
            self.add(type(exc).__name__)
            return None
        self.add(str(response.status_code))
        return response


def _ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _keyset_body(client: int) -> bytes:
    """KEYSET_LINES lines of KEYSET_KEYS keys each, no key twice in the body (2.4 MB: 12.9 s, 3.2 GB)."""
    lines = []
    for i in range(KEYSET_LINES):
        record: dict[str, Any] = {"message": f"wide {client} {i}", "source": "abuse-keyset"}
        record.update({f"c{client}l{i}k{k}": k for k in range(KEYSET_KEYS)})
        lines.append(record)
    return _ndjson(lines)


def _deep(depth: int, opener: str = "[") -> str:
    closer = {"[": "]", "{": "}"}[opener]
    inner = '{"a":' * depth + "1" + "}" * depth if opener == "{" else opener * depth + closer * depth
    return '{"message": "deep", "source": "abuse-deep", "m": ' + inner + "}"


def _deep_bodies() -> list[tuple[bytes, dict[str, str]]]:
    """Bodies of lines nested past every limit (300 is past what answers can hold, 2,000 past JSON's
    parser, 100,000 a 200 KB line), among good lines, as NDJSON and as a JSON array."""
    good = '{"message": "fine", "source": "abuse-deep"}'
    lines = [good, _deep(300), _deep(2_000), _deep(100_000), _deep(20_000, "{"), good]
    ndjson = ("\n".join(lines) + "\n").encode()
    array = ("[" + ", ".join([good, _deep(300), _deep(300, "{"), good]) + "]").encode()
    return [(ndjson, NDJSON), (array, {"Content-Type": "application/json"})]


def _slow_body(port: int, tally: Tally, stop: threading.Event, pausing: bool) -> None:
    """Connections that announce a 1 MB body and trickle it a byte a second (`pausing`: ten bytes,
    then nothing), each until the server answers or cuts it, then another."""
    header = (
        f"POST {LOGS_PATH} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-ndjson\r\n"
        f"Content-Length: {SLOW_BODY_BYTES}\r\n\r\n"
    ).encode()
    while not stop.is_set():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(header + b'{"message": "')
            answer, sent = None, 0
            while answer is None:
                if stop.is_set():
                    answer = "still open at the end"
                    break
                try:
                    if not pausing or sent < SLOW_BURST:
                        connection.send(b"x")
                        sent += 1
                    readable, _, _ = select.select([connection], [], [], SLOW_PACE_S)
                    if readable:
                        data = connection.recv(4096)
                        answer = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
                except OSError as exc:
                    answer = type(exc).__name__
            tally.add(answer)


def _redos(url: str, worker: int, tally: Tally, stop: threading.Event) -> None:
    """Rules of catastrophic regexes, each with an ingest its pattern runs over, a search with it,
    and the rule's removal."""
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        for i in itertools.count():
            if stop.is_set():
                return
            pattern, evil, hit = REDOS[i % len(REDOS)]
            name = f"abuse-redos-{worker}-{i}"
            rule = {"query": f'~"{pattern}"', "threshold": 1, "time_window": 3600}
            tally.request(partial(client.put, f"/api/v1/rules/{name}", json=rule))
            body = _ndjson([{"message": evil, "source": "abuse-redos"}] * REDOS_LINES + [{"message": hit}])
            tally.request(partial(client.post, LOGS_PATH, content=body, headers=NDJSON))
            tally.request(partial(client.get, SEARCH_PATH, params={"q": f'~"{pattern}"', "limit": 10}))
            tally.request(partial(client.delete, f"/api/v1/rules/{name}"))


def _post_loop(
    url: str, bodies: list[tuple[bytes, dict[str, str]]], tally: Tally, stop: threading.Event
) -> None:
    """Post the bodies in turn, each as soon as the last is answered."""
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        for body, headers in itertools.cycle(bodies):
            if stop.is_set():
                return
            tally.request(partial(client.post, LOGS_PATH, content=body, headers=headers))


def _client(
    kind: str, n: int, url: str, port: int, tally: Tally, stop: threading.Event
) -> Callable[[], None]:
    """The `n`th client of an abuse kind, counting into `tally` until `stop`."""
    if kind == "slow body":
        return partial(_slow_body, port, tally, stop, n == 1)
    if kind == "ReDoS rule + matching ingest":
        return partial(_redos, url, n, tally, stop)
    if kind == "huge keyset":
        return partial(_post_loop, url, [(_keyset_body(n), NDJSON)], tally, stop)
    return partial(_post_loop, url, _deep_bodies(), tally, stop)


def abusers(url: str, port: int, kinds: tuple[str, ...], ready: Any, stop: Any, results: Any) -> None:
    """Two clients of each of `kinds` until `stop` is set; then every kind's Tally (as plain data)
    to `results`. Runs in a child process."""
    try:
        tallies = {kind: Tally() for kind in kinds}
        stopping = threading.Event()
        work = [
            _client(kind, n, url, port, tallies[kind], stopping)
            for kind in kinds
            for n in range(CLIENTS_PER_KIND)
        ]
        threads = [threading.Thread(target=w, daemon=True) for w in work]
        for thread in threads:
            thread.start()
        ready.set()
        stop.wait()
        stopping.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT_S + 10)
        hung = sum(thread.is_alive() for thread in threads)
        results.put(
            {
                "tallies": {k: {"tried": t.tried, "answers": dict(t.answers)} for k, t in tallies.items()},
                "hung_clients": hung,
            }
        )
    except BaseException as exc:
        results.put({"error": repr(exc)})
        ready.set()


# -- the well-behaved client and the RSS sampler (here) -------------------------------------------


@dataclass
class Sample:
    """One request of the well-behaved client: the phase it ran in, what it was, how long, whether
    it succeeded."""

    phase: str
    what: str
    seconds: float
    ok: bool


class WellBehaved(threading.Thread):
    """ROUNDS_PER_S rounds a second of: POST WELL_BATCH logs (each with a marker), then a search;
    `phase` names the part of the run each sample falls in."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.phase = "warm-up"
        self.samples: list[Sample] = []
        self.acknowledged = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT_S) as client:
            client.get("/healthz")
            started = time.perf_counter()
            for n in itertools.count():
                wait = started + n / ROUNDS_PER_S - time.perf_counter()
                if self.stopping.wait(max(wait, 0.0)):
                    return
                records = [
                    {"message": f"wellbehaved round {n} log {i}", "level": "error" if i % 10 == 0 else "info"}
                    for i in range(WELL_BATCH)
                ]
                ingest = partial(client.post, LOGS_PATH, content=_ndjson(records), headers=NDJSON)
                self._timed("ingest", ingest)
                self._timed("search", partial(client.get, SEARCH_PATH, params=WELL_SEARCH))

    def _timed(self, what: str, send: Callable[[], httpx.Response]) -> None:
        phase = self.phase
        started = time.perf_counter()
        try:
            response = send()
            ok = response.status_code == 200
            if ok and what == "ingest":
                accepted = int(response.json()["accepted"])
                ok = accepted == WELL_BATCH
                self.acknowledged += accepted
        except httpx.HTTPError:
            ok = False
        self.samples.append(Sample(phase, what, time.perf_counter() - started, ok))


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """A memory figure of a process from /proc/<pid>/status (VmRSS now, VmHWM its peak), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for pid {pid}")


class RssSampler(threading.Thread):
    """The server's RSS every RSS_EVERY_S; the peak per phase."""

    def __init__(self, pid: int, well: WellBehaved) -> None:
        super().__init__(daemon=True)
        self.pid, self.well = pid, well
        self.peaks: dict[str, float] = collections.defaultdict(float)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(RSS_EVERY_S):
            try:
                now = rss_mb(self.pid)
            except (OSError, RuntimeError):
                return  # the server is gone
            phase = self.well.phase
            self.peaks[phase] = max(self.peaks[phase], now)


# -- the run --------------------------------------------------------------------------------------


def _load_store(jsonl: str, store: str) -> dict[str, Any]:
    """The generated logs into a new store (in a child process), indexed and closed."""
    with LogAnalyticsEngine(path=store) as engine:
        report = engine.ingest_logs_from_file(jsonl)
        engine.flush()
    return {"count": report["count"]}


def _figures(samples: list[Sample], phase: str, what: str) -> dict[str, Any]:
    chosen = [s for s in samples if s.phase == phase and s.what == what]
    times = sorted(s.seconds for s in chosen)
    if not times:
        return {"requests": 0, "failures": 0}
    p99 = statistics.quantiles(times, n=100, method="inclusive")[98] if len(times) > 1 else times[0]
    return {
        "requests": len(times),
        "failures": sum(not s.ok for s in chosen),
        "p50_s": statistics.median(times),
        "p99_s": p99,
        "max_s": times[-1],
    }


def run_abuse(opts: Options) -> dict[str, Any]:
    """The whole run; every figure of the report."""
    jsonl = str(cached_jsonl(opts.data_dir, opts.logs, opts.seed))
    out: dict[str, Any] = {"options": opts}
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as tmp:
        work = Path(tmp)
        progress(f"loading {opts.logs:,} logs into the store")
        loaded = in_child(_load_store, jsonl, str(work / "store"))
        if "error" in loaded:
            raise RuntimeError(f"loading the store failed: {loaded['error']}")
        stopped: dict[str, Any] = {}
        with _serve(work / "store", work / "server.log", stopped) as server:
            pid = server.process.pid
            port = int(server.url.rsplit(":", 1)[1])
            with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as client:
                _wait_indexed(client)
            well = WellBehaved(server.url)
            sampler = RssSampler(pid, well)
            well.start()
            sampler.start()
            progress(f"well-behaved client alone for {opts.warmup:g} s")
            time.sleep(opts.warmup)
            out["rss_before_mb"] = rss_mb(pid)
            spawn = multiprocessing.get_context("spawn")
            ready, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
            child = spawn.Process(target=abusers, args=(server.url, port, opts.kinds, ready, stop, results))
            child.start()
            ready.wait(60)
            well.phase = "abuse"
            progress(f"{CLIENTS_PER_KIND * len(opts.kinds)} abusive clients for {opts.seconds:g} s")
            time.sleep(opts.seconds)
            stop.set()
            progress("abuse stopping (waiting for the requests in flight)")
            abuse = results.get(timeout=REQUEST_TIMEOUT_S + 60)
            child.join(30)
            well.phase = "settle"
            progress(f"settling for {opts.settle:g} s")
            time.sleep(opts.settle)
            out["rss_after_mb"] = rss_mb(pid)
            out["rss_hwm_mb"] = rss_mb(pid, "VmHWM")
            well.stopping.set()
            well.join(REQUEST_TIMEOUT_S)
            sampler.stopping.set()
            sampler.join(5)
            with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as client:
                found = client.get(SEARCH_PATH, params={"q": "wellbehaved", "limit": 1}).json()["total"]
        out["server"] = stopped
    if "error" in abuse:
        raise RuntimeError(f"the abusive clients failed: {abuse['error']}")
    out["abuse"] = abuse
    out["well"] = {
        phase: {what: _figures(well.samples, phase, what) for what in ("ingest", "search")}
        for phase in ("warm-up", "abuse", "settle")
    }
    out["acknowledged"], out["stored"] = well.acknowledged, found
    out["peaks_mb"] = dict(sampler.peaks)
    return out


# -- the report -----------------------------------------------------------------------------------


def clean(answer: str) -> bool:
    """Whether an answer is a clean one: a 2xx or 4xx status, or a slow body still being received
    (within the server's bounds) when the run ended. A 5xx, a timeout or a dropped connection is not."""
    return (answer[:1] in "24" and answer[1:].isdigit()) or answer == "still open at the end"


def _cell(figures: dict[str, Any]) -> str:
    if not figures["requests"]:
        return "no requests"
    times = " / ".join(fmt_ms(figures[k] * 1000) for k in ("p50_s", "p99_s", "max_s"))
    return f"{times}; {figures['failures']} failed of {figures['requests']:,}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(out: dict[str, Any]) -> tuple[str, list[str]]:
    """The markdown table and the list of targets missed."""
    opts: Options = out["options"]
    rows: list[tuple[str, str, str, str]] = []
    missed: list[str] = []

    def row(label: str, value: str, target: str = "—", ok: bool | None = None) -> None:
        rows.append((label, value, target, "—" if ok is None else _verdict(ok)))
        if ok is False:
            missed.append(label)

    for what in ("ingest", "search"):
        during = out["well"]["abuse"][what]
        ok = bool(during["requests"]) and during["failures"] == 0 and during["p99_s"] <= TARGET_P99_S
        label = f"well-behaved {what}, during the abuse: p50 / p99 / max; failures"
        row(label, _cell(during), f"p99 ≤ {TARGET_P99_S:g} s, no failures", ok)
        row(f"well-behaved {what}, alone before it (same figures)", _cell(out["well"]["warm-up"][what]))
        row(f"well-behaved {what}, after it (same figures)", _cell(out["well"]["settle"][what]))
    lost = out["acknowledged"] - out["stored"]
    row(
        "well-behaved logs acknowledged / found by a search",
        f"{out['acknowledged']:,} / {out['stored']:,}",
        "all found",
        lost == 0,
    )
    before, after = out["rss_before_mb"], out["rss_after_mb"]
    peak = max(out["peaks_mb"].get("abuse", 0.0), out["peaks_mb"].get("settle", 0.0))
    row("server RSS before the abuse (after the warm-up)", f"{before:,.0f} MB")
    row(
        "server peak RSS during the abuse (sampled every 0.25 s)",
        f"{peak:,.0f} MB",
        f"≤ {TARGET_PEAK_MB:,.0f} MB",
        peak <= TARGET_PEAK_MB,
    )
    row(
        f"server RSS {opts.settle:g} s after the abuse stopped",
        f"{after:,.0f} MB ({after / before:.2f}× before)",
        f"≤ {TARGET_SETTLED:.2f}× before",
        after <= before * TARGET_SETTLED,
    )
    row("server peak RSS over its life (VmHWM)", f"{out['rss_hwm_mb']:,.0f} MB")
    tried = handled = 0
    for kind in opts.kinds:
        tally = out["abuse"]["tallies"][kind]
        answers = ", ".join(f"{a}: {n:,}" for a, n in sorted(tally["answers"].items()))
        good = sum(n for a, n in tally["answers"].items() if clean(a))
        tried, handled = tried + tally["tried"], handled + good
        row(
            f"abuse: {kind} ({CLIENTS_PER_KIND} clients), tried / handled cleanly",
            f"{tally['tried']:,} / {good:,} ({answers})",
            "all clean",
            good == tally["tried"],
        )
    row(
        "abuse: all kinds, tried / handled cleanly", f"{tried:,} / {handled:,}", "all clean", handled == tried
    )
    if out["abuse"]["hung_clients"]:
        row("abusive clients still waiting when the run ended", str(out["abuse"]["hung_clients"]), "0", False)
    server = out["server"]
    row(
        "server stopped by SIGTERM",
        f"in {server.get('stop_s', 0):.1f} s, exit status {server.get('returncode')}",
        "clean exit",
        "error" not in server,
    )
    lines = ["| measure | value | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines), missed


def header(opts: Options, elapsed: float) -> str:
    """What was run, where and with which versions."""
    versions = ", ".join(f"{p} {_version(p)}" for p in ("log-analytics-engine", "duckdb", "tantivy"))
    return (
        f"Abuse run of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {versions}; "
        f"{opts.logs:,} logs stored first; "
        f"{CLIENTS_PER_KIND * len(opts.kinds)} abusive clients ({', '.join(opts.kinds)}) "
        f"for {opts.seconds:g} s "
        f"(after {opts.warmup:g} s of the well-behaved client alone; settle {opts.settle:g} s); "
        f"took {elapsed:.0f} s."
    )


SECTION = "## Abuse (`python -m bench.abuse`)"


def write_section(path: Path, text: str, section: str = SECTION) -> None:
    """Replace `section` of `path` (from its heading to the next `## ` heading or the end), or add
    it at the end."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    start = old.find(section)
    if start < 0:
        kept, rest = old.rstrip("\n") + ("\n\n" if old.strip() else ""), ""
    else:
        after = old.find("\n## ", start + len(section))
        kept, rest = old[:start], "" if after < 0 else old[after + 1 :]
    path.write_text(
        kept + section + "\n\n" + text.rstrip("\n") + "\n" + ("\n" + rest if rest else ""), encoding="utf-8"
    )


def run_line(started: float, what: str) -> str:
    """A results section's first line: when, on how many CPUs, `what` was run, how long it took
    (since `started`, a perf_counter())."""
    return (
        f"Run of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, {what}; "
        f"took {time.perf_counter() - started:.0f} s."
    )


def output_options(parser: argparse.ArgumentParser) -> None:
    """The options every phase that writes a results section takes: where, or print only."""
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.md")
    parser.add_argument("--no-write", action="store_true", help="print only")


def publish(opts: argparse.Namespace, text: str, section: str) -> None:
    """Print a results section and, unless --no-write, write it into the output file."""
    print(text)
    if not opts.no_write:
        write_section(opts.output, text, section)


def section_text(head: str, table: str, missed: list[str]) -> str:
    """A results section's text: the run's header line, the table, the targets missed."""
    text = head + "\n\n" + table + "\n"
    if missed:
        text += "\nTargets missed: " + "; ".join(missed) + ".\n"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the table, write it into the output file's abuse section; the exit status is 1
    when the run failed (or, with --strict, when a target was missed)."""
    opts = parse_args(argv)
    started = time.perf_counter()
    out = run_abuse(opts)
    table, missed = render(out)
    text = section_text(header(opts, time.perf_counter() - started), table, missed)
    print(text)
    write_section(opts.output, text)
    progress(f"written to the abuse section of {opts.output}")
    return 1 if opts.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
