"""Giving memory back to the system after a large ingest. Freed memory otherwise stays in the process
for reuse: Arrow's pool keeps its pages, and glibc's malloc keeps freed heap below its top, so the
spike of one 16 MiB body stayed in RSS after the body was stored."""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import pyarrow as pa

# Work after which `release` is worth its cost (~1-5 ms, see README's limits section): a 16 MiB body
# peaks at ~5x its size, and small requests leave nothing worth trimming.
RELEASE_AFTER_BYTES = 4 << 20


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
