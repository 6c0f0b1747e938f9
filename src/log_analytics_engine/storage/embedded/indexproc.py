"""The tantivy writer of an on-disk text index, run in a process of its own so that no Python thread
of the engine's process can convoy it; and the engine's handle on that process.

Why a process: tantivy takes documents through one Python call each, and each call gives the GIL
up and waits to take it back; beside a thread that keeps the GIL busy (HTTP parsing, ingest) the
calls queue behind it (issue 15 saw 100k documents take 275 s; bench/indexlag.py measured 1M going
from 134-179k docs/s alone to 36-72k beside a busy thread, which itself ran slower). The child holds
the only Python thread of its process, so its calls never wait; the engine's indexer hands it a
65k-row fetch as one pipe write (the documents' JSON, one a line, straight from DuckDB's Arrow
buffers) and waits only for commits: 0.05-0.08 s of the engine's CPU per 100k documents, against
0.60-0.78 s when it fed tantivy itself (the writer process spends 0.6-0.85 s).

The pipe protocol: every message, both ways, is a header (`_HEADER`: an op byte, a signed 64-bit
value, the payload's length) and the payload. The parent sends `ADD` (documents; no answer, so
batches stream), `COMMIT`, `DELETE_ABOVE` (value: the seq), `DELETE` (payload: a query spec as
JSON, see `build_query`) and `CLOSE`; the child answers each of the others with `OK` or `FAILED`
(payload: the error's text). Started, it answers `OK` with the watermark of the index it opened,
which the parent resumes from. A failure in an `ADD` is answered at the next `COMMIT` (the
documents after it are dropped: the parent resends from the last commit).

The child's lifetime is the parent's: it reads requests from its stdin and ends when that pipe
reaches its end (the parent closed it, or died: the kernel closes a dead process's pipes), or when
its parent is no longer the process that started it (a pipe end inherited by a forked process would
keep stdin open). It ignores SIGINT and SIGTERM (a Ctrl-C or a service manager's stop reaches the
whole group: the engine closes it, with a final commit). This module runs as a script in the child
(`python -P indexproc.py ...`, not `-m`: the package's import costs 0.4 s and the RSS of DuckDB and
Arrow), so it imports the standard library and tantivy only.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import tantivy

ANALYZER = "words"
# Tokens of this many UTF-8 bytes or more are not indexed (tantivy's RemoveLongFilter keeps
# `len < limit`); the planner sends such query words to a SQL scan.
MAX_TOKEN_BYTES = 255
I64_MAX = 2**63 - 1
# A payload's pieces: documents, one a line, split anywhere between them.
Pieces = Sequence[bytes | bytearray | memoryview]
# op byte, value (a seq), payload bytes
_HEADER = struct.Struct("<Bqq")
ADD, COMMIT, DELETE_ABOVE, DELETE, CLOSE, OK, FAILED = b"acdxqkf"
# A query as plain data, which the parent can hand to the writer process (tantivy's Query objects do
# not pickle): nested lists, the first item naming the kind (see `build_query`).
Spec = list[Any]
# The child checks this often that its parent is still the process that started it, and drops its
# pages of the index's files (drop_mapped_pages) at most this often.
PARENT_CHECK_SECONDS = 1.0
_MADV_DONTNEED = 4  # Linux's value (asm-generic/mman-common.h)
# How long a new writer waits for the directory's lock (held by a child that has not ended yet).
LOCK_WAIT_SECONDS = 10.0
# How long the parent waits for the child to start, and for an answer to a commit or a delete
# (1M documents commit in ~2 s; a child past this is taken for hung, killed and started anew).
START_SECONDS = 30.0
ANSWER_SECONDS = 120.0
# How long the parent waits for pipe room for its documents (the child reads them between adds).
SEND_SECONDS = 120.0
# glibc's malloc in the writer process. By default each of tantivy's threads (indexing, merging) gets
# an arena of its own, which keeps what it freed: 5M bench docs fed as fast as it took them peaked at
# 325 MB (285 MB anonymous), growing with the index; with two arenas, 250 MB (196), and no slower.
WRITER_MALLOC = {"MALLOC_ARENA_MAX": "2"}


class WriterProcessError(OSError):
    """The writer process failed: it ended, hung, or tantivy failed in it (the text says which)."""


def is_index_failure(exc: BaseException) -> bool:
    """Whether `exc` is tantivy failing (an I/O error, a killed writer, or a Rust panic, which pyo3
    raises as a `PanicException` deriving from BaseException) rather than an interrupt or exit."""
    return isinstance(exc, ValueError | OSError) or type(exc).__name__ == "PanicException"


def words_analyzer() -> tantivy.TextAnalyzer:
    """The analyzer of the `message` field: simple tokens, long ones dropped, lowercased."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
        .filter(tantivy.Filter.lowercase())
        .build()
    )


