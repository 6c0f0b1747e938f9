"""Timing, memory and disk measurements, and running a phase in a fresh child process."""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024


def median_ms(fn: Callable[[], object], runs: int = 15, warmup: int = 2) -> float:
    """Median wall time of `fn()` in milliseconds over `runs` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def median_pair_ms(
    first: Callable[[], object], second: Callable[[], object], runs: int = 15, warmup: int = 2
) -> tuple[float, float]:
    """Median wall times in ms of two calls timed in alternation (order swapped every run), so drift in
    the machine's speed or the caches weighs on both alike; `warmup` untimed rounds of each first."""
    for _ in range(warmup):
        first()
        second()
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(runs):
        order = ((0, first), (1, second)) if i % 2 == 0 else ((1, second), (0, first))
        for slot, fn in order:
            started = time.perf_counter()
            fn()
            times[slot].append(time.perf_counter() - started)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def in_turns(calls: Sequence[Callable[[], object]], runs: int, warmup: int = 1) -> list[float]:
    """Median ms of each call over `runs` rounds after `warmup` untimed ones: each round runs every call
    once, starting one further along each round, so a change in the machine's load weighs on all."""
    for _ in range(warmup):
        for call in calls:
            call()
    timings: list[list[float]] = [[] for _ in calls]
    for round_number in range(runs):
        for i in range(len(calls)):
            slot = (i + round_number) % len(calls)
            started = time.perf_counter()
            calls[slot]()
            timings[slot].append(time.perf_counter() - started)
    return [statistics.median(taken) * 1000 for taken in timings]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """`fn()`'s result and its wall time in seconds."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def current_rss_mb() -> float:
    """Resident set size of this process now, in MiB."""
    return float(psutil.Process(os.getpid()).memory_info().rss) / MB


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_bytes(path: str | Path) -> int:
    """Bytes held by the files under `path` (or by the file `path`)."""
    root = Path(path)
    if root.is_file():
        return root.stat().st_size
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _guarded(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run a phase; an exception becomes `{"error": ...}` so one failure does not end the suite.

    Runs in the child: its stdout goes to stderr, so the parent's stdout carries only the table.
    """
    os.dup2(2, 1)
    try:
        return fn(*args)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run `fn(*args)` in a freshly spawned process (so its peak RSS is its own) and return its dict."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_guarded, fn, *args).result()
