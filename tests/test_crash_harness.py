"""Crash safety, proven (issue 15): processes that ingest are killed with SIGKILL hundreds of times,
at random moments and inside named storage methods, and after every restart each acknowledged log is
there exactly once, found by its unique word through the text index and through the scan, and
nothing that was never sent appears; a full disk refuses writes (StorageError, 507) and loses nothing
acknowledged before it.

The ingesting library process is tests/crashchild.py, forked per run (and per server start) from
one fork server that imported the engine and the server once. Every choice (kill delays, kill points,
batch sizes) comes from CRASH_SEED, printed and named in every failure:
`CRASH_SEED=123 pytest tests/test_crash_harness.py` makes the same choices again (where a kill lands
still depends on timing). One run by hand: `CRASH_AT=index:2 python tests/crashchild.py DIR 1`.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from crashchild import CHUNK, PHASES, log_id
from log_analytics_engine import LogAnalyticsEngine, StorageError
from log_analytics_engine.errors import DiskFullError
from services import fill_disk, free_port, small_disk
from test_server_process import Server

SEED = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
CHILD = Path(__file__).with_name("crashchild.py")
# Kills per test: random moments (library), each kill point (library), the server.
RANDOM_KILLS = 140
PHASE_KILLS = 15
SERVER_KILLS = 30
# Words per text query (one OR of them); how many of the logs acknowledged since the last check
# (all, up to this) and of earlier logs each check looks up by word.
WORDS_PER_QUERY = 400
NEW_WORDS = 1_200
OLD_WORDS = 30
# Words searched over HTTP after each server restart: from the cycle just killed (most are not in
# the index yet: each costs a ~30 ms regex scan), and one from each of a few earlier cycles.
NEW_HTTP_WORDS = 8
OLD_HTTP_WORDS = 4
# A kill point not reached within this many seconds of ingest fails its test.
PHASE_SECONDS = 20.0
# What the children run with: index commits every 50 ms and checkpoints after 20 ms without writes,
# so random kills land in those too.
CHILD_ENV = {"CRASH_SEED": str(SEED), "CRASH_INDEX_INTERVAL": "0.05", "CRASH_CHECKPOINT_IDLE": "0.02"}


def rng_for(name: str) -> random.Random:
    """The test's own random sequence under CRASH_SEED (printed, so a failure can be replayed)."""
    print(f"CRASH_SEED={SEED} ({name})")
    return random.Random(f"{SEED}-{name}")


# -- the ledger of what was sent and acknowledged ---------------------------------------------------


@dataclass
class Run:
    """One child run: the ids it handed to ingest calls (0..sent-1), the ones acknowledged, how it
    ended, and how many of its logs the first check after its end found (None: not checked yet)."""

    number: int
    sent: int = 0
    acked: set[int] = field(default_factory=set)
    ended: str = ""
    found: int | None = None


class Ledger:
    """Every run on one data directory, from the lines its child printed."""

    def __init__(self) -> None:
        self.runs: dict[int, Run] = {}

    def start(self, number: int) -> Run:
        self.runs[number] = Run(number)
        return self.runs[number]

    def checked(self) -> list[Run]:
        return [r for r in self.runs.values() if r.found is not None]

    def unchecked(self) -> list[Run]:
        return [r for r in self.runs.values() if r.found is None]


def read_lines(run: Run, lines: list[str]) -> list[str]:
    """Fold a child's `send`/`ack` lines into its run; its lines besides those and `ready` (crash,
    error), as printed."""
    rest = []
    for line in lines:
        _, word, *args = line.split(" ", 3)
        if word == "send":
            first, end = int(args[0]), int(args[1])
            assert first == run.sent, f"run {run.number} sent ids from {first}, expected {run.sent}"
            run.sent = end
        elif word == "ack":
            first, end = int(args[0]), int(args[1])
            assert end <= run.sent, f"run {run.number} acknowledged ids {first}..{end} it never sent"
            run.acked.update(range(first, end))
        elif word != "ready":
            rest.append(line)
    return rest