def max_seq(searcher: tantivy.Searcher) -> int:
    """The largest seq the searcher's documents hold: the index's watermark (0 when empty)."""
    if searcher.num_docs == 0:
        return 0
    # the newest document by seq: its order key is the seq itself, exact (an aggregate is a float)
    top = searcher.search(tantivy.Query.all_query(), 1, count=False, order_by_field="seq")
    return int(top.hits[0][0]) if top.hits else 0


def build_query(schema: tantivy.Schema, spec: Spec) -> tantivy.Query:
    """The tantivy query a spec describes: `["all"]`, `["none"]`, `["term", field, value]`,
    `["phrase", field, tokens]`, `["regex", field, pattern]`, `["range", field, low, high,
    include_low, include_high]` (an integer field), `["and", specs]`, `["or", specs]`, `["not", spec]`."""
    q, kind = tantivy.Query, spec[0]
    if kind == "all":
        return q.all_query()
    if kind == "none":
        return q.empty_query()
    if kind == "term":
        return q.term_query(schema, spec[1], spec[2])
    if kind == "phrase":
        return q.phrase_query(schema, spec[1], list(spec[2]))
    if kind == "regex":
        return q.regex_query(schema, spec[1], spec[2])
    if kind == "range":
        _, field, low, high, include_low, include_high = spec
        kind_of = tantivy.FieldType.Integer
        return q.range_query(
            schema, field, kind_of, low, high, include_lower=include_low, include_upper=include_high
        )
    if kind in ("and", "or"):
        occur = tantivy.Occur.Must if kind == "and" else tantivy.Occur.Should
        return q.boolean_query([(occur, build_query(schema, item)) for item in spec[1]])
    if kind == "not":
        return q.boolean_query(
            [(tantivy.Occur.Must, q.all_query()), (tantivy.Occur.MustNot, build_query(schema, spec[1]))]
        )
    raise ValueError(f"not a query spec: {spec!r}")


def split_lines(payload: bytes | bytearray | memoryview) -> list[str]:
    """The documents of an ADD payload: JSON objects, each ending with a newline."""
    return str(payload, "utf-8").split("\n")[:-1]


class DocWriter:
    """A tantivy IndexWriter made on first use and dropped after any failure (a failed tantivy
    writer stays dead; a new one starts from the last commit, the documents since then gone)."""

    def __init__(self, index: Callable[[], tantivy.Index], heap_bytes: int, threads: int) -> None:
        self._index = index  # the index to write to now (a rebuilt one replaces it)
        self._heap_bytes = heap_bytes
        self._threads = threads
        self._handle: tantivy.IndexWriter | None = None

    def _writer(self) -> tantivy.IndexWriter:
        if self._handle is None:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    self._handle = self._index().writer(self._heap_bytes, self._threads)
                    break
                except ValueError as exc:
                    if "LockBusy" not in str(exc) or time.monotonic() > deadline:
                        raise
                    # A dropped writer holds the directory's lock until it is freed (one that failed
                    # can be kept by its exception's traceback, a cycle), or a writer process that is
                    # ending still holds it.
                    gc.collect()
                    time.sleep(0.05)
        return self._handle

    @property
    def pid(self) -> int | None:
        """None: this writer runs in the calling process."""
        return None

    def start(self) -> int | None:
        """Nothing to start (the writer is made on first use); None."""
        return None

    @contextlib.contextmanager
    def _failing_drops(self) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            if is_index_failure(exc):
                self._handle = None
            raise

    def add_lines(self, payload: Pieces) -> None:
        """Queue the documents (JSON objects, one a line, in the pieces given) for the next commit."""
        with self._failing_drops():
            add = self._writer().add_json
            for piece in payload:  # one at a time: a piece's strings are all this holds of them
                for doc in split_lines(piece):
                    add(doc)

    def commit(self) -> None:
        """Publish every queued document."""
        with self._failing_drops():
            self._writer().commit()

    def delete_above(self, seq: int) -> None:
        """Delete documents with a seq above `seq`, and commit."""
        self.delete_matching(["range", "seq", seq + 1, I64_MAX, True, True])

    def delete_matching(self, spec: Spec) -> None:
        """Delete the documents the query `spec` matches, and commit."""
        query = build_query(self._index().schema, spec)
        with self._failing_drops():
            writer = self._writer()
            writer.delete_documents_by_query(query)
            writer.commit()

    def close(self, seconds: float = 0.0) -> None:
        """Wait for the writer's merges, so the files on disk are final, and drop it (`seconds` is
        not used: merges in this process cannot be cut short)."""
        writer, self._handle = self._handle, None
        if writer is not None:
            writer.wait_merging_threads()

    def drop(self) -> None:
        """Forget the writer (its uncommitted documents are lost)."""
        self._handle = None


