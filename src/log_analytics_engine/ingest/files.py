"""File and directory ingest: stream a file in chunks of whole lines and hand each to the pipeline.

Memory stays bounded by the chunk size whatever the file size; each chunk is one commit, so a
crash loses at most the chunk in flight. Gzip is read transparently. Bytes that are not UTF-8 are
replaced (U+FFFD) and counted, never fatal.
"""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest import jsonl, text
from log_analytics_engine.ingest.pipeline import Pipeline
from log_analytics_engine.model import LogEntry
from log_analytics_engine.timeparse import TimestampError, parse_timestamp

# One chunk is one commit. 122,880 rows is one DuckDB row group: commits of whole row groups leave
# no half-filled groups for the checkpoint to rewrite (which left ~45% of the file as free blocks).
CHUNK_ROWS = 122_880
CHUNK_BYTES = 64 << 20
READ_BYTES = 8 << 20
SCAN_BATCH_ROWS = 32_768
MAX_REPORTED = 100
FILE_TYPES = {
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "jsonl",
    "text": "text",
    "txt": "text",
    "log": "text",
}
_JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_TEXT_SUFFIXES = {".log", ".txt", ".out", ".err"}


@dataclass
class Chunk:
    """Whole lines of one file: the Arrow strings, the 1-based number of the first, and their bytes."""

    lines: pa.StringArray
    first_line: int
    nbytes: int
    replaced_lines: int


@dataclass
class FileReport:
    """The totals of one file or directory ingest, rendered by `as_dict` in the original shape plus more."""

    file: str
    type: str
    count: int = 0
    rejected: int = 0
    dropped: int = 0
    bytes: int = 0
    bad_timestamps: int = 0
    replaced_utf8_lines: int = 0
    rejected_lines: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    dead_letter: str | None = None
    started: float = field(default_factory=time.perf_counter)

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejected_lines) < MAX_REPORTED:
            self.rejected_lines.append({"line": line, "reason": reason})

    def add(self, other: FileReport) -> None:
        self.count += other.count
        self.rejected += other.rejected
        self.dropped += other.dropped
        self.bytes += other.bytes
        self.bad_timestamps += other.bad_timestamps
        self.replaced_utf8_lines += other.replaced_utf8_lines
        room = MAX_REPORTED - len(self.rejected_lines)
        self.rejected_lines.extend({"file": other.file, **r} for r in other.rejected_lines[:room])
        self.files.append(other.as_dict(include_files=False))

    def as_dict(self, include_files: bool = True) -> dict[str, Any]:
        duration = time.perf_counter() - self.started
        out: dict[str, Any] = {
            "file": self.file,
            "type": self.type,
            "count": self.count,
            "duration_sec": duration,
            "logs_per_sec": self.count / duration if duration > 0 else 0.0,
            "rejected": self.rejected,
            "dropped": self.dropped,
            "bytes": self.bytes,
            "mb_per_sec": self.bytes / 1e6 / duration if duration > 0 else 0.0,
            "bad_timestamps": self.bad_timestamps,
            "replaced_utf8_lines": self.replaced_utf8_lines,
            "rejected_lines": list(self.rejected_lines),
        }
        if self.dead_letter:
            out["dead_letter"] = self.dead_letter
        if include_files and self.files:
            out["files"] = list(self.files)
        return out


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]  # a binary IO
    return path.open("rb")


def _lines(block: bytes) -> pa.StringArray:
    """Arrow strings over a block that ends in a newline, without a Python object per line."""
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
    offsets = np.empty(len(ends) + 1, np.int32)
    offsets[0] = 0
    offsets[1:] = ends + 1
    return pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(block))


