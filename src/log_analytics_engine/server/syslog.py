"""The syslog listeners of `serve`: UDP, TCP and TCP over TLS on one asyncio loop of their own
thread, their frames batched from every connection and stored on a worker thread through the
engine's one ingest entry (`ingest_decoded(…, "syslog")`), never on the loop.

Framing (TCP, TLS) is told per frame by its first byte: a digit opens RFC 6587 octet counting
(`LEN SP MSG`), anything else a frame ending at LF or NUL (Python's SysLogHandler ends its frames
with NUL alone). A UDP datagram is one message, or several where a line opens with `<PRI>`.

Bounds, each a constant below: a frame is cut at MAX_FRAME_BYTES (the rest skipped, the next frame
read right); a connection's buffer holds at most one unfinished frame; frames received but not yet
stored are at most MAX_QUEUED_BYTES — past it every TCP reader pauses (the senders' writes block:
backpressure, nothing lost) and UDP datagrams are dropped and counted; `syslog_max_connections`
open connections, a connection past it closed at once and counted; a connection silent for
IDLE_SECONDS is closed. No connection waits for another: each is read as its bytes arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import queue
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import ConfigError, StorageError
from log_analytics_engine.ingest.formats.syslog_wire import decode
from log_analytics_engine.ingest.report import Decoded, IngestReport
from log_analytics_engine.server.settings import Settings, is_loopback

log = logging.getLogger(__name__)

PROTOCOL = "syslog"
# A frame longer is cut here, its field `truncated_from` the size sent (counted: syslog_truncated).
# rsyslog's own default is 8 KiB; a UDP datagram holds at most 65,507 bytes.
MAX_FRAME_BYTES = 64 << 10
# What one read of a connection takes: the most a paused connection can have read past the queue bound.
READ_BYTES = 64 << 10
# Bytes received and not yet stored, over every connection: past it, TCP reads pause, UDP drops.
MAX_QUEUED_BYTES = 64 << 20
# A batch is stored when it holds this many frames or bytes, or this long after its first frame:
# the store's cost per write is ~1-5 ms, a frame's decoding ~6 µs.
BATCH_FRAMES = 10_000
BATCH_BYTES = 4 << 20
BATCH_SECONDS = 0.05
# A connection that sends nothing for this long is closed (a quiet host's rsyslog reconnects when
# it next sends); 600 s keeps quiet senders while idle ones do not hold connection slots for ever.
IDLE_SECONDS = 600.0
TLS_HANDSHAKE_SECONDS = 10.0
# An octet count has at most this many digits (RFC 6587 sets none; 9 is ~1 GB).
MAX_COUNT_DIGITS = 9
UDP_RECEIVE_BUFFER = 4 << 20  # asked of the kernel (it caps the ask at net.core.rmem_max)
# A batch the store refused (disk full, store failing) is retried, waiting this long, doubling to 5 s.
RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 5.0
_GAP = frozenset(b"\r\n\x00 \t")  # bytes between frames (a stray LF after an octet-counted frame)
_UNDECIDED, _LF, _NUL = 0, 1, 2  # what ends a stream's delimited frames

# Reasons of `loganalytics_protocol_rejected{protocol="syslog"}`.
UDP_DROPPED = "udp_dropped"
TOO_MANY_CONNECTIONS = "too_many_connections"
INCOMPLETE_FRAME = "incomplete_frame"
STORE_FAILED = "store_failed"


@dataclass(frozen=True)
class Address:
    """One listener: its kind (`udp`, `tcp`, `tls`), host and port, and the setting that named it."""

    kind: str
    host: str
    port: int
    setting: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.kind} {host}:{self.port}"


def addresses(settings: Settings) -> list[Address]:
    """The listeners the settings ask for; ConfigError for an address that is not `host:port`, and
    for one beyond loopback without `insecure`: syslog has no keys, so anyone who reaches the port
    may write logs."""
    found = []
    for kind in ("udp", "tcp", "tls"):
        text = getattr(settings, f"syslog_{kind}")
        if text is None:
            continue
        setting = f"syslog {kind}"
        host, sep, port = text.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 <= int(port) < 65536:
            raise ConfigError(f"{setting}: {text!r} is not host:port (like 127.0.0.1:5514 or [::1]:5514)")
        if not settings.insecure and not is_loopback(host):
            raise ConfigError(
                f"refusing to listen for syslog on {text} ({setting}): syslog carries no API key, so "
                "anyone who reaches it may write logs; pass --insecure (insecure = true) to allow it"
            )
        found.append(Address(kind, host, int(port), setting))
    return found


class Framer:
    """Splits one stream into frames (octet-counted, or ending at LF or NUL), each at most
    `max_frame` bytes: a longer one is cut (its size sent recorded) and the rest skipped. Holds at
    most one unfinished frame between feeds."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self.max_frame = max_frame
        self._pending = b""
        self._skip = 0  # bytes of a cut octet-counted frame still to skip
        self._head: bytes | None = None  # the kept part of a cut delimited frame, until its end
        self._cut_size = 0  # that frame's size so far
        self._mode = _UNDECIDED  # what ends the stream's delimited frames (its first one tells)

    def feed(self, data: bytes, frames: list[bytes], cut: dict[int, int]) -> None:
        """Append the frames `data` completes to `frames` (a cut one's index -> its size to `cut`)."""
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return
            data, self._skip = data[self._skip :], 0
        if self._head is not None:
            end = self._end(data, 0)
            if end < 0:
                self._cut_size += len(data)
                return
            cut[len(frames)] = self._cut_size + end
            frames.append(self._head)
            self._head, data = None, data[end + 1 :]
        buf = self._pending + data if self._pending else data
        pos, n, limit = 0, len(buf), self.max_frame
        while pos < n:
            first = buf[pos]
            if first in _GAP:
                pos += 1
                continue
            if 0x31 <= first <= 0x39:  # 1-9: an octet count
                space = buf.find(b" ", pos, pos + MAX_COUNT_DIGITS + 1)
                if space < 0 and n - pos <= MAX_COUNT_DIGITS and buf[pos:n].isdigit():
                    break  # the count goes on in the next read
                if space > 0 and buf[pos:space].isdigit():
                    start = space + 1
                    size = int(buf[pos:space])
                    if start + size <= n and size <= limit:
                        frames.append(buf[start : start + size])
                        pos = start + size
                        continue
                    if size <= limit or n - start < limit:
                        break  # the frame (or the part of it kept) ends in a later read
                    cut[len(frames)] = size
                    frames.append(buf[start : start + limit])
                    if start + size <= n:
                        pos = start + size
                        continue
                    self._skip = start + size - n
                    pos = n
                    break
                # not a count after all (`2025-07-21 …`, a 20-digit number): a delimited frame
            end = self._end(buf, pos)
            if end < 0:
                if n - pos > limit:
                    self._head, self._cut_size, pos = buf[pos : pos + limit], n - pos, n
                break
            if end - pos > limit:
                cut[len(frames)] = end - pos
                frames.append(buf[pos : pos + limit])
            else:
                frames.append(buf[pos:end])
            pos = end + 1
        self._pending = buf[pos:] if pos < n else b""

    def _end(self, buf: bytes, pos: int) -> int:
        """The index of the delimiter ending the frame at `pos` (-1: not yet received). A stream's
        first delimiter decides what ends its frames: NUL (Python's SysLogHandler; an LF is then part
        of a multi-line message) or LF (a NUL ends a frame too). The first frame's NUL wins over an
        earlier LF unless a `<` follows that LF (a next message). Each byte is scanned about once."""
        if self._mode == _NUL:
            return buf.find(b"\x00", pos)
        lf = buf.find(b"\n", pos)
        if self._mode == _LF:
            nul = buf.find(b"\x00", pos, len(buf) if lf < 0 else lf)
            return nul if nul >= 0 else lf
        nul = buf.find(b"\x00", pos)
        if nul >= 0 and (lf < 0 or nul < lf or buf[lf + 1 : lf + 2] != b"<"):
            self._mode = _NUL
            return nul
        if lf >= 0:
            self._mode = _LF
        return lf

    def close(self, frames: list[bytes], cut: dict[int, int]) -> bool:
        """The stream ended: append its last frame (one with no delimiter is whole); True when it
        ended inside an octet-counted frame (not stored, or stored cut: the sender did not finish)."""
        if self._head is not None:
            cut[len(frames)] = self._cut_size
            frames.append(self._head)
            self._head = None
            return False
        if self._skip:
            self._skip = 0
            return True
        rest, self._pending = self._pending.strip(bytes(_GAP)), b""
        if not rest:
            return False
        if 0x31 <= rest[0] <= 0x39:
            count = rest.split(b" ", 1)[0]
            if len(count) <= MAX_COUNT_DIGITS and count.isdigit():
                return True
        frames.append(rest[: self.max_frame])
        return False


