"""Request bodies of every ingest route, native and protocol: read within a size and time bound,
decompressed within the same size bound, and admitted under one shared limit of requests in progress.

A body must keep arriving (a pause of BODY_IDLE_SECONDS) and be whole within BODY_SECONDS: 16 MiB
in 60 s is 280 KB/s, far below any shipper on a working network. Bodies being read are bounded
apart from requests in progress, at READERS_PER_SLOT per slot: their memory (up to the body limit
each) stays bounded, and a client trickling its body holds no slot (8 of them at 1 B/s once kept
every other ingest at 429).
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator

import cramjam
from fastapi import HTTPException, Request

from log_analytics_engine.errors import DamagedGzipError
from log_analytics_engine.ingest.gzipstream import gunzip

BODY_IDLE_SECONDS = 10.0
BODY_SECONDS = 60.0
READERS_PER_SLOT = 8
ENCODINGS = ("gzip", "x-gzip", "deflate", "snappy", "identity")


class IngestGate:
    """Ingest requests in progress and bodies being read, over every ingest route (touched only on
    the event loop thread): past either bound a request gets 429 with Retry-After."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.pending = 0
        self.max_reading = max_pending * READERS_PER_SLOT
        self.reading = 0

    async def read(self, request: Request, limit: int, encoding: str | None = None) -> bytes:
        """The request's body, decompressed by its Content-Encoding (or `encoding`, for protocols
        whose compression is implied by their content type, as Loki's snappy protobuf)."""
        if self.reading >= self.max_reading:
            raise HTTPException(429, "too many ingest bodies being received", headers={"Retry-After": "1"})
        self.reading += 1
        try:
            raw = await read_raw(request, limit)
        finally:
            self.reading -= 1
        return decode(raw, encoding or request.headers.get("content-encoding"), limit)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the `max_pending` slots of requests in progress while the body is stored."""
        if self.pending >= self.max_pending:
            raise HTTPException(429, "too many ingest requests in progress", headers={"Retry-After": "1"})
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1


async def read_raw(request: Request, limit: int) -> bytes:
    """The request body as sent; 413 as soon as it passes `limit` bytes, 408 when it is too slow."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body of {declared} bytes is over the limit of {limit}")
    parts, size = [], 0
    stream = request.stream().__aiter__()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BODY_SECONDS
    while True:
        left = deadline - loop.time()
        try:
            part = await asyncio.wait_for(anext(stream), min(BODY_IDLE_SECONDS, max(left, 0.0)))
        except StopAsyncIteration:
            break
        except TimeoutError:
            why = (
                f"no data for {BODY_IDLE_SECONDS:g} s"
                if left > BODY_IDLE_SECONDS
                else f"not whole within {BODY_SECONDS:g} s"
            )
            raise HTTPException(408, f"request body too slow: {why}") from None
        size += len(part)
        if size > limit:
            raise HTTPException(413, f"request body is over the limit of {limit} bytes")
        parts.append(part)
    return b"".join(parts)


def decode(body: bytes, encoding: str | None, limit: int) -> bytes:
    """`body` decompressed by `encoding` (gzip, deflate, snappy's block format, identity), whole
    before any of it is parsed (a damaged body stores nothing): 400 naming the damage, 415 for an
    encoding not known, 413 when the output passes `limit` bytes."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    if name in ("gzip", "x-gzip"):
        try:
            out = gunzip(body, limit)
        except DamagedGzipError as exc:
            raise HTTPException(400, f"body is not valid gzip, nothing stored: {exc}") from exc
    elif name == "deflate":
        inflate = zlib.decompressobj()
        try:
            out = inflate.decompress(body, limit + 1)
        except zlib.error as exc:
            raise HTTPException(400, f"body is not valid deflate (zlib) data, nothing stored: {exc}") from exc
    elif name == "snappy":
        try:
            size = cramjam.snappy.decompress_raw_len(body)
        except Exception as exc:  # cramjam raises its own DecompressionError (an Exception)
            raise HTTPException(
                400, f"body is not valid snappy (block format), nothing stored: {exc}"
            ) from exc
        if size > limit:
            raise HTTPException(413, f"decompressed body of {size} bytes is over the limit of {limit}")
        try:
            out = bytes(cramjam.snappy.decompress_raw(body))
        except Exception as exc:
            raise HTTPException(
                400, f"body is not valid snappy (block format), nothing stored: {exc}"
            ) from exc
    else:
        raise HTTPException(
            415, f"Content-Encoding {encoding!r} is not supported; supported: gzip, deflate, snappy, identity"
        )
    if len(out) > limit:
        raise HTTPException(413, f"decompressed body is over the limit of {limit} bytes")
    return out


def media_type(request: Request) -> str:
    """The request's content type without parameters, lower-cased ('' when absent)."""
    return (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