# -- the fork server ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one child run went: its own lines, its wait status, whether the parent killed it."""

    lines: list[str]
    status: int
    killed: bool
    timed_out: bool

    @property
    def sigkilled(self) -> bool:
        return os.WIFSIGNALED(self.status) and os.WTERMSIG(self.status) == signal.SIGKILL


class Zygote:
    """crashchild.py --zygote: forks one run per order, reports its pid and its end."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), "--zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _next(self, seconds: float) -> str:
        line = self._lines.get(timeout=max(seconds, 0.0))
        if line is None:
            raise AssertionError(f"the fork server ended:\n{self.log.read_text()[-3000:]}")
        return line

    def run(
        self, directory: Path, number: int, env: dict[str, str], kill_after: float | None, from_ready: bool
    ) -> Outcome:
        """Fork run `number` on `directory`; SIGKILL it `kill_after` seconds after its fork (or, with
        `from_ready`, after it opened the engine), or let it end itself, killing it past PHASE_SECONDS."""
        self.order({"dir": str(directory), "run": number, "env": env})
        deadline = time.monotonic() + PHASE_SECONDS + 30
        pid = 0
        kill_at: float | None = None
        lines: list[str] = []
        killed = timed_out = False
        while True:
            now = time.monotonic()
            limit = deadline if kill_at is None else min(kill_at, deadline)
            try:
                line = self._next(limit - now)
            except queue.Empty:
                if kill_at is not None and time.monotonic() >= kill_at:
                    assert pid > 0, f"run {number} said ready before the fork server named its pid"
                    os.kill(pid, signal.SIGKILL)  # never pid 0: that is our own process group
                    killed, kill_at = True, None
                    continue
                if pid and not timed_out:  # a kill point never reached: end the run, then fail
                    os.kill(pid, signal.SIGKILL)
                    timed_out, deadline = True, time.monotonic() + 30
                    continue
                raise AssertionError(f"run {number} never ended:\n{self.log.read_text()[-3000:]}") from None
            head, _, rest = line.partition(" ")
            if head == "Z":
                event, _, value = rest.split(" ")
                if event == "forked":
                    pid = int(value)
                    if kill_after is not None and not from_ready:
                        kill_at = time.monotonic() + kill_after
                    elif kill_after is None:
                        deadline = time.monotonic() + PHASE_SECONDS
                else:
                    return Outcome(lines, int(value), killed, timed_out)
                continue
            lines.append(line)
            if rest == "ready" and kill_after is not None and from_ready:
                kill_at = time.monotonic() + kill_after

    def order(self, order: dict[str, object]) -> None:
        """Ask for one fork (crashchild.zygote's orders)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()

    def forked(self, number: int) -> int:
        """The pid of the process forked for `number`."""
        line = self._next(30)
        assert line.startswith(f"Z forked {number} "), f"the fork server said {line!r}"
        return int(line.rsplit(" ", 1)[1])

    def exited(self, number: int, seconds: float) -> int | None:
        """The wait status of `number`'s process if it ends within `seconds`, else None."""
        try:
            line = self._next(seconds)
        except queue.Empty:
            return None
        assert line.startswith(f"Z exited {number} "), f"the fork server said {line!r}"
        return int(line.rsplit(" ", 1)[1])

    def close(self) -> None:
        """End the fork server (what it forked dies with it)."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:  # still waiting for a child a failed test left running
            self.process.kill()
            self.process.wait(30)


class ForkedServer:
    """`log-analytics serve --data DATA --port PORT`: the command line's own main, forked from the
    zygote (which imported it once: ~1.5 s less per restart than a fresh interpreter)."""

    def __init__(self, zygote: Zygote, data: Path, number: int, log_dir: Path) -> None:
        self.zygote, self.number = zygote, number
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"server-{number}.log"
        argv = ["log-analytics", "serve", "--data", str(data), "--port", str(self.port)]
        zygote.order({"run": number, "argv": argv, "log": str(self.log)})
        self.pid = zygote.forked(number)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            status = zygote.exited(number, 0.05)
            assert status is None, f"serve exited ({status}):\n{self.log.read_text()[-3000:]}"
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"serve not ready in 60 s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, and wait until the zygote reaped it."""
        os.kill(self.pid, signal.SIGKILL)
        status = self.zygote.exited(self.number, 30)
        assert status is not None, "serve did not end within 30 s of SIGKILL"
        assert os.WIFSIGNALED(status), f"serve ended with status {status}"


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    """One fork server for the module's library runs."""
    running = Zygote(tmp_path_factory.mktemp("zygote") / "zygote.log")
    yield running
    running.close()


# -- the checks -------------------------------------------------------------------------------------


def _ids_of(run: Run, counts: dict[str, int], where: str) -> None:
    """Each acknowledged id of the run found once, none twice, none the run never sent."""
    prefix = f"w{run.number}x"
    found = {int(ident.removeprefix(prefix)): n for ident, n in counts.items()}
    doubled = sorted(i for i, n in found.items() if n > 1)
    missing = sorted(run.acked - found.keys())
    foreign = sorted(i for i in found if not 0 <= i < run.sent)
    label = f"{where}, run {run.number} ({run.ended}; {len(run.acked)} acknowledged of {run.sent} sent)"
    assert not missing, f"{label}: acknowledged ids lost: {[log_id(run.number, i) for i in missing[:20]]}"
    assert not doubled, f"{label}: ids stored twice: {[log_id(run.number, i) for i in doubled[:20]]}"
    assert not foreign, f"{label}: ids never sent: {[log_id(run.number, i) for i in foreign[:20]]}"


def _words_found(eng: LogAnalyticsEngine, words: list[str], where: str) -> dict[str, int]:
    """Each word searched through the text index (an OR query per chunk) is exactly one log, its own;
    the seq of each."""
    seqs = {}
    for start in range(0, len(words), WORDS_PER_QUERY):
        chunk = words[start : start + WORDS_PER_QUERY]
        result = eng.search(" or ".join(chunk), limit=len(chunk) + 1)
        got = Counter(log.request_id for log in result.logs)
        wrong = {w: got[w] for w in chunk if got[w] != 1}
        assert not wrong, f"{where}: words not found exactly once through the index (word: logs): {wrong}"
        assert result.total == len(chunk), f"{where}: {result.total} logs for {len(chunk)} unique words"
        seqs.update({log.request_id or "": log.seq or 0 for log in result.logs})
    return seqs


def check_library(directory: Path, ledger: Ledger, where: str, rng: random.Random) -> None:
    """Reopen the directory and check every run: the runs checked before still hold exactly what they
    held; each new run holds each acknowledged id once and nothing it never sent; every new
    acknowledged word (and a sample of older ones) is found through the text index, some through the
    scan; counts agree."""
    where = f"{where} (CRASH_SEED={SEED})"
    with LogAnalyticsEngine(directory, alert_interval=None) as eng:
        by_source = {
            row["source"]: int(row["n"]) for row in eng.run("* | stats by (source) count() as n").rows
        }
        unknown = set(by_source) - {f"run{r}" for r in ledger.runs}
        assert not unknown, f"{where}: logs of runs never started: {sorted(unknown)}"
        for run in ledger.checked():
            now = by_source.get(f"run{run.number}", 0)
            assert now == run.found, f"{where}: run {run.number} held {run.found} logs, now {now}"
        new = ledger.unchecked()
        for run in new:
            counts = {}
            for chunk in range(run.sent // CHUNK + 1):
                query = f"source:run{run.number} chunk:{chunk} | stats by (request_id) count() as n"
                counts.update({row["request_id"]: int(row["n"]) for row in eng.run(query).rows})
            _ids_of(run, counts, where)
            run.found = sum(counts.values())
            held = by_source.get(f"run{run.number}", 0)
            assert held == run.found, f"{where}: run {run.number} holds {held} logs, its ids {run.found}"
        total = sum(r.found or 0 for r in ledger.runs.values())
        assert eng.count() == total, f"{where}: count() is {eng.count()}, the runs hold {total}"

        eng.flush()
        assert eng.index_status()["lag"] == 0, f"{where}: the index lags after flush: {eng.index_status()}"
        fresh = [log_id(r.number, i) for r in new for i in sorted(r.acked)]
        if len(fresh) > NEW_WORDS:  # the first and last always, a sample between
            fresh = [fresh[0], *rng.sample(fresh[1:-1], NEW_WORDS - 2), fresh[-1]]
        older = [log_id(r.number, i) for r in ledger.checked() if r not in new for i in r.acked]
        sample = rng.sample(older, min(OLD_WORDS, len(older)))
        seqs = _words_found(eng, fresh + sample, where)
        if fresh:  # through the scan: tail() reads the table (SQL over a seq range), not the index
            picked = list({fresh[0], fresh[-1], rng.choice(fresh)})
            logs, _ = eng.tail(" or ".join(picked), after=min(seqs[w] for w in picked) - 1, limit=10)
            got = sorted(log.request_id or "" for log in logs)
            assert got == sorted(picked), f"{where}: the scan found {got} for the words {sorted(picked)}"


def _ended(outcome: Outcome, number: int, zygote: Zygote) -> None:
    """Fail, showing what the run printed last, unless it died by SIGKILL."""
    if outcome.sigkilled:
        return
    log = zygote.log.read_text()[-3000:]
    said = f"{outcome.lines[-5:]} (CRASH_SEED={SEED})"
    raise AssertionError(f"run {number} exited (status {outcome.status}): {said}\n{log}")


# -- library: random moments ------------------------------------------------------------------------


def test_library_sigkilled_at_random_moments_loses_and_doubles_nothing(
    zygote: Zygote, tmp_path: Path
) -> None:
    """RANDOM_KILLS runs over one directory, each SIGKILLed 5-300 ms after it opened the engine, or
    (at random, half of them) after its fork, the previous crash not reopened before: those kills
    can land in recovery. Checked after every kill but those: every acknowledged log there once, no
    other, found by its word."""
    rng = rng_for("random")
    directory = tmp_path / "data"
    ledger = Ledger()
    from_fork = False
    for kill in range(1, RANDOM_KILLS + 1):
        run = ledger.start(kill)
        delay = rng.uniform(0.005, 0.3)
        outcome = zygote.run(directory, kill, CHILD_ENV, delay, from_ready=not from_fork)
        _ended(outcome, kill, zygote)
        extra = read_lines(run, outcome.lines)
        assert not extra, f"run {kill} printed {extra}"
        run.ended = f"kill {kill}, {delay * 1000:.0f} ms after its {'fork' if from_fork else 'open'}"
        from_fork = kill < RANDOM_KILLS and rng.random() < 1 / 2
        if not from_fork:
            check_library(directory, ledger, f"after kill {kill}", rng)
    acked = sum(len(r.acked) for r in ledger.runs.values())
    print(f"{RANDOM_KILLS} kills, {acked} logs acknowledged")
    assert acked > RANDOM_KILLS  # the runs did ingest


# -- library: inside a phase ------------------------------------------------------------------------


@pytest.mark.parametrize("phase", sorted(PHASES))
def test_library_sigkilled_inside_a_phase_loses_and_doubles_nothing(
    zygote: Zygote, tmp_path: Path, phase: str
) -> None:
    """PHASE_KILLS runs over one directory, each killing itself on the Nth (1-2) call of the phase's
    method (before or after the real call); the point must be reached, and after each kill every
    acknowledged log is there once and found by its word."""
    module, owner, method = PHASES[phase]
    rng = rng_for(phase)
    directory = tmp_path / "data"
    ledger = Ledger()
    for kill in range(1, PHASE_KILLS + 1):
        run = ledger.start(kill)
        spec = f"{phase}:{rng.randint(1, 2)}"
        env = {**CHILD_ENV, "CRASH_AT": spec, "CRASH_PAUSES": "1" if phase == "checkpoint" else "0"}
        outcome = zygote.run(directory, kill, env, None, from_ready=True)
        said = read_lines(run, outcome.lines)
        reached = not outcome.timed_out
        assert reached, (
            f"CRASH_AT={spec}: {module}.{owner}.{method} was not called often enough in "
            f"{PHASE_SECONDS:g} s of ingest (run {kill}, CRASH_SEED={SEED}): the kill point is never reached"
        )
        errors = [line for line in said if " error " in line]
        assert not errors, f"CRASH_AT={spec} (run {kill}, CRASH_SEED={SEED}): {errors}"
        _ended(outcome, kill, zygote)
        crashed = [line.split(" ")[2:] for line in said if line.split(" ")[1] == "crash"]
        assert len(crashed) == 1, f"run {kill} died by SIGKILL without reaching {spec}: {said}"
        _, nth, when, name = crashed[0]
        run.ended = f"killed itself {when} call {nth} of {owner}.{method} (in {name})"
        check_library(directory, ledger, f"after kill {kill} ({spec})", rng)


# -- the server -------------------------------------------------------------------------------------


@dataclass
class Batch:
    """One NDJSON request: its logs' ids are `<name>n<i>`, i < size."""

    name: str
    size: int
    acked: bool = False


@dataclass
class ServerLedger:
    """Every batch posted to one data directory, by cycle, and what each cycle's check found."""

    batches: dict[int, list[Batch]] = field(default_factory=dict)
    found: dict[int, int] = field(default_factory=dict)
    odd: list[str] = field(default_factory=list)  # answers of 200 that did not accept the whole batch
    lock: threading.Lock = field(default_factory=threading.Lock)


def _post_until_killed(url: str, cycle: int, thread: int, ledger: ServerLedger, rng: random.Random) -> None:
    """Post NDJSON batches of 1-500 logs until the server is gone; a 200 acknowledges the batch."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for number in range(5_000):
            name = f"s{cycle}t{thread}b{number}"
            batch = Batch(name, int(10 ** rng.uniform(0, 2.7)))
            with ledger.lock:
                ledger.batches[cycle].append(batch)
            body = b"".join(
                json.dumps(
                    {
                        "message": f"crash {name}n{i} over http",
                        "level": "info",
                        "source": f"srv{cycle}",
                        "request_id": f"{name}n{i}",
                        "batch": name,
                    }
                ).encode()
                + b"\n"
                for i in range(batch.size)
            )
            try:
                answer = client.post(
                    "/api/v1/logs", content=body, headers={"content-type": "application/x-ndjson"}
                )
            except httpx.TransportError:
                return
            if answer.status_code == 200:
                batch.acked = True
                if answer.json()["accepted"] != batch.size:
                    with ledger.lock:
                        ledger.odd.append(f"{name} ({batch.size} logs): {answer.text}")


def check_server(url: str, ledger: ServerLedger, where: str, rng: random.Random) -> None:
    """Over HTTP: earlier cycles hold what they held; each new cycle's acknowledged batches are there
    whole, no id twice, no batch never posted; acknowledged words (new, and a sample of older) are
    found by search; the total agrees."""
    where = f"{where} (CRASH_SEED={SEED})"

    def query(q: str) -> list[dict[str, object]]:
        answer = httpx.get(url + "/api/v1/query", params={"q": q}, timeout=60)
        assert answer.status_code == 200, f"{where}: {q}: {answer.text}"
        rows: list[dict[str, object]] = answer.json()["rows"]
        return rows

    by_source = {str(r["source"]): int(str(r["n"])) for r in query("* | stats by (source) count() as n")}
    unknown = set(by_source) - {f"srv{c}" for c in ledger.batches}
    assert not unknown, f"{where}: logs of cycles never run: {sorted(unknown)}"
    for cycle, held in ledger.found.items():
        assert by_source.get(f"srv{cycle}", 0) == held, (
            f"{where}: cycle {cycle} held {held} logs, now differs"
        )
    new = [c for c in ledger.batches if c not in ledger.found]
    words = []
    for cycle in new:
        rows = query(f"source:srv{cycle} | stats by (batch) count() as n, count_uniq(request_id) as u")
        found = {str(r["batch"]): (int(str(r["n"])), int(str(r["u"]))) for r in rows}
        posted = {b.name: b for b in ledger.batches[cycle]}
        never = sorted(found.keys() - posted.keys())
        assert not never, f"{where}: batches never posted: {never[:20]}"
        doubled = sorted(name for name, (n, u) in found.items() if n != u or n > posted[name].size)
        assert not doubled, f"{where}: batches with ids stored twice: {[(d, found[d]) for d in doubled[:20]]}"
        lost = sorted(b.name for b in posted.values() if b.acked and found.get(b.name, (0, 0))[0] != b.size)
        assert not lost, f"{where}: acknowledged batches not whole: {[(n, found.get(n)) for n in lost[:20]]}"
        ledger.found[cycle] = sum(n for n, _ in found.values())
        acked = [f"{b.name}n{i}" for b in posted.values() if b.acked for i in range(b.size)]
        words += rng.sample(acked, min(NEW_HTTP_WORDS, len(acked)))
    older = [c for c in ledger.found if c not in new]
    for cycle in rng.sample(older, min(OLD_HTTP_WORDS, len(older))):
        acked = [f"{b.name}n{i}" for b in ledger.batches[cycle] if b.acked for i in range(b.size)]
        words += rng.sample(acked, min(1, len(acked)))
    if words:
        answer = httpx.get(
            url + "/api/v1/search", params={"q": " or ".join(words), "limit": 1000}, timeout=60
        )
        got = Counter(log["request_id"] for log in answer.json()["logs"])
        wrong = {w: got[w] for w in words if got[w] != 1}
        assert not wrong, f"{where}: words not found exactly once by search (word: logs): {wrong}"
    total = httpx.get(url + "/api/v1/search", params={"q": "*", "limit": 1}, timeout=60).json()["total"]
    assert total == sum(ledger.found.values()), f"{where}: search counts {total} logs"


def test_server_sigkilled_at_random_moments_loses_and_doubles_nothing(zygote: Zygote, tmp_path: Path) -> None:
    """`log-analytics serve` fed NDJSON batches by 2 threads is SIGKILLed SERVER_KILLS times at random
    moments and restarted on the same directory; every restart (the last one a fresh process, as
    users start it) finds each acknowledged batch whole, no log twice, and its words searchable."""
    rng = rng_for("server")
    data = tmp_path / "data"
    ledger = ServerLedger()
    for cycle in range(1, SERVER_KILLS + 1):
        server = ForkedServer(zygote, data, cycle, tmp_path)
        try:
            check_server(server.url, ledger, f"restart after kill {cycle - 1}", rng)
        except BaseException:
            server.kill()
            raise
        ledger.batches[cycle] = []
        posters = [
            threading.Thread(
                target=_post_until_killed,
                args=(server.url, cycle, t, ledger, random.Random(rng.random())),
            )
            for t in range(2)
        ]
        for poster in posters:
            poster.start()
        time.sleep(rng.uniform(0.05, 0.5))
        server.kill()
        for poster in posters:
            poster.join(60)
            assert not poster.is_alive(), "a posting thread outlived the server"
        assert not ledger.odd, f"cycle {cycle}: batches answered 200 but not all accepted: {ledger.odd[:5]}"
    server = Server(data)
    try:
        check_server(server.url, ledger, f"restart after kill {SERVER_KILLS}", rng)
    finally:
        server.stop()
    acked = sum(b.size for batches in ledger.batches.values() for b in batches if b.acked)
    print(f"{SERVER_KILLS} server kills, {acked} logs acknowledged")
    assert acked > 0


# -- a full disk ------------------------------------------------------------------------------------


def test_a_full_disk_is_a_storage_error_and_loses_nothing_acknowledged(
    zygote: Zygote, tmp_path: Path
) -> None:
    """A library run on a small tmpfs with ~1.5 MB free ingests until the disk fills: the call is
    refused with a DiskFullError (a StorageError) naming the full disk, and the process ends there
    without closing the engine (a crash on a full disk). Reopened with space again, every log
    acknowledged before is there once and found by its word."""
    rng = rng_for("disk-full")
    ledger = Ledger()
    run = ledger.start(1)
    with small_disk(tmp_path / "disk", "16m") as disk:
        ballast = fill_disk(disk)
        os.truncate(ballast, max(0, ballast.stat().st_size - 1_500_000))
        outcome = zygote.run(disk / "data", 1, CHILD_ENV, None, from_ready=True)
        said = read_lines(run, outcome.lines)
        assert not outcome.timed_out, f"the disk never filled ({run.sent} logs sent in {PHASE_SECONDS:g} s)"
        assert os.WIFEXITED(outcome.status), f"the run ended with status {outcome.status}: {said}"
        assert said, "the run ended without an error"
        assert issubclass(DiskFullError, StorageError)
        assert said[-1].startswith("1 error log_analytics_engine.errors.DiskFullError: the disk holding"), (
            said
        )
        assert "is full" in said[-1], said
        assert len(run.acked) > 1_000, f"only {len(run.acked)} logs acknowledged before the disk filled"
        ballast.unlink()
        run.ended = f"refused after {len(run.acked)} acknowledged: {said[-1]}"
        check_library(disk / "data", ledger, "reopened with space again", rng)


def test_a_full_disk_is_507_and_a_sigkill_then_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """The server on a small tmpfs answers 507 once the disk is full; SIGKILLed while full and
    restarted with space again, it holds every acknowledged batch whole, no log twice."""
    rng = rng_for("disk-full-server")
    ledger = ServerLedger()
    ledger.batches[1] = []
    with small_disk(tmp_path / "disk", "16m") as disk:
        server = Server(disk / "data", log_dir=tmp_path)
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                ballast: Path | None = None
                refused = None
                for number in range(2_000):
                    if ballast is None and number == 5:
                        ballast = fill_disk(disk)
                        os.truncate(ballast, max(0, ballast.stat().st_size - 400_000))
                    batch = Batch(f"s1t0b{number}", rng.randint(1, 300))
                    ledger.batches[1].append(batch)
                    body = b"".join(
                        json.dumps(
                            {
                                "message": f"crash {batch.name}n{i}",
                                "source": "srv1",
                                "request_id": f"{batch.name}n{i}",
                                "batch": batch.name,
                            }
                        ).encode()
                        + b"\n"
                        for i in range(batch.size)
                    )
                    answer = client.post("/api/v1/logs", content=body)
                    if answer.status_code != 200:
                        refused = answer
                        break
                    batch.acked = True
                assert refused is not None, "the disk never filled"
                assert refused.status_code == 507, refused.text
                assert "is full" in refused.json()["detail"]
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(30)
        finally:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait(30)
        assert ballast is not None
        ballast.unlink()
        again = Server(disk / "data", log_dir=tmp_path)
        try:
            check_server(again.url, ledger, "restarted with space after a SIGKILL on a full disk", rng)
        finally:
            again.stop()