# -- pages of the index's files --------------------------------------------------------------------


def drop_mapped_pages(directory: str) -> int:
    """Drop this process's resident pages of the read-only mappings of files under `directory` (the
    index's segments, which tantivy reads through mmap); the bytes of the ranges advised (0 where the
    OS has no /proc or no madvise).

    Those pages count in the process's RSS while it keeps them, and a merge or a query over a large
    index touches hundreds of MB of them (a 20M-log index: 330 MB in the writer process at its peak
    merge). Dropped, they stay in the OS's page cache: the next read of one maps it back (a minor fault,
    no disk read), so this bounds RSS without costing reads; files are read-only, nothing is lost."""
    prefix = os.path.join(os.path.realpath(directory), "")
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            lines = maps.readlines()
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return 0
    dropped = 0
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or "w" in fields[1]:
            continue
        name = fields[5].rstrip("\n").removesuffix(" (deleted)")
        if not name.startswith(prefix):
            continue
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        if madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_DONTNEED) == 0:
            dropped += end - start
    return dropped


# -- the child ------------------------------------------------------------------------------------


class _Pages:
    """The child's drop of its pages of the index's files, at most every PARENT_CHECK_SECONDS."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.last = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self.last >= PARENT_CHECK_SECONDS:
            self.last = now
            drop_mapped_pages(self.directory)


def _read_exact(fd: int, size: int, parent: int, pages: _Pages) -> bytearray | None:
    """`size` bytes from `fd`, or None at its end or once the parent is gone."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        pages.tick()  # merges run on tantivy's threads, while this one waits for requests
        ready, _, _ = select.select([fd], [], [], PARENT_CHECK_SECONDS)
        if not ready:
            if os.getppid() != parent:
                return None
            continue
        chunk = os.readv(fd, [view[got:]])
        if chunk == 0:
            return None
        got += chunk
    return buffer


def _send(fd: int, op: int, value: int = 0, payload: bytes = b"") -> None:
    message = memoryview(_HEADER.pack(op, value, len(payload)) + payload)
    try:
        while message:
            message = message[os.write(fd, message) :]
    except BrokenPipeError:
        os._exit(0)  # the parent is gone


def serve(argv: Sequence[str]) -> int:
    """The child's loop: `argv` is the index directory, the writer's heap bytes and threads, the
    niceness to take, and the parent's pid."""
    path, heap_bytes, threads, nice, parent = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(nice)  # the whole process, tantivy's threads included
    requests, answers = 0, os.dup(1)
    os.dup2(2, 1)  # a stray print must not corrupt the answers
    index = tantivy.Index.open(path)
    index.register_tokenizer(ANALYZER, words_analyzer())
    writer = DocWriter(lambda: index, heap_bytes, threads)
    _send(answers, OK, max_seq(index.searcher()))
    failure: str | None = None  # an ADD's failure, answered at the next COMMIT
    pages = _Pages(path)
    while True:
        header = _read_exact(requests, _HEADER.size, parent, pages)
        if header is None:
            os._exit(0)  # the parent is gone: end now, without waiting for merges
        op, value, size = _HEADER.unpack(header)
        payload = _read_exact(requests, size, parent, pages) if size else bytearray()
        if payload is None:
            os._exit(0)
        try:
            if op == ADD:
                if failure is None:
                    writer.add_lines((payload,))
                continue
            if failure is not None:
                raise WriterProcessError(failure)
            if op == COMMIT:
                writer.commit()
            elif op == DELETE_ABOVE:
                writer.delete_above(value)
            elif op == DELETE:
                writer.delete_matching(json.loads(payload))
            elif op == CLOSE:
                writer.close()
                _send(answers, OK)
                return 0
            _send(answers, OK)
        except BaseException as exc:
            if not is_index_failure(exc):
                raise
            text = exc.args[0] if isinstance(exc, WriterProcessError) else f"{type(exc).__name__}: {exc}"
            writer.drop()
            if op == ADD:
                failure = text
            else:
                failure = None
                _send(answers, FAILED, payload=text.encode())


