"""The process the crash harness (test_crash_harness.py) kills: it ingests numbered logs through the
public API and reports each acknowledged range on stdout, optionally SIGKILLing itself inside a named
storage method. `crashchild.py DIR RUN` runs once; `crashchild.py --zygote` is a fork server that
imports the engine (and the server) once and forks one such run, or one `log-analytics serve`, per
order line on stdin (a fresh interpreter costs ~0.5 s of imports, the server's ~1.5 s, a fork
~5 ms: that is what makes hundreds of kills fit a CI run).

Environment: CRASH_AT=phase:N (phases in PHASES) kills the process on the Nth call of that method
(those in ALSO counted too), just before or just after the real call (chosen at random);
CRASH_SEED seeds the choices; CRASH_INDEX_INTERVAL is the engine's index_interval;
CRASH_CHECKPOINT_IDLE shortens the indexer's idle pause before a checkpoint, and CRASH_PAUSES=1
adds pauses to the ingest loop that let the indexer commit, sit idle and checkpoint.

Stdout lines, each one os.write (atomic on a pipe: shorter than PIPE_BUF), all starting with RUN:
`ready` (the engine is open), `send A B` (ids A..B-1 are handed to an ingest call), `ack A B` (that
call returned: acknowledged), `crash PHASE N WHEN METHOD` (about to SIGKILL itself), `error TEXT`.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import importlib
import itertools
import json
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from log_analytics_engine import LogAnalyticsEngine, LogEntry

# Kill point -> (module, class, method) wrapped so its Nth call kills the process inside it.
PHASES = {
    "apply": ("log_analytics_engine.storage.embedded.store", "EmbeddedStore", "_apply_pending"),
    "append": ("log_analytics_engine.storage.embedded.wal", "WriteAheadLog", "append"),
    "index": ("log_analytics_engine.storage.embedded.textindex", "TextIndex", "commit"),
    "checkpoint": ("log_analytics_engine.storage.embedded.store", "EmbeddedStore", "checkpoint"),
}
# Methods of the same class whose calls count towards a phase too, where the class has them: the
# write-ahead log's one-log form of append.
ALSO = {"append": ("append_row",)}
# A child left running by a parent that died stops by itself.
MAX_SECONDS = 60.0
PR_SET_PDEATHSIG = 1  # prctl(2)
# Past this many logs a run ingests single logs only: what a run leaves stays small (a few thousand
# logs) however fast ingest is, and kills still land inside ingest calls.
BATCHED_LOGS = 2_000
# Logs per `chunk` (a metadata field): a check counts ids a chunk at a time, under engine.run's
# 10,000-row bound.
CHUNK = 5_000
FILLER = ("disk", "cache", "timeout", "request", "login", "retry", "payment", "queue")


def say(line: str) -> None:
    """One line to the parent in one write (a pipe keeps writes under PIPE_BUF whole and in order)."""
    os.write(1, (line + "\n").encode())


def log_id(run: int, n: int) -> str:
    """The id of log `n` of run `run`: its request_id and, in its message, its unique word."""
    return f"w{run}x{n}"


def make_log(run: int, n: int, rng: random.Random) -> LogEntry:
    """Log `n` of run `run`: source `run<run>`, request_id and unique word `w<run>x<n>`, metadata
    `chunk` n // CHUNK."""
    words = " ".join(rng.sample(FILLER, 2))
    ident = log_id(run, n)
    return LogEntry(
        dt.datetime.now(dt.UTC),
        rng.choice(("INFO", "WARN", "ERROR")),
        f"crash {ident} {words}",
        source=f"run{run}",
        request_id=ident,
        tags=["crash"],
        metadata={"chunk": n // CHUNK},
    )


def arm(spec: str, rng: random.Random, run: int) -> None:
    """Wrap the method named by `spec` (`phase:N`) so its Nth call SIGKILLs this process, before or
    after the real call. An unknown phase or a missing method raises (the parent fails loudly)."""
    phase, _, nth_text = spec.partition(":")
    nth = int(nth_text)
    module, class_name, method = PHASES[phase]
    owner = getattr(importlib.import_module(module), class_name)
    getattr(owner, method)  # the phase's own method must exist
    calls = itertools.count(1)  # next() on a count is atomic under the GIL: threads call it too
    when = rng.choice(("before", "after"))

    def die(name: str) -> None:
        say(f"{run} crash {phase} {nth} {when} {name}")
        os.kill(os.getpid(), signal.SIGKILL)

    def wrap(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if next(calls) != nth:
                return real(*args, **kwargs)
            if when == "before":
                die(name)
            try:
                return real(*args, **kwargs)
            finally:
                die(name)

        return wrapped

    for name in (method, *ALSO.get(phase, ())):
        if hasattr(owner, name):
            setattr(owner, name, wrap(name, getattr(owner, name)))


def tune() -> None:
    """Apply CRASH_CHECKPOINT_IDLE to the indexer (its constant must exist: a rename fails loudly)."""
    idle = os.environ.get("CRASH_CHECKPOINT_IDLE")
    if idle:
        indexer = importlib.import_module("log_analytics_engine.storage.embedded.indexer")
        if not hasattr(indexer, "CHECKPOINT_IDLE_SECONDS"):
            raise AttributeError(
                "log_analytics_engine.storage.embedded.indexer has no CHECKPOINT_IDLE_SECONDS"
            )
        indexer.CHECKPOINT_IDLE_SECONDS = float(idle)


def ingest(engine: LogAnalyticsEngine, run: int, rng: random.Random, pauses: bool) -> None:
    """Ingest until killed (or MAX_SECONDS): single logs and batches of 2-100 (single logs only past
    BATCHED_LOGS), each call announced before it starts and acknowledged after it returns, with
    gaps under 0.3 ms between calls (so random kills often land inside one) and, with `pauses`, now
    and then a pause long enough for the indexer to wait its interval, commit, idle and checkpoint."""
    n = 0
    stop = time.monotonic() + MAX_SECONDS
    while time.monotonic() < stop:
        size = 1 if n >= BATCHED_LOGS or rng.random() < 0.5 else rng.randint(2, 100)
        logs = [make_log(run, i, rng) for i in range(n, n + size)]
        say(f"{run} send {n} {n + size}")
        if size == 1 and rng.random() < 0.7:
            engine.ingest_log(logs[0])
        else:
            engine.ingest_logs(logs)
        say(f"{run} ack {n} {n + size}")
        n += size
        time.sleep(rng.uniform(0.15, 0.4) if pauses and rng.random() < 0.05 else rng.uniform(0, 0.0003))


def run_once(directory: Path, run: int) -> int:
    """One run: arm the kill point, open the engine, say ready, ingest. The exit code on failure."""
    rng = random.Random(f"{os.environ.get('CRASH_SEED', '0')}-{run}")
    spec = os.environ.get("CRASH_AT", "")
    try:
        tune()
        if spec:
            arm(spec, rng, run)
    except (KeyError, AttributeError, ValueError, ImportError) as exc:
        say(f"{run} error cannot arm CRASH_AT={spec!r}: {type(exc).__name__}: {exc}")
        return 2
    interval = float(os.environ.get("CRASH_INDEX_INTERVAL", "1.0"))
    try:
        engine = LogAnalyticsEngine(directory, index_interval=interval, alert_interval=None)
        say(f"{run} ready")
        ingest(engine, run, rng, pauses=os.environ.get("CRASH_PAUSES") == "1")
    except Exception as exc:  # the edge of this process: the parent shows what failed
        text = "".join(traceback.format_exception_only(exc)).strip().replace("\n", " | ")
        say(f"{run} error {text}")
        traceback.print_exc()
        return 3
    return 0


def serve(argv: list[str], log: str) -> int:
    """Run the command line (`log-analytics serve ...`) as its console script does, its output to
    `log`; the exit code."""
    from log_analytics_engine.cli.app import main

    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    sys.argv = argv
    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent ends (Linux's PR_SET_PDEATHSIG): nothing
    forked here outlives the test that asked for it, a listening server least of all."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent was gone before the call
        os._exit(1)


def zygote() -> None:
    """Fork one process per JSON order on stdin, one at a time: a run ({"run", "dir", "env"}) or
    the command line ({"run", "argv", "log"}: `log-analytics serve`, imported here once), reporting
    `Z forked RUN PID` and, once reaped, `Z exited RUN STATUS` (the raw wait status)."""
    import uvicorn  # noqa: F401 (what `serve` imports, loaded before forking)

    import log_analytics_engine.cli.app
    import log_analytics_engine.server.app  # noqa: F401

    die_with_parent()
    for line in sys.stdin:
        order = json.loads(line)
        run = int(order["run"])
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                die_with_parent()
                if "argv" in order:
                    code = serve(order["argv"], order["log"])
                else:
                    os.environ.update(order["env"])
                    code = run_once(Path(order["dir"]), run)
            finally:
                os._exit(code)
        say(f"Z forked {run} {pid}")
        _, status = os.waitpid(pid, 0)
        say(f"Z exited {run} {status}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--zygote"]:
        zygote()
    else:
        sys.exit(run_once(Path(sys.argv[1]), int(sys.argv[2])))
