"""Peak memory of the engine at large volumes: file ingest, the standard queries, HTTP ingest.

    python -m bench.memory [--sizes 5000000,20000000] [--quick] [--memory-limit 256MB]

For each size, one file of generated logs (bench/.data, made once; or, with `--stream`, generated
into the ingest through a pipe, for disks that cannot hold it) is ingested by
`ingest_logs_from_file` into a fresh store in a spawned child process (the engine as a user opens
it: the text index follows in the background), then the index catch-up (`flush`) and `close`; a
second child reopens the store and runs the standard queries (bench/queries.py); then `serve` on
the same store takes `--http-logs` more logs over HTTP. This process samples the resident memory of
the engine's process and of its children (the text index's writer process) every `--sample-ms`,
and prints the peak of each, and of their sum, per phase, with the time the phase took. The
engine's own peak between samples comes from the kernel (VmHWM, reset at each phase through
/proc/self/clear_refs). Issue 16's target: 500 MB for the sum, at any volume.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

import httpx
import orjson
import psutil

from bench.abuse import output_options, write_section
from bench.generate import QUERY_TAG, QUERY_WORD, cached_jsonl, iter_records
from bench.http import INGEST_CONNECTIONS, _native_ingest, _serve
from bench.measure import MB, median_ms
from bench.queries import language_query_set, language_searches, query_set
from log_analytics_engine import LogAnalyticsEngine

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_SIZES = (5_000_000, 20_000_000)
QUICK_SIZES = (100_000,)
SECTION = "## Memory (`python -m bench.memory`)"
TARGET_MB = 500.0
SAMPLE_MS = 50
# The writer process of the text index is told from other children by its script.
INDEX_SCRIPT = "indexproc.py"
HTTP_LOGS = 500_000
HTTP_BATCH = 1_000
INDEX_WAIT_S = 600.0
GENERATE_BLOCK = 20_000
# Headroom asked of the disk beyond the data file: the store (~100 B/log) and DuckDB's spill files.
STORE_BYTES_PER_LOG = 150


@dataclass
class Peak:
    """Peak resident memory of one phase, in MiB: the engine, its index writer, other children,
    and the largest sum seen in one sample; the engine's kernel-counted peak (VmHWM); seconds."""

    engine: float = 0.0
    index: float = 0.0
    other: float = 0.0
    total: float = 0.0
    engine_anon: float = 0.0  # of the engine's peak sample: anonymous memory (heap), not file pages
    engine_hwm: float = 0.0
    seconds: float = 0.0
    samples: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def status_mb(pid: int, *keys: str) -> dict[str, float]:
    """Fields of /proc/<pid>/status in MiB (VmRSS, RssAnon, VmHWM…); missing ones are 0."""
    wanted = dict.fromkeys(keys, 0.0)
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in wanted:
                    wanted[name] = int(rest.split()[0]) / 1024
    except (OSError, ValueError):
        pass
    return wanted


