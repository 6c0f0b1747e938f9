"""File, directory and stream ingest: read in chunks of whole lines and hand each to the pipeline.

Memory stays bounded by the chunk size whatever the file size; each chunk is one commit, so a
crash loses at most the chunk in flight. Gzip is read transparently (any number of members); a
damaged one keeps every whole line before the damage and is reported with the byte offset. Bytes
that are not UTF-8 are replaced (U+FFFD) and counted, never fatal. A file that is plainly not a
log (NUL bytes, an executable, image or archive header) is refused, or skipped and reported in a
directory. A stream (standard input) is stored as its data arrives, not at its end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import queue
import threading
import time
from collections import Counter
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

from log_analytics_engine import memory
from log_analytics_engine.errors import DamagedGzipError, IngestError
from log_analytics_engine.ingest import bounds, jsonl
from log_analytics_engine.ingest.formats import JSON_NAMES, Registry, registry
from log_analytics_engine.ingest.formats.parse import INSERT_SQL, TextParser
from log_analytics_engine.ingest.gzipstream import MAGIC as GZIP_MAGIC
from log_analytics_engine.ingest.gzipstream import STEP as GZIP_STEP
from log_analytics_engine.ingest.gzipstream import Gunzip, GzipReader
from log_analytics_engine.ingest.pipeline import Pipeline
from log_analytics_engine.ingest.report import IngestReport
from log_analytics_engine.model import INGEST_SCHEMA
from log_analytics_engine.timeparse import TimestampError, parse_timestamp

# One chunk is one commit. 122,880 rows is one DuckDB row group: commits of whole row groups leave
# no half-filled groups for the checkpoint to rewrite (which left ~45% of the file as free blocks).
CHUNK_ROWS = 122_880
CHUNK_BYTES = 64 << 20
# Reads of a file: a chunk's bytes are its reads joined, and the part of the last read after the
# chunk is copied to the next one (at 8 MB a read, up to 8 MB a chunk).
READ_BYTES = 2 << 20
SCAN_BYTES = 4 << 20  # bytes searched for newlines at once
SCAN_BATCH_ROWS = 32_768
MAX_REPORTED = 100
# What `file_type` may be besides `auto` and a format's name (or alias): text detects the format
# (so the fallback reader alone is never forced: a text file of no known format gets it anyway).
FILE_TYPES = {name: "jsonl" for name in JSON_NAMES} | {"text": "text", "txt": "text", "log": "text"}
_JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_TEXT_SUFFIXES = {".log", ".txt", ".out", ".err"}
# A stream's bytes are stored once the source pauses this long, or this long after they arrived.
STREAM_IDLE_SECONDS = 0.2
STREAM_FLUSH_SECONDS = 1.0
STREAM_READ_BYTES = 1 << 20
SNIFF_BYTES = 4096  # the first block, where a binary file shows what it is
_MAGICS = (
    (b"\x7fELF", "an ELF executable or library"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (or jar, docx, xlsx)"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\xca\xfe\xba\xbe", "a Mach-O universal binary or Java class"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x00asm", "a WebAssembly module"),
    (GZIP_MAGIC, "gzip data inside gzip (compressed twice)"),
    (b"\xff\xfe", "UTF-16 text (little-endian byte order mark): convert it to UTF-8 first"),
    (b"\xfe\xff", "UTF-16 text (big-endian byte order mark): convert it to UTF-8 first"),
)


# Bytes of whole lines: as given (bytes) or a view of what was read (memoryview).
Block = bytes | memoryview


@dataclass
class Chunk:
    """Whole lines of one file: the Arrow strings, the 1-based number of the first, and their bytes."""

    lines: pa.StringArray
    first_line: int
    nbytes: int
    replaced_lines: int


@dataclass(kw_only=True)
class FileReport(IngestReport):
    """The report of one file or directory ingest (rejections by 0-based line, so `line` is one
    more), rendered by `as_dict` in the original shape plus more."""

    file: str
    type: str
    bad_timestamps: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    damaged: int = 0
    damaged_files: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    skipped_files: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    dead_letter: str | None = None
    started: float = field(default_factory=time.perf_counter)
    max_listed: int = MAX_REPORTED

    def damage(self, exc: DamagedGzipError) -> None:
        """The file stopped decompressing at `exc.offset`: what came before it is stored."""
        self.damaged += 1
        if len(self.damaged_files) < MAX_REPORTED:
            self.damaged_files.append({"file": self.file, "offset": exc.offset, "reason": exc.reason})

    def skip(self, path: Path, reason: str) -> None:
        """A file of the directory that is not a log: not ingested."""
        self.skipped += 1
        if len(self.skipped_files) < MAX_REPORTED:
            self.skipped_files.append({"file": str(path), "reason": reason})

    def add_file(self, other: FileReport) -> None:
        """Fold in the report of one file of this directory."""
        listed = len(self.rejected)
        self.add(other)
        self.rejected[listed:] = [dataclasses.replace(r, file=other.file) for r in self.rejected[listed:]]
        self.bad_timestamps += other.bad_timestamps
        self.formats.update(other.formats)
        self.damaged += other.damaged
        self.damaged_files.extend(other.damaged_files[: MAX_REPORTED - len(self.damaged_files)])
        self.files.append(other.as_dict(include_files=False))

    def as_dict(self, include_files: bool = True) -> dict[str, Any]:
        duration = time.perf_counter() - self.started
        out: dict[str, Any] = {
            "file": self.file,
            "type": self.type,
            "count": self.accepted,
            "duration_sec": duration,
            "logs_per_sec": self.accepted / duration if duration > 0 else 0.0,
            "rejected": self.rejected_count,
            "dropped": self.dropped,
            "bytes": self.bytes,
            "mb_per_sec": self.bytes / 1e6 / duration if duration > 0 else 0.0,
            "bad_timestamps": self.bad_timestamps,
            "no_timestamp": self.no_timestamp,
            "format": self.formats.most_common(1)[0][0] if self.formats else self.type,
            "formats": dict(self.formats.most_common()),
            "replaced_utf8_lines": self.replaced_utf8_lines,
            "rejected_lines": [
                {"line": r.position + 1, "reason": r.reason} | ({"file": r.file} if r.file else {})
                for r in self.rejected
            ],
            "damaged": self.damaged,
            "damaged_files": list(self.damaged_files),
            "skipped": self.skipped,
            "skipped_files": list(self.skipped_files),
        }
        if self.dead_letter:
            out["dead_letter"] = self.dead_letter
        if include_files and self.files:
            out["files"] = list(self.files)
        return out


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return GzipReader(path.open("rb"))  # type: ignore[return-value]  # reads like a binary IO
    return path.open("rb")


def binary_reason(head: bytes) -> str | None:
    """Why bytes that start a file (its first block, decompressed) are plainly not a log, or None."""
    for magic, what in _MAGICS:
        if head.startswith(magic):
            return f"{what} (starts with {magic[:8]!r})"
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":
        return "a bzip2 archive (starts with b'BZh')"
    if head[257:262] == b"ustar":
        return "a tar archive"
    nul = head.find(b"\0")
    if nul >= 0:
        where = f"NUL bytes in its first {len(head):,} bytes (the first at byte {nul})"
        return f"{where}: binary data, or UTF-16 text"
    return None


def head_of(path: Path) -> bytes:
    """A file's first SNIFF_BYTES, gzip decompressed (nothing when the damage is right at the start:
    ingesting it reports where)."""
    try:
        with _open(path) as handle:
            return handle.read(SNIFF_BYTES)
    except DamagedGzipError:
        return b""


def not_a_log(path: Path, head: bytes | None = None) -> str | None:
    """Why the file (whose `head_of` is `head`, when read already) is plainly not a log, or None."""
    return binary_reason(head_of(path) if head is None else head)


def not_a_log_error(name: object, reason: str) -> IngestError:
    """The error of a file or stream given alone that is plainly not a log."""
    return IngestError(f"{name} is not a log: {reason}; nothing was ingested")


def _newlines(data: Block | bytearray) -> np.ndarray:
    """Offsets of the newlines in `data`, found SCAN_BYTES at a time (a whole chunk's comparison was a
    temporary array of its size, twice a chunk: once to cut it, once to split it)."""
    found = [
        np.flatnonzero(np.frombuffer(data, np.uint8, min(SCAN_BYTES, len(data) - at), at) == 10) + at
        for at in range(0, len(data), SCAN_BYTES)
    ]
    return np.concatenate(found) if found else np.empty(0, np.int64)


def _lines(block: Block) -> pa.StringArray:
    """Arrow strings over a block that ends in a newline, without a Python object per line."""
    ends = _newlines(block)
    offsets = np.empty(len(ends) + 1, np.int32)
    offsets[0] = 0
    offsets[1:] = ends + 1
    return pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(block))


def _blocks(handle: IO[bytes], rows: int, max_bytes: int) -> Iterator[Block]:
    """Blocks of whole lines (each ending in a newline) of at most `rows` lines, and of at most
    `max_bytes` unless a single line is longer. Reads are appended to one buffer, which grows in
    place (reads joined at the end held a chunk twice), and a block is a view of it: only the part
    after the block, less than one read, is copied, to start the next buffer."""
    rest = b""
    eof = False
    damage: DamagedGzipError | None = None
    while True:
        buf, newlines = bytearray(rest), rest.count(b"\n")
        while not eof and (newlines == 0 or (len(buf) < max_bytes and newlines < rows)):
            try:
                data = handle.read(READ_BYTES)
            except DamagedGzipError as exc:  # everything before it was read
                damage, data = exc, b""
            eof = not data
            buf += data
            newlines += data.count(b"\n")
        if not buf:
            break
        ends = _newlines(buf)
        block: Block
        if len(ends) == 0:
            if damage is not None:
                break  # the line the damage cut short is not a whole line: not stored
            buf += b"\n"  # the last line had no newline
            block, rest = memoryview(buf), b""
        else:
            last = min(len(ends), rows) - 1
            while last > 0 and ends[last] >= max_bytes:
                last -= 1
            cut = int(ends[last]) + 1
            block, rest = memoryview(buf)[:cut], bytes(buf[cut:])
        yield block
    if damage is not None:
        raise damage


def _chunk(block: Block, first_line: int) -> Chunk:
    """A block of whole lines as a chunk, bytes that are not UTF-8 replaced (and counted)."""
    lines = _lines(block)
    replaced = 0
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        block = str(block, "utf-8", "replace").encode("utf-8")
        lines = _lines(block)
        replaced = int(pc.sum(pc.match_substring(lines, "\ufffd")).as_py() or 0)
    return Chunk(lines, first_line, len(block), replaced)


def _numbered(blocks: Iterator[Block]) -> Iterator[Chunk]:
    line_no = 1
    for block in blocks:
        chunk = _chunk(block, line_no)
        yield chunk
        line_no += len(chunk.lines)


def read_chunks(path: Path, rows: int | None = None, max_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Whole-line chunks of `rows` lines (fewer when they pass `max_bytes`), with their line numbers.
    A damaged gzip file raises DamagedGzipError (naming the file) after the chunks before the damage."""
    rows = CHUNK_ROWS if rows is None else rows  # read at call time: tests make chunks small
    with _open(path) as handle:
        try:
            yield from _numbered(_blocks(handle, rows, max_bytes))
        except DamagedGzipError as exc:
            exc.where = str(path)
            raise