def datagram_frames(data: bytes) -> list[bytes]:
    """A UDP datagram's messages: the datagram, or its lines where a line opens with `<digit` (a
    line that does not is part of the message before it: a multi-line message)."""
    data = data.rstrip(b"\r\n\x00")
    if b"\n<" not in data:
        return [data] if data else []
    frames: list[bytes] = []
    for piece in data.split(b"\n<"):
        if frames and piece[:1].isdigit():
            frames.append(b"<" + piece)
        elif frames:
            frames[-1] += b"\n<" + piece
        else:
            frames.append(piece)
    return frames


@dataclass
class _Batch:
    """Frames from every connection, stored together; what was received for them, and what was not
    stored before they were (by reason)."""

    frames: list[bytes] = field(default_factory=list)
    cut: dict[int, int] = field(default_factory=dict)
    nbytes: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


class _Connection(asyncio.BufferedProtocol):
    """One TCP or TLS connection: read into the hub's buffer, framed, its frames batched."""

    def __init__(self, hub: SyslogListeners) -> None:
        self.hub = hub
        self.framer = Framer()
        self.transport: asyncio.Transport | None = None
        self.last = 0.0
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.hub._opened(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.hub._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.hub._received(self, self.hub._read_buffer[:nbytes].tobytes())

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub._lost(self)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, hub: SyslogListeners) -> None:
        self.hub = hub

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.hub._datagram(data)


