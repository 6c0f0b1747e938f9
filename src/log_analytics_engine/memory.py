"""The engine's memory: the limit of DuckDB's share (the `memory_limit` setting), and giving memory
back to the system after a large ingest. Freed memory otherwise stays in the process for reuse:
Arrow's pool keeps its pages, and glibc's malloc keeps freed heap below its top, so the spike of one
16 MiB body stayed in RSS after the body was stored."""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import pyarrow as pa

from log_analytics_engine.bytesize import parse_size
from log_analytics_engine.errors import ConfigError

# DuckDB's share of the embedded store's memory (`memory_limit`). DuckDB's own default is 80% of RAM,
# which its buffer cache fills and keeps: under the abuse benchmark the server peaked at 2.4 GB and
# held 985 MB after (3.7x its RSS before); at 512MB, 1.2 GB and 614 MB. At 128MB and 256MB a file
# holding one 10 MB line fails DuckDB's JSON reader (out of memory: it buffers ~20x a line), so the
# default stays 512MB; a smaller limit suits stores without such lines.
MEMORY_LIMIT = "512MB"
# Below this DuckDB fails its own work rather than spilling (a file ingest's insert of a 123k-line chunk
# at 32MB; 48MB held for 1M logs, 64MB for 5M).
MIN_MEMORY_LIMIT = "64MB"

# Work after which `release` is worth its cost (~1-5 ms, see README's limits section): a 16 MiB body
# peaks at ~5x its size, and small requests leave nothing worth trimming.
RELEASE_AFTER_BYTES = 4 << 20


def memory_limit_bytes(text: object) -> int:
    """The bytes of a `memory_limit` setting: ConfigError unless a size (such as 256MB or 1GiB) of at
    least MIN_MEMORY_LIMIT."""
    limit = parse_size(text, "memory_limit")
    if limit < parse_size(MIN_MEMORY_LIMIT, "MIN_MEMORY_LIMIT"):
        raise ConfigError(f"memory_limit must be at least {MIN_MEMORY_LIMIT}, got {text!r}")
    return limit


# glibc's malloc in the engine's process (Python's buffers, numpy, the text index's searcher: DuckDB and
# Arrow bring allocators of their own). By default each thread gets an arena of its own, which keeps
# what it freed, and a freed large buffer raises the size below which buffers come from those arenas
# (up to 32 MiB), so file chunks of ~28 MB stayed: in a 2M-log file ingest 200-230 MB of freed heap,
# and the peak of anonymous memory 479 MB. With two arenas and buffers of 4 MiB or more always mapped
# on their own (handed back whole when freed), 11 MB free and 410 MB, the ingest no slower.
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # mallopt's parameters (malloc.h)
MALLOC_ARENAS = 2
MALLOC_MMAP_BYTES = 4 << 20


@functools.cache
def bound_malloc() -> bool:
    """Set glibc's malloc as above, for this process, once (threads started later get its arenas);
    False where the C library has no mallopt (musl, macOS)."""
    try:
        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    except OSError:
        return False
    if mallopt is None:
        return False
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS)) and bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_BYTES))


@functools.cache
def _malloc_trim() -> Any:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


def release() -> None:
    """Return freed memory to the system: the Arrow pool's unused pages, then glibc's free heap."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def release_after(nbytes: int) -> None:
    """`release` when work of `nbytes` bytes (a request body, a file chunk) has just been freed."""
    if nbytes >= RELEASE_AFTER_BYTES:
        release()
