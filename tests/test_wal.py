"""The write-ahead log (storage/wal.py) on its own: frames round-trip by seq, a torn or corrupt last
frame is dropped and truncated away while damage elsewhere is refused, segments rotate and applied
ones are released, fsync mode shares fsyncs between concurrent writers, a full disk loses nothing
written before it, and SIGKILL at random points loses no acknowledged frame and doubles none."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from log_analytics_engine.errors import DiskFullError, StorageError
from log_analytics_engine.model import STORED_SCHEMA
from log_analytics_engine.storage.embedded import wal as wal_module
from log_analytics_engine.storage.embedded.wal import HEADER, WriteAheadLog
from services import fill_disk, small_disk


def batch(first: int, rows: int, text: str = "m") -> pa.RecordBatch:
    """`rows` logs of STORED_SCHEMA with seqs from `first`, each message naming its seq."""
    seqs = list(range(first, first + rows))
    columns = {
        "seq": seqs,
        "ts": [s * 1_000 for s in seqs],
        "ingested_at": [s * 1_000 for s in seqs],
        "level": ["INFO"] * rows,
        "severity": [6] * rows,
        "source": ["api"] * rows,
        "message": [f"{text} {s}" for s in seqs],
        "tags": [["a", "b"]] * rows,
        "thread_id": [None] * rows,
        "request_id": [f"r{s}" for s in seqs],
        "user_id": [None] * rows,
        "metadata": ['{"k": 1}'] * rows,
    }
    return pa.RecordBatch.from_pydict(columns, schema=STORED_SCHEMA)


def seqs_of(log: WriteAheadLog, after: int = 0) -> list[int]:
    return [s for frame in log.replay(after) for s in frame.batch.column("seq").to_pylist()]


def test_frames_round_trip_by_seq(tmp_path: Path) -> None:
    """What was appended comes back after reopening, column for column; `replay(after)` skips the
    frames wholly at or below `after`."""
    log = WriteAheadLog(tmp_path)
    written = [batch(1, 1), batch(2, 1000, "x"), batch(1002, 5)]
    for b in written:
        log.append(b.column("seq")[0].as_py(), b)
    log.close()
    again = WriteAheadLog(tmp_path)
    frames = list(again.replay())
    assert [f.batch.equals(b) for f, b in zip(frames, written, strict=True)] == [True, True, True]
    assert [(f.first_seq, f.last_seq) for f in frames] == [(1, 1), (2, 1001), (1002, 1006)]
    assert [f.first_seq for f in again.replay(1001)] == [1002]
    assert again.last_seq == 1006
    assert again.torn == 0


def test_appends_must_move_seq_forward(tmp_path: Path) -> None:
    """A frame whose first seq is not past the last appended one is refused."""
    log = WriteAheadLog(tmp_path)
    log.append(1, batch(1, 3))
    with pytest.raises(StorageError, match="appended after seq 3"):
        log.append(3, batch(3, 1))
    log.close()


@pytest.mark.parametrize("seed", range(6))
def test_a_torn_last_frame_is_dropped_and_truncated(tmp_path: Path, seed: int) -> None:
    """Cut anywhere inside the last frame (a crash mid-write), the log reopens with every earlier frame,
    counts one torn frame, truncates the file to the last good one, and appends after it."""
    log = WriteAheadLog(tmp_path)
    log.append(1, batch(1, 10))
    last_frame_at = log.size
    log.append(11, batch(11, 10))
    log.close()
    [segment] = tmp_path.glob("*.wal")
    whole = segment.read_bytes()
    cut = random.Random(seed).randrange(last_frame_at + 1, len(whole))
    segment.write_bytes(whole[:cut])
    again = WriteAheadLog(tmp_path)
    assert (seqs_of(again), again.torn) == (list(range(1, 11)), 1)
    assert segment.stat().st_size == last_frame_at
    again.append(11, batch(11, 2))
    again.close()
    assert seqs_of(WriteAheadLog(tmp_path)) == list(range(1, 13))


def test_a_flipped_byte_in_the_last_frame_is_torn_elsewhere_damage(tmp_path: Path) -> None:
    """A checksum that fails in the last frame is a write cut short; in a frame with good frames
    after it, damage: StorageError naming the file and the byte."""
    log = WriteAheadLog(tmp_path)
    starts = []
    for first in (1, 11, 21):
        starts.append(log.size)
        log.append(first, batch(first, 10))
    log.close()
    [segment] = tmp_path.glob("*.wal")
    last = bytearray(segment.read_bytes())
    last[starts[2] + HEADER.size + 7] ^= 0xFF
    segment.write_bytes(bytes(last))
    assert seqs_of(WriteAheadLog(tmp_path)) == list(range(1, 21))
    log = WriteAheadLog(tmp_path)
    log.append(21, batch(21, 10))
    log.close()
    middle = bytearray(segment.read_bytes())
    middle[starts[1] + HEADER.size + 7] ^= 0xFF
    segment.write_bytes(bytes(middle))
    with pytest.raises(StorageError, match=f"damaged at byte {starts[1]}"):
        WriteAheadLog(tmp_path)


def test_segments_rotate_and_applied_ones_are_released(tmp_path: Path) -> None:
    """Past `segment_bytes` a new segment starts; `release(through)` deletes the segments wholly at or
    below it (not the one being appended to), and what is left replays."""
    log = WriteAheadLog(tmp_path, segment_bytes=1)  # every frame its own segment
    for first in range(1, 50, 10):
        log.append(first, batch(first, 10))
    assert len(list(tmp_path.glob("*.wal"))) == 5
    assert log.release(25) == 2  # seqs 1-10 and 11-20; 21-30 is not wholly applied
    assert log.release(10_000) == 2  # all but the current one
    assert len(list(tmp_path.glob("*.wal"))) == 1
    log.append(51, batch(51, 1))  # rotates: the wholly applied segment can go now
    assert log.release(50) == 1
    log.close()
    assert seqs_of(WriteAheadLog(tmp_path)) == [51]


def test_an_empty_segment_left_by_a_crash_is_removed(tmp_path: Path) -> None:
    """A segment file created just before a crash, with nothing in it, does not stop the log."""
    log = WriteAheadLog(tmp_path)
    log.append(1, batch(1, 2))
    log.close()
    (tmp_path / f"{3:020d}.wal").write_bytes(b"")
    again = WriteAheadLog(tmp_path)
    again.append(3, batch(3, 1))
    again.close()
    assert seqs_of(WriteAheadLog(tmp_path)) == [1, 2, 3]


def test_fsync_mode_shares_fsyncs_between_waiting_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `fsync=True` every append returns after an fsync covering it, and writers arriving while
    one runs share the next one: fewer fsyncs than appends, every frame kept."""
    calls = []
    real = os.fsync

    def slow_fsync(fd: int) -> None:
        calls.append(fd)
        time.sleep(0.005)
        real(fd)

    monkeypatch.setattr(wal_module.os, "fsync", slow_fsync)
    log = WriteAheadLog(tmp_path, fsync=True)
    lock = threading.Lock()
    seq = [0]
    covered: list[bool] = []

    def writer() -> None:
        for _ in range(20):
            with lock:  # seqs in order, as the store assigns them under its write lock
                first = seq[0] + 1
                seq[0] += 5
                position = log.append(first, batch(first, 5))
            log.sync(position)  # outside it: writers meanwhile share the fsync
            covered.append(log._synced_to >= position)  # an fsync that began after it was written

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert seqs_of(WriteAheadLog(tmp_path)) == list(range(1, 801))
    assert covered == [True] * 160
    assert len(calls) < 160  # shared: 8 writers, each fsync 5 ms