class Sampler(threading.Thread):
    """Samples a process tree's resident memory every `every` seconds into the current phase's Peak."""

    def __init__(self, pid: int, every: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.stopping = threading.Event()
        self.peaks: dict[str, Peak] = {}
        self.phase: str | None = None
        self._lock = threading.Lock()

    def begin(self, phase: str) -> None:
        """Samples from now on count for `phase`."""
        with self._lock:
            self.phase = phase
            self.peaks.setdefault(phase, Peak())

    def run(self) -> None:
        children: list[tuple[int, bool]] = []
        rounds = 0
        while not self.stopping.wait(self.every):
            if rounds % 10 == 0:  # the tree changes rarely: a writer process restarted, a server's
                children = _children(self.pid)
            rounds += 1
            own = status_mb(self.pid, "VmRSS", "RssAnon")
            if own["VmRSS"] == 0.0:
                continue
            index = other = 0.0
            for pid, is_index in children:
                rss = status_mb(pid, "VmRSS")["VmRSS"]
                index, other = (index + rss, other) if is_index else (index, other + rss)
            with self._lock:
                peak = self.peaks.get(self.phase or "")
                if peak is None:
                    continue
                if own["VmRSS"] > peak.engine:
                    peak.engine, peak.engine_anon = own["VmRSS"], own["RssAnon"]
                peak.index = max(peak.index, index)
                peak.other = max(peak.other, other)
                peak.total = max(peak.total, own["VmRSS"] + index + other)
                peak.samples += 1


def _children(pid: int) -> list[tuple[int, bool]]:
    """The processes under `pid`, each with whether it is the text index's writer."""
    try:
        found = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    out = []
    for child in found:
        try:
            out.append((child.pid, any(INDEX_SCRIPT in part for part in child.cmdline())))
        except psutil.Error:
            continue
    return out


# -- the children ---------------------------------------------------------------------------------


class Phases:
    """The child's side: tells the parent where a phase begins and ends, with what it measured."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @contextmanager
    def phase(self, name: str, details: Callable[[], dict[str, Any]] | None = None) -> Iterator[None]:
        _reset_hwm()
        self.conn.send(("begin", name))
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        hwm = status_mb(os.getpid(), "VmHWM")["VmHWM"]
        self.conn.send(("end", name, seconds, hwm, details() if details is not None else {}))


def _reset_hwm() -> None:
    """Start the kernel's count of this process's peak RSS anew (Linux; elsewhere it stays)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def _engine(data_dir: str, memory_limit: str | None) -> LogAnalyticsEngine:
    """The engine as a user opens it, with `memory_limit` only when asked (an engine before the
    setting existed is measured too)."""
    if memory_limit is None:
        return LogAnalyticsEngine(path=data_dir)
    return LogAnalyticsEngine(path=data_dir, memory_limit=memory_limit)  # type: ignore[call-arg,unused-ignore]


def _store_details(engine: LogAnalyticsEngine) -> dict[str, Any]:
    """What DuckDB says it holds (its buffer pool by tag, its limit) and Arrow's pool, in MiB."""
    import pyarrow as pa

    store = getattr(engine._store, "store", engine._store)  # a benchmark looks inside (before the seam too)
    cursor = store._thread_cursor()  # no wait for the applier
    tags = cursor.execute(
        "SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory() "
        "WHERE memory_usage_bytes > 0 OR temporary_storage_bytes > 0 ORDER BY 2 DESC"
    ).fetchall()
    limit = cursor.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    return {
        "duckdb_limit": limit,
        "duckdb_mb": {str(tag): round(used / MB, 1) for tag, used, _ in tags},
        "duckdb_spilled_mb": round(sum(spilled for _, _, spilled in tags) / MB, 1),
        "arrow_mb": round(pa.total_allocated_bytes() / MB, 1),
    }


def _generated(n: int, seed: int) -> IO[bytes]:
    """The data set as a byte stream generated on a thread (a pipe: nothing of it on the disk)."""
    read_fd, write_fd = os.pipe()

    def write() -> None:
        with open(write_fd, "wb") as out:
            records = iter_records(n, seed)
            while True:
                lines = [orjson.dumps(rec) for _, rec in zip(range(GENERATE_BLOCK), records, strict=False)]
                if not lines:
                    return
                out.write(b"\n".join(lines) + b"\n")

    threading.Thread(target=write, name="bench-generate", daemon=True).start()
    return open(read_fd, "rb")


def ingest_child(conn: Connection, source: str, n: int, seed: int, data_dir: str, limit: str | None) -> None:
    """Open a fresh store, ingest the file (or the generated stream when `source` is empty), flush
    the text index, close."""
    phases = Phases(conn)
    with phases.phase("open"):
        engine = _engine(data_dir, limit)
    with phases.phase("file ingest", lambda: _store_details(engine)):
        report = engine.ingest_logs_from_file(source or _generated(n, seed), file_type="jsonl")
    with phases.phase("index catch-up", lambda: _store_details(engine)):
        engine.flush()
    with phases.phase("close"):
        engine.close()
    conn.send(("result", {"count": report["count"], "rejected": report["rejected"]}))


def query_child(conn: Connection, data_dir: str, runs: int, limit: str | None) -> None:
    """Reopen the store, then each standard query `runs` times (median ms), then the query language's."""
    phases = Phases(conn)
    with phases.phase("reopen"):
        engine = _engine(data_dir, limit)
    timings: dict[str, float] = {}
    with phases.phase("queries", lambda: _store_details(engine)):
        for q in query_set(QUERY_WORD, QUERY_TAG):
            timings[q.label] = median_ms(lambda q=q: q.engine(engine), runs, 1)  # type: ignore[misc]
        for s in language_searches(QUERY_WORD, QUERY_TAG):
            timings[f"search {s.text}"] = median_ms(lambda s=s: s.language(engine), runs, 1)  # type: ignore[misc]
        for lq in language_query_set():
            timings[f"run {lq.label}"] = median_ms(lambda lq=lq: lq.engine(engine), runs, 1)  # type: ignore[misc]
        # what /api/v1/stats and /metrics answer: counts by level, source and tag, distinct words
        timings["get_stats()"] = median_ms(engine.get_stats, runs, 1)
    with phases.phase("close"):
        engine.close()
    conn.send(("result", {"query_ms": timings}))


# -- the parent -----------------------------------------------------------------------------------


def run_child(
    target: Callable[..., None], args: tuple[Any, ...], every: float
) -> tuple[dict[str, Peak], Any]:
    """Run `target(conn, *args)` in a spawned process, sampling its tree; the peaks by phase and
    the result it sent."""
    spawn = multiprocessing.get_context("spawn")
    here, there = spawn.Pipe()
    child = spawn.Process(target=target, args=(there, *args))
    child.start()
    there.close()
    sampler = Sampler(child.pid or 0, every)
    sampler.start()
    result: Any = None
    try:
        while True:
            try:
                message = here.recv()
            except EOFError:
                break
            if message[0] == "begin":
                sampler.begin(message[1])
                progress(f"    {message[1]} ...")
            elif message[0] == "end":
                _, name, seconds, hwm, details = message
                peak = sampler.peaks[name]
                peak.seconds, peak.engine_hwm, peak.details = seconds, hwm, details
                progress(f"    {name}: {seconds:.1f} s, {_peak_text(peak)}")
            else:
                result = message[1]
    finally:
        child.join()
        sampler.stopping.set()
        sampler.join()
    if child.exitcode != 0:
        raise RuntimeError(f"{target.__name__} exited with status {child.exitcode}")
    return sampler.peaks, result


def http_phase(data_dir: Path, logs: int, seed: int, every: float, limit: str | None) -> dict[str, Peak]:
    """`serve` on the store: `logs` more logs over HTTP (1,000 a request, 2 connections), then
    until the text index holds them; the server's tree sampled throughout."""
    records = iter_records(logs, seed + 1)
    bodies = []
    while True:
        lines = [orjson.dumps(rec) for _, rec in zip(range(HTTP_BATCH), records, strict=False)]
        if not lines:
            break
        bodies.append(b"\n".join(lines) + b"\n")
    stopped: dict[str, Any] = {}
    flags = () if limit is None else ("--memory-limit", limit)
    with _serve(data_dir, data_dir.parent / "server.log", stopped, flags) as server:
        sampler = Sampler(server.process.pid, every)
        sampler.start()
        sampler.begin("HTTP ingest")
        progress(f"    HTTP ingest of {logs:,} logs over {INGEST_CONNECTIONS} connections ...")
        started = time.perf_counter()
        answer = _native_ingest(server.url, bodies)
        _wait_index_ok(server.url)
        peak = sampler.peaks["HTTP ingest"]
        peak.seconds = time.perf_counter() - started
        peak.details = {"count": answer["count"], "stored": answer["stored"]}
        peak.engine_hwm = status_mb(server.process.pid, "VmHWM")["VmHWM"]
        sampler.stopping.set()
        sampler.join()
    if "error" in stopped:
        raise RuntimeError(f"the server failed: {stopped['error']}: {stopped.get('output', '')}")
    progress(f"    HTTP ingest: {peak.seconds:.1f} s, {_peak_text(peak)}")
    return {"HTTP ingest": peak}


def _wait_index_ok(url: str) -> None:
    """Until the server's text index holds every stored log (`/readyz`: a count, not the stats'
    distinct words over every message, which take minutes at 20M logs)."""
    deadline = time.monotonic() + INDEX_WAIT_S
    with closing(httpx.Client(base_url=url, timeout=INDEX_WAIT_S)) as client:
        while client.get("/readyz").raise_for_status().json()["text_index"] != "ok":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the text index is still behind after {INDEX_WAIT_S:.0f} s")
            time.sleep(0.1)


def _peak_text(peak: Peak) -> str:
    return (
        f"peak RSS {peak.total:,.0f} MB (engine {peak.engine:,.0f}, of it anonymous {peak.engine_anon:,.0f};"
        f" kernel peak {peak.engine_hwm:,.0f}; index writer {peak.index:,.0f}; other {peak.other:,.0f})"
    )


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries only the table)."""
    print(f"[memory {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Options:
    """What to run."""

    sizes: tuple[int, ...]
    seed: int
    data_dir: Path
    work_dir: Path | None
    memory_limit: str | None
    runs: int
    http_logs: int
    every: float
    stream: bool
    output: Path
    no_write: bool


def parse_args(argv: Sequence[str] | None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated log counts (default 5000000,20000000)")
    parser.add_argument("--quick", action="store_true", help="100k logs, 20k over HTTP (a smoke run)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--memory-limit", help="the engine's memory_limit (default: the engine's own)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query (median; default 3)")
    parser.add_argument(
        "--http-logs", type=int, help=f"logs posted over HTTP (default {HTTP_LOGS:,}; 0: none)"
    )
    parser.add_argument("--sample-ms", type=float, default=SAMPLE_MS, help="sampling period (default 50)")
    parser.add_argument("--stream", action="store_true", help="generate into the ingest, no data file")
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / ".data", help="generated files (reused)")
    parser.add_argument("--work-dir", type=Path, help="where the stores go (default: a temporary directory)")
    output_options(parser)
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    else:
        sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    http_logs = args.http_logs if args.http_logs is not None else (20_000 if args.quick else HTTP_LOGS)
    return Options(
        sizes=sizes,
        seed=args.seed,
        data_dir=args.data_dir,
        work_dir=args.work_dir,
        memory_limit=args.memory_limit,
        runs=args.runs,
        http_logs=http_logs,
        every=args.sample_ms / 1000,
        stream=args.stream,
        output=args.output,
        no_write=args.no_write,
    )


def _source(n: int, opts: Options, work: Path) -> str:
    """The data file for `n` logs, or "" (generate into the ingest) with --stream or when the disk
    cannot hold the file beside the store."""
    file = opts.data_dir / f"logs-n{n}-seed{opts.seed}-v1.jsonl"
    if opts.stream:
        return ""
    if file.exists():
        return str(file)
    need = n * (231 + STORE_BYTES_PER_LOG)
    free = shutil.disk_usage(work).free
    if free < need:
        progress(f"  {free / 1e9:.1f} GB free, the file and store need ~{need / 1e9:.1f} GB: streaming")
        return ""
    progress(f"  generating {n:,} logs into {opts.data_dir} ...")
    return str(cached_jsonl(opts.data_dir, n, opts.seed))


def bench_size(n: int, opts: Options, work: Path) -> dict[str, Any]:
    """Every phase for one size; the peaks by phase, and the query timings."""
    store = work / f"store-{n}"
    source = _source(n, opts, work)
    progress(f"size {n:,}: ingest of {source or 'a generated stream'}")
    peaks, ingested = run_child(
        ingest_child, (source, n, opts.seed, str(store), opts.memory_limit), opts.every
    )
    progress(f"size {n:,}: queries")
    query_peaks, queried = run_child(query_child, (str(store), opts.runs, opts.memory_limit), opts.every)
    peaks.update({f"query {name}" if name == "close" else name: p for name, p in query_peaks.items()})
    if opts.http_logs:
        progress(f"size {n:,}: HTTP")
        peaks.update(http_phase(store, opts.http_logs, opts.seed, opts.every, opts.memory_limit))
    disk = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
    shutil.rmtree(store, ignore_errors=True)
    return {"n": n, "peaks": peaks, "ingested": ingested, "queried": queried, "disk": disk}


def render(results: list[dict[str, Any]], opts: Options, elapsed: float) -> str:
    """The section: a header, one row per size and phase, the query timings."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    limit = opts.memory_limit or "the engine's default"
    lines = [
        f"Run of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
        f"at the end {load}; memory_limit {limit}; RSS sampled every {opts.every * 1000:.0f} ms "
        f"(engine process, the text index's writer process, their sum); took {elapsed:.0f} s.",
        "",
        "| logs | phase | took | peak RSS, sum | engine (of it anonymous) | engine, kernel peak | "
        f"index writer | other children | target ≤ {TARGET_MB:.0f} MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for name, peak in result["peaks"].items():
            met = "met" if peak.total <= TARGET_MB else "**missed**"
            lines.append(
                f"| {result['n']:,} | {name} | {peak.seconds:.1f} s | {peak.total:,.0f} MB | "
                f"{peak.engine:,.0f} MB ({peak.engine_anon:,.0f}) | {peak.engine_hwm:,.0f} MB | "
                f"{peak.index:,.0f} MB | {peak.other:,.0f} MB | {met} |"
            )
    lines.append("")
    for result in results:
        timings = result["queried"]["query_ms"]
        shown = "; ".join(f"{label} {ms:.1f}" for label, ms in timings.items())
        lines.append(f"Queries at {result['n']:,} logs, median ms of {opts.runs}: {shown}.")
        for name, peak in result["peaks"].items():
            if peak.details:
                lines.append(
                    f"At the end of {name} ({result['n']:,}): {orjson.dumps(peak.details).decode()}."
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every size, print the section and write it into the results file (unless --no-write)."""
    opts = parse_args(argv)
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-", dir=opts.work_dir) as tmp:
        for n in opts.sizes:
            results.append(bench_size(n, opts, Path(tmp)))
    text = render(results, opts, time.perf_counter() - started)
    print(text)
    if not opts.no_write:
        write_section(opts.output, text, SECTION)
        progress(f"written to the memory section of {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
