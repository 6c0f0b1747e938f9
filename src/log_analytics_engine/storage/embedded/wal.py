"""The write-ahead log: a write is appended here, and acknowledged once the append is in the OS (a
process killed with SIGKILL loses nothing acknowledged: the kernel holds the bytes); with `fsync=True`
an append also waits for an fsync, shared by the writers waiting at that moment (a power loss loses
nothing acknowledged either).

A directory of segment files `<first seq, 20 digits>.wal`, each a run of frames:

    magic   4 bytes  b"LAWF"
    length  u32      payload bytes
    first   u64      seq of the frame's first row
    rows    u32      rows in the frame
    crc     u32      CRC-32 of the 20 header bytes above and the payload
    payload          one Arrow IPC record batch message of STORED_SCHEMA (seq included), or,
                     for a write of one log, its row as a JSON array (seq first): ~15 µs less a
                     write than a one-row batch, which is what the single-log API needs

Opening scans every frame and checks its checksum. The frame a crash cut short is the last one of
the last segment, its bytes missing or its checksum wrong; it was never acknowledged, so it is
dropped, the file truncated before it, and counted (`torn`). A bad frame with good bytes after it
is damage, not a torn tail: StorageError naming the file and offset. Frames hold increasing seqs;
`replay(after)` yields those past `after` (what the store has not applied yet), so each is applied
exactly once; `release(through)` deletes the segments wholly applied.
"""

from __future__ import annotations

import errno
import os
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from log_analytics_engine.errors import DiskFullError, StorageError
from log_analytics_engine.model import STORED_SCHEMA

MAGIC = b"LAWF"
HEADER = struct.Struct("<4sIQII")  # magic, length, first seq, rows, crc
SUFFIX = ".wal"
# A segment is closed for appends past this size; applied segments are deleted whole.
SEGMENT_BYTES = 64 << 20
# A frame's payload: no write of one batch comes near it (bodies are 16 MiB before decoding).
MAX_FRAME_BYTES = 1 << 30


@dataclass(frozen=True)
class Frame:
    """One appended batch: its first seq, its rows (their seqs run from `first_seq` up)."""

    first_seq: int
    batch: pa.RecordBatch

    @property
    def last_seq(self) -> int:
        return self.first_seq + int(self.batch.num_rows) - 1


@dataclass
class _Segment:
    path: Path
    first_seq: int
    last_seq: int = 0  # of its last frame; 0 while empty
    size: int = 0
    # (offset, length, first seq, rows) of each frame found at open
    frames: list[tuple[int, int, int, int]] = field(default_factory=list)


def _segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SUFFIX}"


def _frame(first_seq: int, rows: int, payload: bytes) -> bytes:
    head = HEADER.pack(MAGIC, len(payload), first_seq, rows, 0)[:20]
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack("<I", crc) + payload


def encode(first_seq: int, batch: pa.RecordBatch) -> bytes:
    """A frame of `batch` (STORED_SCHEMA) whose first row is `first_seq`."""
    return _frame(first_seq, batch.num_rows, batch.serialize().to_pybytes())


def encode_row(row: Sequence[Any]) -> bytes:
    """A frame of one stored row (STORED_SCHEMA's columns in order, seq first)."""
    return _frame(row[0], 1, orjson.dumps(row))