def test_fsync_mode_overlapping_writers_wait_for_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers that append while an fsync runs do not each run their own: when it ends, one more
    fsync covers all of them."""
    calls = []
    gate = threading.Event()
    real = os.fsync

    def blocking_fsync(fd: int) -> None:
        calls.append(fd)
        gate.wait(5)
        real(fd)

    log = WriteAheadLog(tmp_path, fsync=True)
    log.sync(log.append(1, batch(1, 1)))  # the segment exists (its directory entry synced) before
    monkeypatch.setattr(wal_module.os, "fsync", blocking_fsync)
    first = threading.Thread(target=log.sync, args=(log.append(2, batch(2, 1)),))
    first.start()
    while not calls:
        time.sleep(0.001)
    positions = [log.append(s, batch(s, 1)) for s in range(3, 13)]  # while that fsync runs
    others = [threading.Thread(target=log.sync, args=(p,)) for p in positions]
    for t in others:
        t.start()
    time.sleep(0.05)
    assert len(calls) == 1  # they wait for the running one instead of starting their own
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert len(calls) == 2  # one more covers all ten
    log.close()
    assert seqs_of(WriteAheadLog(tmp_path)) == list(range(1, 13))


def test_a_full_disk_is_507_and_loses_nothing_appended_before(tmp_path: Path) -> None:
    """ENOSPC during an append is a DiskFullError; no partial frame stays, and every frame appended
    before it replays."""
    with small_disk(tmp_path / "disk", "4m") as disk:
        log = WriteAheadLog(disk / "wal")
        ballast = fill_disk(disk)
        os.truncate(ballast, max(0, ballast.stat().st_size - 600_000))  # room for a few frames
        first = 1
        refused: DiskFullError | None = None
        while refused is None:
            try:
                log.append(first, batch(first, 1000))
            except DiskFullError as exc:
                refused = exc
            else:
                first += 1000
        assert "is full" in str(refused)
        log.close()
        ballast.unlink()
        again = WriteAheadLog(disk / "wal")
        assert (seqs_of(again), again.torn) == (list(range(1, first)), 0)
        assert first > 1


CHILD = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{tests!r}]
    from test_wal import batch
    from log_analytics_engine.storage.embedded.wal import WriteAheadLog
    log = WriteAheadLog(__import__("pathlib").Path({path!r}), segment_bytes=200_000)
    first = log.last_seq + 1
    while True:
        rows = 1 + first % 97
        log.append(first, batch(first, rows))
        print(first + rows - 1, flush=True)  # acknowledged: the append returned
        first += rows
    """
)


def test_sigkill_at_random_points_loses_and_doubles_nothing_acknowledged(tmp_path: Path) -> None:
    """A process appending as fast as it can is killed with SIGKILL at random moments, 25 times over
    one log; after each, reopening finds every acknowledged seq exactly once, in order, the next
    process appending after them."""
    rng = random.Random(4)
    acked = 0
    script = CHILD.format(tests=str(Path(__file__).parent), path=str(tmp_path))
    for _ in range(25):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        first_line = child.stdout.readline()  # it runs: kill it at a random point from here
        assert first_line.strip(), "the appending process printed nothing"
        time.sleep(rng.uniform(0, 0.05))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
        child.wait()
        lines = [first_line, *rest.splitlines()]
        acked = max(acked, max(int(x) for x in lines if x.strip()))
        found = seqs_of(WriteAheadLog(tmp_path))
        assert found == list(range(1, len(found) + 1))  # each seq once, in order, no gap
        assert (
            found[-1] >= acked
        )  # every acknowledged one (a frame written but not acknowledged may be there)