def _blocks(handle: IO[bytes], rows: int, max_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines (each ending in a newline) of at most `rows` lines, and of at most
    `max_bytes` unless a single line is longer."""
    buf = b""
    eof = False
    while True:
        parts, size, newlines = [buf], len(buf), buf.count(b"\n")
        while not eof and (newlines == 0 or (size < max_bytes and newlines < rows)):
            data = handle.read(READ_BYTES)
            eof = not data
            parts.append(data)
            size += len(data)
            newlines += data.count(b"\n")
        buf = b"".join(parts)
        if not buf:
            return
        ends = np.flatnonzero(np.frombuffer(buf, np.uint8) == 10)
        if len(ends) == 0:
            block, buf = buf + b"\n", b""  # the last line had no newline
        else:
            last = min(len(ends), rows) - 1
            while last > 0 and ends[last] >= max_bytes:
                last -= 1
            cut = int(ends[last]) + 1
            block, buf = buf[:cut], buf[cut:]
        yield block


def read_chunks(path: Path, rows: int = CHUNK_ROWS, max_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Whole-line chunks of `rows` lines (fewer when they pass `max_bytes`), with their line numbers."""
    line_no = 1
    with _open(path) as handle:
        for raw in _blocks(handle, rows, max_bytes):
            block = raw
            lines = _lines(block)
            replaced = 0
            try:
                lines.validate(full=True)
            except pa.ArrowInvalid:
                block = block.decode("utf-8", "replace").encode("utf-8")
                lines = _lines(block)
                replaced = int(pc.sum(pc.match_substring(lines, "\ufffd")).as_py() or 0)
            yield Chunk(lines, line_no, len(block), replaced)
            line_no += len(lines)


def _prefetched(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The same chunks, the next one read on a helper thread while the caller stores the current."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-analytics-read") as pool:
        pending = pool.submit(next, chunks, None)
        while True:
            chunk = pending.result()
            if chunk is None:
                return
            pending = pool.submit(next, chunks, None)
            yield chunk


def detect_type(path: Path) -> str:
    """jsonl or text, from the extension (under any .gz) or else from the first non-blank byte."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    suffix = Path(name).suffix.lower()
    if suffix in _JSON_SUFFIXES:
        return "jsonl"
    if suffix in _TEXT_SUFFIXES:
        return "text"
    with _open(path) as handle:
        head = handle.read(4096).lstrip()
    return "jsonl" if head.startswith(b"{") else "text"


def _chunk_table(chunk: Chunk) -> pa.Table:
    n = pa.array(np.arange(len(chunk.lines), dtype=np.int64))
    table = pa.table({"n": n, "line": chunk.lines})
    # Several record batches let DuckDB's Arrow scan (and so the JSON parsing) use every core.
    return pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_BATCH_ROWS))


def json_reason(line: str) -> str:
    """Why a line is not a JSON object: the parser's error, or the type it holds instead."""
    line = line.rstrip("\r\n")  # positions within the line itself
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    return f"not a JSON object (found {type(value).__name__})"


class FileIngest:
    """One ingest call over a file or a directory."""

    def __init__(
        self,
        pipeline: Pipeline,
        dead_letter: Path | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.dead_letter = dead_letter
        self._dead: IO[bytes] | None = None
        self._progress = progress
        self._done = [0, 0]  # bytes read and logs stored, over every file of this call

    def run(self, path: Path, file_type: str) -> dict[str, Any]:
        """Ingest the file or every file under the directory; returns the report dict."""
        if not path.exists():
            raise IngestError(f"no such file or directory: {path}")
        try:
            if path.is_dir():
                total = FileReport(str(path), "directory")
                for child in sorted(p for p in path.rglob("*") if p.is_file()):
                    total.add(self._file(child, detect_type(child)))
                return self._finish(total)
            kind = detect_type(path) if file_type == "auto" else FILE_TYPES.get(file_type.lower())
            if kind is None:
                raise IngestError(
                    f"unknown file_type {file_type!r}; use one of: auto, {', '.join(FILE_TYPES)}"
                )
            return self._finish(self._file(path, kind))
        finally:
            if self._dead is not None:
                self._dead.close()

    def _finish(self, report: FileReport) -> dict[str, Any]:
        if self._dead is not None:
            report.dead_letter = str(self.dead_letter)
        return report.as_dict()

    def _file(self, path: Path, kind: str) -> FileReport:
        report = FileReport(str(path), kind)
        for chunk in _prefetched(read_chunks(path)):
            report.bytes += chunk.nbytes
            report.replaced_utf8_lines += chunk.replaced_lines
            stored = report.count
            if kind == "text":
                self._store_chunk(text.select_sql(), _chunk_table(chunk), report)
            else:
                self._jsonl_chunk(chunk, report)
            if self._progress is not None:
                self._done[0] += chunk.nbytes
                self._done[1] += report.count - stored
                self._progress(self._done[0], self._done[1])
        return report

    def json_lines(self, lines: Sequence[str], name: str = "request") -> dict[str, Any]:
        """Ingest JSON lines held in memory (an HTTP body) like a JSONL file: the report of `run`, the
        lines numbered from 1."""
        chunk = Chunk(pa.array(lines, pa.string()), 1, sum(len(line) for line in lines), 0)
        report = FileReport(name, "jsonl")
        try:
            if lines:
                self._jsonl_chunk(chunk, report)
        finally:
            if self._dead is not None:
                self._dead.close()
        return self._finish(report)

    def _jsonl_chunk(self, chunk: Chunk, report: FileReport) -> None:
        """Store a chunk of JSON lines; the lines that are not JSON objects are rejected, with reasons."""
        table = _chunk_table(chunk)
        rejected = self._lines_where(table, jsonl.REJECT)
        extras = jsonl.extra_keys([str(k) for (k,) in self._query(table, jsonl.SAMPLE_KEYS_SQL)])
        try:
            self._store_chunk(jsonl.select_sql(extras=extras), table, report)
        except duckdb.InvalidInputException:
            # Malformed JSON aborts the whole statement: find those lines (rare), then store the rest.
            malformed = self._lines_where(table, f"{jsonl.ACCEPT} AND NOT json_valid(line)")
            if not malformed:
                raise
            skipped = ", ".join(str(n) for n, _ in malformed)
            self._store_chunk(jsonl.select_sql(f"n NOT IN ({skipped})", extras), table, report)
            rejected = sorted(rejected + malformed)
        for n, line in rejected:
            report.reject(chunk.first_line + n, json_reason(line))
            self._write_dead(line)

    def _query(self, table: pa.Table, sql: str) -> list[tuple[Any, ...]]:
        """Rows of read-only SQL over the chunk (registered as `chunk`)."""
        cur = self.pipeline.store.cursor()
        cur.register("chunk", table)
        try:
            rows: list[tuple[Any, ...]] = cur.execute(sql).fetchall()
        finally:
            cur.unregister("chunk")
        return rows

    def _lines_where(self, table: pa.Table, condition: str) -> list[tuple[int, str]]:
        """(position, text) of the chunk's lines meeting `condition`, in file order."""
        rows = self._query(table, f"SELECT n, line FROM chunk WHERE {condition} ORDER BY n")
        return [(int(n), str(line)) for n, line in rows]

    def _store_chunk(self, select: str, table: pa.Table, report: FileReport) -> None:
        if self.pipeline.has_hooks:
            self._through_hooks(select, table, report)
            return
        write = self.pipeline.ingest_select(select, table)
        report.count += write.rows
        report.bad_timestamps += write.bad_timestamps

    def _through_hooks(self, select: str, table: pa.Table, report: FileReport) -> None:
        """The slow path users ask for by registering hooks: parse in SQL, then LogEntry objects."""
        cur = self.pipeline.store.cursor()
        cur.register("chunk", table)
        now = time.time_ns()
        try:
            rows = cur.execute(select, [0, now, now]).fetchall()
            entries = [LogEntry.from_stored(row) for row in rows]
        finally:
            cur.unregister("chunk")
        for entry in entries:
            entry.seq = None
            if entry.timestamp_ns is None:
                raw = entry.metadata.get("timestamp_raw")
                with contextlib.suppress(TimestampError):
                    entry.timestamp = parse_timestamp(raw) if raw is not None else now
        result = self.pipeline.ingest_entries(entries)
        report.count += result.write.rows
        report.dropped += result.dropped
        report.bad_timestamps += result.write.bad_timestamps

    def _write_dead(self, line: str) -> None:
        if self.dead_letter is None:
            return
        if self._dead is None:
            self._dead = self.dead_letter.open("ab")
        self._dead.write(line.rstrip("\r\n").encode() + b"\n")