class SyslogListeners:
    """The listeners `settings` ask for (ConfigError for an address that will not do): `bind()`
    takes the ports (ConfigError naming one that cannot be had), `start(engine)` serves them into the
    engine, `close()` stops, storing every frame received; `serving(engine)` does all three."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_queued_bytes: int = MAX_QUEUED_BYTES,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._engine: LogAnalyticsEngine | None = None
        self.settings = settings
        self.wanted = addresses(settings)
        self.max_connections = settings.syslog_max_connections
        self.max_queued_bytes = max_queued_bytes
        self.idle_seconds = idle_seconds
        self.bound: list[Address] = []
        self._sockets: list[tuple[Address, socket.socket]] = []
        self._tls: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._store_queue: queue.Queue[_Batch | None] = queue.Queue()
        self._servers: list[asyncio.AbstractServer] = []
        self._udp: list[asyncio.BaseTransport] = []
        self._connections: set[_Connection] = set()
        self._read_buffer = memoryview(bytearray(READ_BYTES))
        self._batch = _Batch()
        self._timer: asyncio.TimerHandle | None = None
        self._queued = 0
        self._paused = False
        self._closing = threading.Event()  # set once nothing more is received: retries give up
        self._stopped = False
        self.idle_closed = 0  # connections closed for silence
        self.rejected: Counter[str] = Counter()  # what was not stored, by reason, since start

    @contextlib.contextmanager
    def serving(self, engine: LogAnalyticsEngine) -> Iterator[SyslogListeners]:
        """Bound (unless already) and served into `engine` for the block; closed after it."""
        try:
            if not self.bound:
                self.bind()
            self.start(engine)
            yield self
        finally:
            self.close()

    @property
    def engine(self) -> LogAnalyticsEngine:
        assert self._engine is not None, "start(engine) first"
        return self._engine

    # -- start and stop ---------------------------------------------------------------------------

    def bind(self) -> None:
        """Take every port now (before `serve` says it is serving), and read the TLS key pair."""
        if any(a.kind == "tls" for a in self.wanted):
            self._tls = _tls_context(self.settings.syslog_tls_cert, self.settings.syslog_tls_key)
        try:
            for address in self.wanted:
                sock = _bind(address)
                self._sockets.append((address, sock))
                host, port = sock.getsockname()[:2]
                self.bound.append(Address(address.kind, host, port, address.setting))
        except ConfigError:
            for _, sock in self._sockets:
                sock.close()
            self._sockets.clear()
            raise

    def start(self, engine: LogAnalyticsEngine) -> None:
        """Serve the bound ports on a loop of their own thread; returns once they are served (no
        thread is started when no listener was asked for)."""
        self._engine = engine
        if not self._sockets:
            return
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # the thread's edge: raised again by start()
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._worker = threading.Thread(target=self._store_batches, name="syslog-store", daemon=True)
        self._worker.start()
        self._thread = threading.Thread(target=run, name="syslog-listeners", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self.close()
            if isinstance(failure[0], OSError):
                raise ConfigError(f"cannot serve syslog: {failure[0]}") from failure[0]
            raise failure[0]

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        for address, sock in self._sockets:
            if address.kind == "udp":
                transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=sock)
                self._udp.append(transport)
            else:
                tls = self._tls if address.kind == "tls" else None
                server = await loop.create_server(
                    lambda: _Connection(self),
                    sock=sock,
                    ssl=tls,
                    ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS if tls else None,
                )
                self._servers.append(server)
        loop.call_later(self._idle_step(), self._close_idle)

    def close(self) -> None:
        """Stop listening, close every connection (their last frames kept), store what was received;
        then the engine may close."""
        if self._stopped:
            return
        self._stopped = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive() and loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join()
        for _, sock in self._sockets:
            sock.close()
        self._closing.set()
        if self._worker is not None:
            self._store_queue.put(None)
            self._worker.join()

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for transport in self._udp:
            transport.close()
        for connection in list(self._connections):
            self._lost(connection)
            if connection.transport is not None:
                connection.transport.abort()
        self._flush()

    # -- connections ----------------------------------------------------------------------------

    def _opened(self, connection: _Connection) -> None:
        transport = connection.transport
        assert transport is not None
        if self._stopped:
            transport.abort()
            return
        if len(self._connections) >= self.max_connections:
            self._reject(TOO_MANY_CONNECTIONS)
            transport.abort()
            return
        connection.open = True
        connection.last = time.monotonic()
        self._connections.add(connection)
        if self._paused:
            transport.pause_reading()
        self._update_gauge()

    def _lost(self, connection: _Connection) -> None:
        """The connection ended (or is being closed): its last frame into the batch, once."""
        if not connection.open:
            return
        connection.open = False
        self._connections.discard(connection)
        batch = self._batch
        if connection.framer.close(batch.frames, batch.cut):
            self._reject(INCOMPLETE_FRAME)
        self._batched()
        self._update_gauge()

    def _update_gauge(self) -> None:
        self.engine.set_protocol_connections(PROTOCOL, len(self._connections))

    def _idle_step(self) -> float:
        return max(0.05, min(1.0, self.idle_seconds / 4))

    def _close_idle(self) -> None:
        """Close the connections silent for idle_seconds (none while reads are paused: a paused
        connection is silent because we do not read it)."""
        if self._stopped or self._loop is None:
            return
        if not self._paused:
            quiet = time.monotonic() - self.idle_seconds
            for connection in [c for c in self._connections if c.last < quiet]:
                self.idle_closed += 1
                self._lost(connection)
                if connection.transport is not None:
                    connection.transport.close()
        self._loop.call_later(self._idle_step(), self._close_idle)

    # -- frames ---------------------------------------------------------------------------------

    def _received(self, connection: _Connection, data: bytes) -> None:
        connection.last = time.monotonic()
        batch = self._batch
        connection.framer.feed(data, batch.frames, batch.cut)
        batch.nbytes += len(data)
        self._queued += len(data)
        self._batched()
        if self._queued >= self.max_queued_bytes and not self._paused:
            self._paused = True
            for other in self._connections:
                if other.transport is not None:
                    other.transport.pause_reading()

    def _datagram(self, data: bytes) -> None:
        if self._queued >= self.max_queued_bytes:
            self._reject(UDP_DROPPED)
            return
        batch = self._batch
        batch.frames += datagram_frames(data)
        batch.nbytes += len(data)
        self._queued += len(data)
        self._batched()

    def _reject(self, reason: str) -> None:
        self.rejected[reason] += 1
        self._batch.rejected[reason] += 1
        self._batched()

    def _batched(self) -> None:
        """Hand the batch to the store when it is full; else make sure it goes within BATCH_SECONDS."""
        batch = self._batch
        if len(batch.frames) >= BATCH_FRAMES or batch.nbytes >= BATCH_BYTES:
            self._flush()
        elif self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(BATCH_SECONDS, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = self._batch
        if batch.frames or batch.rejected or batch.nbytes:
            self._batch = _Batch()
            self._store_queue.put(batch)

    def _stored(self, nbytes: int) -> None:
        """A batch is stored: its bytes leave the queue; reads resume once it is half empty."""
        self._queued -= nbytes
        if self._paused and self._queued <= self.max_queued_bytes // 2:
            self._paused = False
            now = time.monotonic()
            for connection in self._connections:
                connection.last = now
                if connection.transport is not None:
                    connection.transport.resume_reading()

    # -- the store worker -------------------------------------------------------------------------

    def _store_batches(self) -> None:
        while (batch := self._store_queue.get()) is not None:
            try:
                self._store(batch)
            except Exception:  # the worker's edge (a pre-ingest hook that raises): counted, go on
                log.exception("syslog: %d frames not stored", len(batch.frames))
                self._count_failed(batch)
            loop = self._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
                    loop.call_soon_threadsafe(self._stored, batch.nbytes)

    def _store(self, batch: _Batch) -> None:
        """Decode and store a batch; a store that fails (disk full) is retried until it takes it
        (TCP reads pause meanwhile, as the queue fills), or the listeners close."""
        decoded = decode(batch.frames, zone=self.settings.timezone, cut=batch.cut)
        report = decoded.report
        report.bytes = batch.nbytes
        report.rejected_count += sum(batch.rejected.values())
        report.rejected_by.update(batch.rejected)
        wait = RETRY_SECONDS
        while True:
            try:
                self.engine.ingest_decoded(decoded, PROTOCOL)
                break
            except StorageError as exc:
                if self._closing.is_set():
                    log.error("syslog: %d frames not stored at shutdown: %s", len(batch.frames), exc)
                    self._count_failed(batch)
                    return
                log.warning(
                    "syslog: storing %d frames failed, retrying in %.1f s: %s", len(batch.frames), wait, exc
                )
                self._closing.wait(wait)
                wait = min(wait * 2, MAX_RETRY_SECONDS)
        self.engine.count_input_problems(decoded.problems)

    def _count_failed(self, batch: _Batch) -> None:
        """Count a batch that could not be stored (its frames as `store_failed`)."""
        failed = IngestReport(bytes=batch.nbytes)
        failed.rejected_by.update(batch.rejected)
        failed.rejected_by[STORE_FAILED] += len(batch.frames)
        failed.rejected_count = sum(failed.rejected_by.values())
        self.engine.ingest_decoded(Decoded.empty(failed), PROTOCOL)  # no rows: no store write


def _bind(address: Address) -> socket.socket:
    """A socket bound to the address (a TCP one listening), or ConfigError naming it and why not."""
    kind = socket.SOCK_DGRAM if address.kind == "udp" else socket.SOCK_STREAM
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=kind, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(
            f"cannot listen for syslog on {address} ({address.setting}): {exc.strerror}"
        ) from exc
    family, _, _, _, where = infos[0]
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        else:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        sock.bind(where)
        if kind == socket.SOCK_STREAM:
            sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        why = "the address is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise ConfigError(f"cannot listen for syslog on {address} ({address.setting}): {why}") from exc
    return sock


def _tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """The server context of the TLS listener, or ConfigError naming the files that do not load."""
    if cert is None or key is None:
        raise ConfigError("syslog tls needs tls_cert and tls_key ([syslog] PEM files)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"syslog tls: cannot load tls_cert {cert} and tls_key {key}: {exc}") from exc
    return context
