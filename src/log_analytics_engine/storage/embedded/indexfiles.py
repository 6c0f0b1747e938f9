"""The text index's files on disk: checking them against their own checksums, and setting a damaged
index aside.

tantivy ends every file it writes with a footer: the JSON `{"version": …, "crc": N}`, its length
(u32, little-endian) and the magic number 1337 (u32). `crc` is the CRC-32 (IEEE, as `zlib.crc32`) of
every byte before the footer. tantivy checks the magic number when it opens a file but not the CRC,
so a file garbled in the middle opens and then panics, or answers wrongly, when a search reads the
garbled bytes; checking the CRC of every live file at open (and after any failure) finds it first.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import time
import zlib
from pathlib import Path

log = logging.getLogger(__name__)

META_FILE = "meta.json"
FOOTER_MAGIC = 1337
# The files every segment has (tantivy's SegmentComponent), besides its optional `.<opstamp>.del`.
SEGMENT_FILES = (".idx", ".pos", ".term", ".store", ".fast", ".fieldnorm")
# Set-aside copies kept beside the index for inspection; older ones are deleted (it is derived data:
# a crash-looping disk must not fill with copies).
KEEP_SET_ASIDE = 3
_READ_BYTES = 8 << 20


def file_damage(path: Path) -> str | None:
    """Why this tantivy file fails its footer check, or None when it passes."""
    try:
        size = path.stat().st_size
        if size < 8:
            return f"{path.name} is {size} bytes, shorter than a footer"
        with path.open("rb") as handle:
            handle.seek(size - 8)
            length, magic = struct.unpack("<II", handle.read(8))
            if magic != FOOTER_MAGIC or length > size - 8:
                return f"{path.name} has no tantivy footer"
            body = size - 8 - length
            handle.seek(body)
            footer = json.loads(handle.read(length))
            handle.seek(0)
            crc, left = 0, body
            while left:
                chunk = handle.read(min(_READ_BYTES, left))
                if not chunk:
                    return f"{path.name} ends early"
                crc = zlib.crc32(chunk, crc)
                left -= len(chunk)
    except FileNotFoundError:
        return f"{path.name} is missing"
    except (OSError, ValueError) as exc:  # unreadable, or a footer that is not JSON
        return f"{path.name} cannot be read: {exc}"
    if not isinstance(footer, dict) or footer.get("crc") != crc:
        return f"{path.name} fails its checksum"
    return None


def live_files(path: Path, meta_text: str | None = None) -> list[Path]:
    """The files the index's committed segments are made of (meta.json, or `meta_text` read from
    it, lists the segments)."""
    meta = json.loads((path / META_FILE).read_text() if meta_text is None else meta_text)
    files: list[Path] = []
    for segment in meta["segments"]:
        stem = str(segment["segment_id"]).replace("-", "")
        files.extend(path / f"{stem}{suffix}" for suffix in SEGMENT_FILES)
        deletes = segment.get("deletes")
        if deletes:
            files.append(path / f"{stem}.{int(deletes['opstamp'])}.del")
    return files


def set_aside(path: Path, reason: str) -> Path:
    """Move the index directory aside (kept for inspection, the newest KEEP_SET_ASIDE such copies),
    leaving `path` free for a new index; returns where it went."""
    aside = path.with_name(f"{path.name}.broken-{time.time_ns()}")
    try:
        path.rename(aside)
    except OSError:  # `path` is a mount point, say: move what it holds instead
        aside.mkdir()
        for entry in path.iterdir():
            shutil.move(entry, aside / entry.name)
    log.error("text index at %s set aside to %s and rebuilding from the table: %s", path, aside, reason)
    kept = sorted(path.parent.glob(f"{path.name}.broken-*"), key=lambda p: p.name)
    for old in kept[:-KEEP_SET_ASIDE]:
        shutil.rmtree(old, ignore_errors=True)
    return aside