def _arrivals(stream: IO[bytes]) -> Iterator[bytes]:
    """A stream's bytes in groups as they arrive: a group ends when the source pauses for
    STREAM_IDLE_SECONDS, STREAM_FLUSH_SECONDS after its first byte, or at CHUNK_BYTES.

    A helper thread reads (blocking reads cannot time out); it ends at the end of the stream.
    """
    pieces: queue.Queue[bytes | OSError | None] = queue.Queue(maxsize=64)
    read = getattr(stream, "read1", stream.read)  # read1: what is there now, not a full buffer

    def pump() -> None:
        try:
            while data := read(STREAM_READ_BYTES):
                pieces.put(data)
        except OSError as exc:  # handed to the reader, which raises it
            pieces.put(exc)
        finally:
            pieces.put(None)

    threading.Thread(target=pump, name="log-analytics-stdin", daemon=True).start()
    held: list[bytes | OSError | None] = []  # the end (or error) met while grouping, for after it
    while True:
        item = held.pop() if held else pieces.get()
        if isinstance(item, OSError):
            raise item
        if item is None:
            return
        group, size = [item], len(item)
        deadline = time.monotonic() + STREAM_FLUSH_SECONDS
        while size < CHUNK_BYTES:
            wait = min(STREAM_IDLE_SECONDS, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                item = pieces.get(timeout=wait)
            except queue.Empty:
                break
            if item is None or isinstance(item, OSError):
                held.append(item)
                break
            group.append(item)
            size += len(item)
        yield b"".join(group)


def _decoded(groups: Iterator[bytes]) -> Iterator[bytes]:
    """The stream's data, gzip decompressed when it starts with the magic number, in pieces of bounded
    size: compressed input is fed STEP bytes at a time, so no piece is over ~66 MB (deflate expands
    at most ~1,032x) however much one arrival holds. DamagedGzipError carries the piece before it."""
    decoder: Gunzip | None = None
    for number, group in enumerate(groups):
        if number == 0 and group.startswith(GZIP_MAGIC):
            decoder = Gunzip()
        if decoder is None:
            yield group
            continue
        for at in range(0, len(group), GZIP_STEP):
            yield decoder.decompress(group[at : at + GZIP_STEP])
    if decoder is not None:
        decoder.finish()


def _stream_blocks(groups: Iterator[bytes], name: str) -> Iterator[Block]:
    """Whole-line blocks of the decoded stream as it arrives. Its first SNIFF_BYTES are checked before
    anything is stored (IngestError when it is plainly not a log), so an endless binary stream with
    no newline is refused at once instead of buffered."""
    carry: list[bytes] = []  # the line in progress, in pieces (no quadratic joins)
    head = b""
    sniffed = False
    damage: DamagedGzipError | None = None
    pieces = _decoded(groups)
    while damage is None:
        try:
            piece = next(pieces, None)
        except DamagedGzipError as exc:
            damage, piece = exc, exc.decoded
        if piece is None:
            break
        if not sniffed:
            head += piece[: SNIFF_BYTES - len(head)]
            sniffed = len(head) >= SNIFF_BYTES
            if sniffed:
                _refuse_binary(head, name)
        cut = piece.rfind(b"\n") + 1
        if not cut:
            carry.append(piece)
            continue
        if not sniffed:  # a short stream, or short first lines: check what there is
            _refuse_binary(head, name)
            sniffed = True
        data = b"".join([*carry, piece[:cut]])
        carry = [piece[cut:]]
        yield from _blocks(io.BytesIO(data), CHUNK_ROWS, CHUNK_BYTES)
    if damage is not None:
        damage.where = name
        raise damage  # the line the damage cut short is not a whole line: not stored
    rest = b"".join(carry)
    if rest:
        if not sniffed:
            _refuse_binary(head, name)
        yield rest + b"\n"  # the last line had no newline


def _refuse_binary(head: bytes, name: str) -> None:
    reason = binary_reason(head)
    if reason is not None:
        raise not_a_log_error(name, reason)


def stream_chunks(stream: IO[bytes], name: str = "-") -> Iterator[Chunk]:
    """Whole-line chunks of a stream (standard input) as its data arrives, numbered from 1; gzip is
    decompressed. IngestError first when the stream is plainly not a log; DamagedGzipError (after
    the chunks before it) when its gzip is damaged."""
    yield from _numbered(_stream_blocks(_arrivals(stream), name))


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


def detect_type(path: Path, head: bytes | None = None) -> str:
    """jsonl or text, from the extension (under any .gz; a text extension whose first line is a JSON
    object is JSON lines) or else from the first non-blank byte (of `head`, the file's `head_of`,
    when read already)."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    suffix = Path(name).suffix.lower()
    if suffix in _JSON_SUFFIXES:
        return "jsonl"
    first = (head_of(path) if head is None else head).lstrip()
    if suffix in _TEXT_SUFFIXES:  # a .log of JSON lines (Docker's, pino's) is JSON lines all the same
        line, whole = first.split(b"\n", 1)[0], b"\n" in first  # a line past the sniffed bytes is cut
        return "jsonl" if line.startswith(b"{") and (not whole or _is_json_object(line)) else "text"
    return "jsonl" if first.startswith(b"{") else "text"


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


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
        formats: Registry | None = None,
        zone: str = "UTC",
    ) -> None:
        self.pipeline = pipeline
        self.dead_letter = dead_letter
        self._dead: IO[bytes] | None = None
        self._progress = progress
        self._done = [0, 0]  # bytes read and logs stored, over every file of this call
        self.formats = registry() if formats is None else formats
        self.zone = zone

    def run(self, path: Path, file_type: str) -> dict[str, Any]:
        """Ingest the file or every file under the directory; returns the report dict."""
        if not path.exists():
            raise IngestError(f"no such file or directory: {path}")
        try:
            kind = self._kind(file_type)
            if path.is_dir():
                total = FileReport(file=str(path), type="directory")
                for child in sorted(p for p in path.rglob("*") if p.is_file()):
                    head = head_of(child)  # read once: what it is, and its type
                    reason = binary_reason(head)
                    if reason is not None:
                        total.skip(child, reason)
                    else:
                        # each file typed on its own; a format named reads the text files
                        typed = detect_type(child, head)
                        forced = typed == "text" and kind not in ("auto", "jsonl", "text")
                        total.add_file(self._file(child, kind if forced else typed))
                return self._finish(total)
            head = head_of(path)
            reason = binary_reason(head)
            if reason is not None:
                raise not_a_log_error(path, reason)
            return self._finish(self._file(path, detect_type(path, head) if kind == "auto" else kind))
        finally:
            if self._dead is not None:
                self._dead.close()

    def run_stream(self, stream: IO[bytes], file_type: str, name: str = "-") -> dict[str, Any]:
        """Ingest a stream (standard input) as its data arrives: each group of lines is stored when
        the source pauses (STREAM_IDLE_SECONDS) or after STREAM_FLUSH_SECONDS; returns the report
        at the end of the stream. `auto` types it by its first line."""
        kind = self._kind(file_type)
        try:
            chunks = stream_chunks(stream, name)
            first = next(chunks, None)
            if kind == "auto":
                head = "" if first is None else next((s for s in first.lines.to_pylist() if s.strip()), "")
                kind = "jsonl" if head.lstrip().startswith("{") else "text"
            report = FileReport(file=name, type=kind)
            if first is not None:
                # a stream's last event is not held for lines that may never come
                self._store_chunks(itertools.chain([first], chunks), kind, report, time.time_ns(), hold=False)
            return self._finish(report)
        finally:
            if self._dead is not None:
                self._dead.close()

    def _kind(self, file_type: str) -> str:
        """`auto`, `jsonl`, `text` (formats detected) or the name of the format forced."""
        wanted = file_type.lower()
        if wanted == "auto":
            return "auto"
        if wanted in FILE_TYPES:
            return FILE_TYPES[wanted]
        return self.formats.get(wanted).name  # IngestError listing the names

    def _finish(self, report: FileReport) -> dict[str, Any]:
        if self._dead is not None:
            report.dead_letter = str(self.dead_letter)
        return report.as_dict()

    def _file(self, path: Path, kind: str) -> FileReport:
        report = FileReport(file=str(path), type=kind)
        # a year a line leaves out is the one that does not put it after the file was last written
        self._store_chunks(_prefetched(read_chunks(path)), kind, report, path.stat().st_mtime_ns)
        return report

    def _store_chunks(
        self, chunks: Iterator[Chunk], kind: str, report: FileReport, ref_ns: int, hold: bool = True
    ) -> None:
        """Store every chunk; damaged gzip ends them, reported (what came before it is stored)."""
        parser = None
        if kind != "jsonl":
            forced = None if kind == "text" else self.formats.get(kind)
            parser = TextParser(self.formats, forced, ref_ns, self.zone)
        try:
            for chunk in chunks:
                self._store_one(chunk, parser, report, final=not hold)
        except DamagedGzipError as exc:
            report.damage(exc)
        if parser is not None:  # the event held back for continuation lines
            self._store_text(parser, pa.array([], pa.string()), report, final=True)

    def _store_one(self, chunk: Chunk, parser: TextParser | None, report: FileReport, final: bool) -> None:
        report.bytes += chunk.nbytes
        report.replaced_utf8_lines += chunk.replaced_lines
        stored = report.accepted
        if parser is not None:
            self._store_text(parser, chunk.lines, report, final)
        else:
            self._jsonl_chunk(chunk, report)
        memory.release_after(chunk.nbytes)
        if self._progress is not None:
            self._done[0] += chunk.nbytes
            self._done[1] += report.accepted - stored
            self._progress(self._done[0], self._done[1])

    def _store_text(self, parser: TextParser, lines: pa.StringArray, report: FileReport, final: bool) -> None:
        """Parse a chunk of text lines by its formats and store its events."""
        now = time.time_ns()
        parsed = parser.parse(self.pipeline.bulk_store.cursor(), lines, now, final)
        report.no_timestamp += parsed.no_timestamp
        report.formats.update(parsed.formats)
        if parsed.table.num_rows:
            self._store_chunk(INSERT_SQL, parsed.table, report, [now])

    def text_body(self, body: bytes, file_type: str = "text", name: str = "request") -> dict[str, Any]:
        """Ingest text held in memory (an HTTP body) like a text file: IngestError when it is plainly
        not a log, or `file_type` is JSON or unknown; the report of `run`. Years left out are read
        against the time of the call."""
        kind = "text" if file_type.lower() == "auto" else self._kind(file_type)
        if kind == "jsonl":
            raise IngestError("text_body reads text formats; JSON lines take the JSON ingest")
        reason = binary_reason(body[:SNIFF_BYTES])
        if reason is not None:
            raise not_a_log_error(name, reason)
        report = FileReport(file=name, type=kind)
        if body:
            data = body if body.endswith(b"\n") else body + b"\n"
            self._store_chunks(
                _numbered(_blocks(io.BytesIO(data), CHUNK_ROWS, CHUNK_BYTES)), kind, report, time.time_ns()
            )
        return self._finish(report)

    def json_lines(self, lines: Sequence[str], name: str = "request") -> FileReport:
        """Ingest JSON lines held in memory (an HTTP body's residue) like a JSONL file; rejections by
        0-based position in `lines`."""
        chunk = Chunk(pa.array(lines, pa.string()), 1, sum(len(line) for line in lines), 0)
        report = FileReport(file=name, type="jsonl")
        try:
            if lines:
                self._jsonl_chunk(chunk, report)
        finally:
            if self._dead is not None:
                self._dead.close()
        return report

    def _jsonl_chunk(self, chunk: Chunk, report: FileReport) -> None:
        """Store a chunk of JSON lines; the lines that are not JSON objects, or are over a bound of one
        log (nesting, keys: `bounds`), are rejected with reasons (and kept in the dead letter file)."""
        original, over = chunk, bounds.over_bound(chunk.lines)
        if over:  # blanked, as the SQL skips blank lines: it never parses them
            mask = np.zeros(len(chunk.lines), np.bool_)
            mask[[n for n, _ in over]] = True
            chunk = dataclasses.replace(chunk, lines=pc.if_else(pa.array(mask), "", chunk.lines))
        table = _chunk_table(chunk)
        rejected = self._lines_where(table, jsonl.REJECT)
        extras = jsonl.extra_keys([str(k) for (k,) in self._query(table, jsonl.SAMPLE_KEYS_SQL)])
        try:
            self._store_chunk(jsonl.select_sql(extras=extras), table, report)
        except (duckdb.InvalidInputException, UnicodeDecodeError):
            # Malformed JSON aborts the whole statement: find those lines (rare), then store the rest.
            # (DuckDB's error quotes the line cut at a byte count: with multi-byte text in it, the
            # message itself fails to decode, and that is the error Python sees.)
            malformed = self._lines_where(table, f"{jsonl.ACCEPT} AND NOT json_valid(line)")
            if not malformed:
                raise
            skipped = ", ".join(str(n) for n, _ in malformed)
            self._store_chunk(jsonl.select_sql(f"n NOT IN ({skipped})", extras), table, report)
            rejected = sorted(rejected + malformed)
        bad = [(n, line, json_reason(line)) for n, line in rejected]
        bad += [(n, original.lines[n].as_py(), why) for n, why in over]
        for n, line, why in sorted(bad, key=lambda item: item[0]):
            report.reject(chunk.first_line + n - 1, why)  # 0-based: the line before it
            self._write_dead(line)

    def _query(self, table: pa.Table, sql: str) -> list[tuple[Any, ...]]:
        """Rows of read-only SQL over the chunk (registered as `chunk`)."""
        cur = self.pipeline.bulk_store.cursor()
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

    def _store_chunk(
        self, select: str, table: pa.Table, report: FileReport, params: Sequence[object] | None = None
    ) -> None:
        """Store the SELECT over the chunk; `params` follow the store's first seq (default: the ingest
        time twice, as `jsonl.select_sql` takes it)."""
        if self.pipeline.has_hooks:
            self._through_hooks(select, table, report, params)
            return
        write = self.pipeline.ingest_select(select, table, params)
        report.accepted += write.rows
        report.bad_timestamps += write.bad_timestamps

    def _through_hooks(
        self, select: str, table: pa.Table, report: FileReport, params: Sequence[object] | None
    ) -> None:
        """With pre-ingest hooks: the SELECT's rows as an Arrow table (times the SQL could not read
        given a second try; hooks see None where that fails too, and the ingest time is given after
        them), stored by the pipeline's one entry, which runs the hooks."""
        cur = self.pipeline.bulk_store.cursor()
        cur.register("chunk", table)
        now = time.time_ns()
        try:
            values = [0, *([now, now] if params is None else params)]
            rows: pa.Table = cur.sql(select, params=values).to_arrow_table()
        finally:
            cur.unregister("chunk")
        rows = rows.drop_columns(["seq"])
        if rows.column("ts").null_count:
            rows = rows.set_column(rows.schema.get_field_index("ts"), "ts", _second_try(rows))
        result = self.pipeline.ingest(rows.cast(INGEST_SCHEMA))
        report.accepted += result.write.rows
        report.dropped += result.dropped
        report.bad_timestamps += result.write.bad_timestamps

    def _write_dead(self, line: str) -> None:
        if self.dead_letter is None:
            return
        if self._dead is None:
            self._dead = self.dead_letter.open("ab")
        self._dead.write(line.rstrip("\r\n").encode() + b"\n")


def _second_try(rows: pa.Table) -> pa.Array:
    """The `ts` column with the times the SQL left NULL read by the scalar parser from their
    `metadata.timestamp_raw` (as the store's own second try does); NULL where it cannot either."""
    times = rows.column("ts").to_pylist()
    metas = rows.column("metadata").to_pylist()
    for i, value in enumerate(times):
        if value is None:
            raw = orjson.loads(metas[i]).get("timestamp_raw") if metas[i] else None
            if raw is not None:
                with contextlib.suppress(TimestampError):
                    times[i] = parse_timestamp(raw)
    return pa.array(times, pa.int64())
