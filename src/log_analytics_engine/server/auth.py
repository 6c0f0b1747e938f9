"""API keys: `Authorization: Bearer KEY` or `X-API-Key: KEY`, checked against the configured SHA-256
digests in constant time, each key carrying scopes (ingest, query, admin)."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request

from log_analytics_engine.server.settings import ApiKey


class Authenticator:
    """Decides whether a request may use a scope; with no keys configured every request may."""

    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        self._keys = keys

    @property
    def enabled(self) -> bool:
        """True when keys are configured."""
        return bool(self._keys)

    def require(self, request: Request, scope: str) -> ApiKey | None:
        """The key of the request, when it has `scope`; 401 without a valid key, 403 without the scope."""
        if not self._keys:
            return None
        presented = _presented(request)
        if presented is None:
            raise HTTPException(401, "an API key is required (Authorization: Bearer KEY or X-API-Key)")
        digest = hashlib.sha256(presented.encode()).hexdigest()
        found = None
        for key in self._keys:  # every digest is compared, so timing does not tell which one matched
            if hmac.compare_digest(digest, key.sha256):
                found = key
        if found is None:
            raise HTTPException(401, "unknown API key")
        if not found.allows(scope):
            raise HTTPException(403, f"the key {found.name!r} lacks the {scope!r} scope")
        return found


def _presented(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        kind, _, value = header.partition(" ")
        if kind.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None
