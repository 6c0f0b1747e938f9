"""Admin routes (the `admin` scope): deleting logs by query, and a consistent backup of the store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from log_analytics_engine.server.context import Context


class Deleted(BaseModel):
    """How many stored logs a delete removed."""

    deleted: int


class BackupOrder(BaseModel):
    """Where to write the copy: a directory on the server's machine, new or empty."""

    dest: str = Field(min_length=1)


class BackupDone(BaseModel):
    """What a backup copied (the text index too, unless `index_copied` is false: then the copy
    indexes its logs when first opened), the bytes written and how long it took."""

    dest: str
    rows: int
    alerts: int
    rules: int
    index_copied: bool
    bytes: int
    seconds: float


def router(ctx: Context) -> APIRouter:
    """The admin family."""
    api = APIRouter(tags=["admin"], dependencies=[ctx.scope("admin")])
    engine = ctx.engine

    @api.delete("/api/v1/logs", responses={400: {"description": "A query that cannot be deleted by"}})
    def delete_logs(
        q: str = "",
        start: str | None = None,
        end: str | None = None,
        everything: Annotated[bool, Query(alias="all")] = False,
    ) -> Deleted:
        """Delete every stored log `q` (a filter, no pipes) matches within `start`/`end`, from the
        table and the text index; a filter matching every log is refused (400) unless `all=true`."""
        return Deleted(deleted=engine.delete(q, start=start, end=end, all=everything))

    @api.post("/api/v1/admin/backup", responses={400: {"description": "The destination is not new or empty"}})
    def backup(order: BackupOrder) -> BackupDone:
        """Copy the store, while it runs, into `dest` on the server's machine (a new or empty
        directory); `log-analytics serve --data DEST` serves the copy."""
        return BackupDone(**engine.backup(order.dest))

    return api
