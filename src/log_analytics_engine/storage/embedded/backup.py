"""A consistent copy of an embedded store while it runs: restoring is opening the copy.

The text index is copied first, at a committed state (its segment files never change once written:
the files meta.json lists are opened together, so a merge that replaces them meanwhile cannot tear
the copy), then the database inside one DuckDB transaction (`ATTACH` + `COPY FROM DATABASE`: a
snapshot; the applier keeps committing beside it, writers are not held). The index then holds no
row the database copy lacks; the rows it lacks are indexed when the copy is opened. Both go to a
hidden directory inside the destination first and are moved into place at the end, so a copy cut
short by a crash is never taken for a store.

Measured on 1M bench logs (bench/backup.py, 2 cores shared at a load average of 8-9): 3.9-7.9 s in
all, the index's 41 MB of it 0.8 s, no write held (the longest writer call 48-426 ms), against 0.94-1.11
s of every write held for a CHECKPOINT and a copy of the files; rebuilding the index at open instead
of copying it costs 9-21 s of background indexing, during which text searches scan the table.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import IO

import duckdb

from log_analytics_engine.errors import BackupError
from log_analytics_engine.storage.embedded.indexfiles import META_FILE, live_files
from log_analytics_engine.storage.embedded.transaction import transaction

PARTIAL_DIR = ".backup-partial"
# tantivy's list of the files it manages (it deletes those no commit uses any more); the copy's own
MANAGED_FILE = ".managed.json"
_COPY_ATTEMPTS = 5


def prepare(dest: Path, store_dir: Path | None) -> Path:
    """The staging directory inside `dest` (made), after refusing a `dest` that exists and is not
    empty, or that lies inside the store's own directory."""
    try:
        target = dest.resolve()
        if store_dir is not None and target.is_relative_to(store_dir.resolve()):
            inside = f"the backup destination {dest} lies inside the store it would copy ({store_dir})"
            raise BackupError(inside)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise BackupError(
                f"the backup destination {dest} exists and is not empty; give a new or empty directory"
            )
        staging = target / PARTIAL_DIR
        staging.mkdir(parents=True)
    except (OSError, ValueError) as exc:  # not a path here (a NUL byte), no permission, a file on the way
        raise BackupError(f"cannot make the backup destination {dest}: {exc}") from exc
    return staging


def copy_index(source: Path, dest: Path) -> bool:
    """Copy the index's last commit from `source` into `dest` (made); False when there is no index
    on disk to copy. The caller keeps commits from happening meanwhile (merges may go on)."""
    for _ in range(_COPY_ATTEMPTS):
        try:
            meta = (source / META_FILE).read_text()
        except FileNotFoundError:
            return False
        try:
            with contextlib.ExitStack() as stack:
                # open them all first: a file open is a file kept, whatever a merge deletes after
                handles = [(f.name, stack.enter_context(f.open("rb"))) for f in live_files(source, meta)]
                dest.mkdir()
                for name, handle in handles:
                    _copy(handle, dest / name)
        except FileNotFoundError:  # a merge published and deleted files between the two reads
            shutil.rmtree(dest, ignore_errors=True)
            continue
        (dest / META_FILE).write_text(meta)
        names = [name for name, _ in handles]
        (dest / MANAGED_FILE).write_text(json.dumps([*names, META_FILE]))
        return True
    return False


def _copy(handle: IO[bytes], target: Path) -> None:
    with target.open("wb") as out:
        shutil.copyfileobj(handle, out, 8 << 20)
        out.flush()
        os.fsync(out.fileno())


def copy_database(cur: duckdb.DuckDBPyConnection, target: Path) -> tuple[int, int, int]:
    """Copy every table of the cursor's database into a new database file `target`, as of one
    transaction's snapshot; the logs, alerts and rules it held."""
    main = cur.execute("SELECT current_database()").fetchall()[0][0]
    alias = "log_analytics_backup"
    cur.execute(f"ATTACH ? AS {alias}", [str(target)]).fetchall()
    try:
        with transaction(cur):
            counts = cur.execute(
                "SELECT (SELECT count(*) FROM logs), (SELECT count(*) FROM alerts), "
                "(SELECT count(*) FROM alert_rules)"
            ).fetchall()[0]
            # the name of a database is an identifier, not a value: quoted, as DuckDB names it
            cur.execute(f'COPY FROM DATABASE "{main.replace(chr(34), chr(34) * 2)}" TO {alias}').fetchall()
    finally:
        cur.execute(f"DETACH {alias}").fetchall()
    return int(counts[0]), int(counts[1]), int(counts[2])


def finish(staging: Path) -> int:
    """Move the staged copy into place (its parent, the destination); the bytes it holds."""
    size = sum(f.stat().st_size for f in staging.rglob("*") if f.is_file())
    for entry in staging.iterdir():
        entry.rename(staging.parent / entry.name)
    staging.rmdir()
    with contextlib.suppress(OSError):  # make the renames durable where the OS allows it
        fd = os.open(staging.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return size