# -- the parent's handle --------------------------------------------------------------------------


class WriterProcess:
    """The engine's side of a writer process for the index at `path`, started by `start` and again
    after any failure (a failure ends it: the next one starts from the last commit). One caller at
    a time (TextIndex's writes come from the indexer alone)."""

    def __init__(self, path: Path, heap_bytes: int, threads: int, nice: int) -> None:
        self.path = path
        self._args = [str(path), str(heap_bytes), str(threads), str(nice)]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running child's process id, or None."""
        process = self._process
        return None if process is None or process.poll() is not None else process.pid

    def start(self) -> int | None:
        """Start the child unless it runs; the watermark of the index it opened (None: it was running)."""
        if self._process is not None and self._process.poll() is None:
            return None
        self._reap()
        self._process = subprocess.Popen(
            [sys.executable, "-P", __file__, *self._args, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **WRITER_MALLOC},
        )
        return self._answer(START_SECONDS, "starting")

    def add_lines(self, payload: Pieces) -> None:
        """Send documents (JSON objects, one a line, in the pieces given) for the next commit, a
        message each (the child then holds one piece at a time)."""
        for piece in payload:
            self._request(ADD, 0, (piece,))

    def commit(self) -> None:
        """Publish every document sent; returns once the child committed."""
        self._request(COMMIT, 0, ())
        self._answer(ANSWER_SECONDS, "committing")

    def delete_above(self, seq: int) -> None:
        """Delete documents with a seq above `seq` and commit."""
        self._request(DELETE_ABOVE, seq, ())
        self._answer(ANSWER_SECONDS, "deleting")

    def delete_matching(self, spec: Spec) -> None:
        """Delete the documents the query `spec` matches and commit."""
        self._request(DELETE, 0, (json.dumps(spec).encode(),))
        self._answer(ANSWER_SECONDS, "deleting")

    def close(self, seconds: float) -> None:
        """Let the child wait for its merges and end, at most `seconds`; then it is killed (its last
        commit stands; merges not finished are redone by a later writer)."""
        if self._process is None:
            return
        try:
            if self._process.poll() is None:
                self._request(CLOSE, 0, ())
                self._answer(seconds, "waiting for merges")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(seconds)
        finally:
            self._reap()

    def drop(self) -> None:
        """End the child now (documents not committed are lost) and reap it."""
        self._reap()

    def _reap(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def _running(self) -> subprocess.Popen[bytes]:
        process = self._process
        if process is None:
            raise WriterProcessError("the index writer process is not running")
        return process

    def _ended(self, doing: str) -> WriterProcessError:
        process = self._process
        code = None if process is None else process.poll()
        pid = "?" if process is None else process.pid
        return WriterProcessError(
            f"the index writer process (pid {pid}) ended while {doing}"
            + ("" if code is None else f" (exit status {code})")
        )

    def _request(self, op: int, value: int, payload: Pieces) -> None:
        process = self._running()
        assert process.stdin is not None
        fd = process.stdin.fileno()
        header = _HEADER.pack(op, value, sum(memoryview(p).nbytes for p in payload))
        os.set_blocking(fd, False)
        try:
            for piece in (header, *payload):
                view = memoryview(piece).cast("B")
                while view:
                    _, room, _ = select.select([], [fd], [], SEND_SECONDS)
                    if not room:
                        raise WriterProcessError(
                            f"the index writer process took no input for {SEND_SECONDS:.0f} s"
                        )
                    try:
                        view = view[os.write(fd, view) :]
                    except BlockingIOError:
                        continue
        except BrokenPipeError:
            raise self._ended("taking documents") from None

    def _answer(self, seconds: float, doing: str) -> int:
        process = self._running()
        assert process.stdout is not None
        fd = process.stdout.fileno()
        header = self._receive(fd, _HEADER.size, seconds, doing)
        op, value, size = _HEADER.unpack(header)
        text = self._receive(fd, size, seconds, doing).decode(errors="replace") if size else ""
        if op == FAILED:
            raise WriterProcessError(f"{doing}: {text}")
        return int(value)

    def _receive(self, fd: int, size: int, seconds: float, doing: str) -> bytes:
        deadline = time.monotonic() + seconds
        got = b""
        while len(got) < size:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise WriterProcessError(
                    f"the index writer process did not answer in {seconds:.0f} s ({doing})"
                )
            chunk = os.read(fd, size - len(got))
            if not chunk:
                raise self._ended(doing)
            got += chunk
        return got


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