def stored_table(rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Stored rows (tuples in STORED_SCHEMA's column order) as one Arrow table."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(STORED_SCHEMA)
    return pa.Table.from_arrays(
        [pa.array(col, f.type) for col, f in zip(columns, STORED_SCHEMA, strict=True)], schema=STORED_SCHEMA
    )


def _decode(payload: bytes) -> pa.RecordBatch:
    if payload[:1] == b"[":  # a row; an Arrow IPC message starts with 0xFFFFFFFF
        return stored_table([orjson.loads(payload)]).to_batches()[0]
    return pa.ipc.read_record_batch(pa.py_buffer(payload), STORED_SCHEMA)


class WriteAheadLog:
    """Appends frames to segment files in `directory`; safe to call from many threads."""

    def __init__(self, directory: Path, *, fsync: bool = False, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.torn = 0  # frames dropped at open: cut short by a crash, never acknowledged
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._synced = threading.Condition(self._lock)
        self._segments = self._scan()
        self._fd: int | None = None
        self._written = 0  # bytes appended by this process, across segments
        self._synced_to = 0  # of those, how many an fsync has covered
        self._syncing = False
        self._closed = False

    # -- open ----------------------------------------------------------------------------------

    def _scan(self) -> list[_Segment]:
        paths = sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        segments = []
        previous = 0
        for path in [p for p in paths if p.stat().st_size == 0]:  # made just before a crash
            path.unlink()
            paths.remove(path)
        for index, path in enumerate(paths):
            segment = _Segment(path, int(path.name.removesuffix(SUFFIX)))
            data = path.read_bytes()
            offset = 0
            while offset < len(data):
                frame = self._check(data, offset)
                if frame is None:  # short or bad: a torn tail only at the very end of the last file
                    if index != len(paths) - 1 or not self._nothing_good_after(data, offset):
                        raise StorageError(
                            f"the write-ahead log {path} is damaged at byte {offset}: a frame that does not "
                            "check, with more after it (not a write cut short by a crash)"
                        )
                    with path.open("r+b") as handle:
                        handle.truncate(offset)
                    self.torn += 1
                    break
                length, first, rows = frame
                if first <= previous:
                    raise StorageError(
                        f"the write-ahead log {path} is damaged at byte {offset}: seq {first} "
                        f"follows {previous}"
                    )
                segment.frames.append((offset, length, first, rows))
                previous = segment.last_seq = first + rows - 1
                offset += HEADER.size + length
            segment.size = offset
            segments.append(segment)
        return segments

    @staticmethod
    def _check(data: bytes, offset: int) -> tuple[int, int, int] | None:
        """(payload length, first seq, rows) of the frame at `offset`, or None when it does not check."""
        if len(data) - offset < HEADER.size:
            return None
        magic, length, first, rows, crc = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if magic != MAGIC or length > MAX_FRAME_BYTES or end > len(data) or rows == 0:
            return None
        payload = memoryview(data)[offset + HEADER.size : end]
        if zlib.crc32(payload, zlib.crc32(data[offset : offset + 20])) != crc:
            return None
        return length, first, rows

    @staticmethod
    def _nothing_good_after(data: bytes, offset: int) -> bool:
        """Whether no whole frame starts past `offset` (a crash cuts only the last frame short)."""
        at = data.find(MAGIC, offset + 1)
        while at >= 0:
            if WriteAheadLog._check(data, at) is not None:
                return False
            at = data.find(MAGIC, at + 1)
        return True

    # -- reads ---------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The seq of the last row appended (0 when the log is empty)."""
        return next((s.last_seq for s in reversed(self._segments) if s.last_seq), 0)

    def replay(self, after_seq: int = 0) -> Iterator[Frame]:
        """The frames found at open whose rows lie past `after_seq`, in seq order. A frame reaching
        both sides of `after_seq` is yielded whole (the store applies frames whole, so it cannot)."""
        for segment in list(self._segments):
            if segment.last_seq <= after_seq:
                continue
            with segment.path.open("rb") as handle:
                for offset, length, first, _ in segment.frames:
                    handle.seek(offset + HEADER.size)
                    frame = Frame(first, _decode(handle.read(length)))
                    if frame.last_seq > after_seq:
                        yield frame

    def covered_through(self, after_seq: int) -> int:
        """The last seq of the unbroken run of rows the frames found at open hold from `after_seq + 1`
        (`after_seq` when they do not hold that one): how far they can fill a database that lost
        its tail. Rows stored around the WAL (file ingest) break the run."""
        reach = after_seq
        for segment in self._segments:
            for _, _, first, rows in segment.frames:
                if first > reach + 1:
                    return reach
                reach = max(reach, first + rows - 1)
        return reach

    @property
    def size(self) -> int:
        """The bytes the segments hold."""
        with self._lock:
            return sum(s.size for s in self._segments)

    # -- writes --------------------------------------------------------------------------------

    def append(self, first_seq: int, batch: pa.RecordBatch) -> int:
        """Append `batch` (STORED_SCHEMA, its rows seqs `first_seq`…): in the OS when this returns
        (callers append in seq order, under their own lock). Returns its position for `sync`, which
        waits for the disk in fsync mode; call that outside any lock so that writers share fsyncs.
        DiskFullError when the disk is full (nothing of the frame kept)."""
        return self._append(first_seq, int(batch.num_rows), encode(first_seq, batch))

    def append_row(self, row: Sequence[Any]) -> int:
        """Append one stored row (seq first) as `append` does a batch."""
        return self._append(row[0], 1, encode_row(row))

    def _append(self, first_seq: int, rows: int, frame: bytes) -> int:
        with self._lock:
            if self._closed:
                raise StorageError("the write-ahead log is closed")
            if first_seq <= self.last_seq:
                raise StorageError(f"seq {first_seq} appended after seq {self.last_seq}")
            segment = self._writable(first_seq)
            assert self._fd is not None
            self._write(self._fd, segment, frame)
            segment.last_seq = first_seq + rows - 1
            self._written += len(frame)
            return self._written

    def sync(self, position: int) -> None:
        """Return once the appends up to `position` are on the disk (at once without `fsync`)."""
        if not self.fsync:
            return
        with self._lock:
            self._sync_through(position)

    def _writable(self, first_seq: int) -> _Segment:
        """The segment to append to: the last one, or a new one when it is full (or opened by an
        earlier process: its tail is left as it was checked)."""
        last = self._segments[-1] if self._segments else None
        if self._fd is not None and last is not None and last.size < self.segment_bytes:
            return last
        if self._fd is not None:
            if self.fsync:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        segment = _Segment(self.directory / _segment_name(first_seq), first_seq)
        self._fd = os.open(segment.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if self.fsync:  # the new file's name, too
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._segments.append(segment)
        return segment

    def _write(self, fd: int, segment: _Segment, frame: bytes) -> None:
        view = memoryview(frame)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            os.ftruncate(fd, segment.size)  # no partial frame stays for the next append to follow
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"the disk holding {self.directory} is full; nothing of this write was stored. "
                    "Free space and retry"
                ) from exc
            raise StorageError(f"cannot append to the write-ahead log {segment.path}: {exc}") from exc
        segment.size += len(frame)

    def _sync_through(self, position: int) -> None:
        """Return once an fsync has covered `position` (called holding the lock): the first writer to
        find none running runs one for every write so far; the others wait for it (group fsync)."""
        while self._synced_to < position:
            if self._syncing:
                self._synced.wait()
                continue
            self._syncing = True
            target, fd = self._written, self._fd
            self._lock.release()
            try:
                assert fd is not None
                os.fsync(fd)
            finally:
                self._lock.acquire()
                self._syncing = False
            self._synced_to = max(self._synced_to, target)
            self._synced.notify_all()

    def release(self, through_seq: int) -> int:
        """Delete the segments whose rows are all at or below `through_seq` (applied); returns how
        many. The segment being appended to is kept until appends move to the next one."""
        removed = 0
        with self._lock:
            keep = []
            for segment in self._segments:
                is_current = segment is self._segments[-1] and self._fd is not None
                if segment.last_seq and segment.last_seq <= through_seq and not is_current:
                    segment.path.unlink(missing_ok=True)
                    removed += 1
                else:
                    keep.append(segment)
            self._segments = keep
        return removed

    def close(self) -> None:
        """Flush (fsync in that mode) and close the segment being appended to."""
        with self._lock:
            self._closed = True
            if self._fd is not None:
                if self.fsync:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
