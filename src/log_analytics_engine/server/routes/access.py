"""`GET /api/v1/access`: what the presented key may do, so a client (the web UI) offers only the actions
it may take instead of meeting a 403. It answers 200 with or without a valid key (it reveals nothing
but whether the presented key is one of the configured keys, and that key's own name and scopes)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from log_analytics_engine.server.context import Context

SCOPES = ("ingest", "query", "admin")


class Access(BaseModel):
    """Whether the server requires keys; the presented key's name and the scopes it holds (every
    scope when no keys are configured, none without a valid key); `problem` says why there is none."""

    keys_required: bool
    key: str | None
    scopes: list[str]
    problem: str | None = None


def router(ctx: Context) -> APIRouter:
    """`/api/v1/access` (no scope needed)."""
    api = APIRouter()

    @api.get("/api/v1/access", tags=["access"])
    def access(request: Request) -> Access:
        """The scopes of the key presented (all of them on a server without keys)."""
        if not ctx.auth.enabled:
            return Access(keys_required=False, key=None, scopes=list(SCOPES))
        key, problem = ctx.auth.identify(request)
        if key is None:
            return Access(keys_required=True, key=None, scopes=[], problem=problem)
        return Access(keys_required=True, key=key.name, scopes=[s for s in SCOPES if key.allows(s)])

    return api
