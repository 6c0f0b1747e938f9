"""API keys, checked against the configured SHA-256 digests in constant time, each key carrying scopes
(ingest, query, admin). A key is presented the way each client sends one: `Authorization: Bearer KEY`,
`X-API-Key: KEY`, Elasticsearch's `Authorization: ApiKey …` (the key itself, or base64 of `id:key`
as Filebeat, Logstash and the ES clients send it) or HTTP basic auth with the key as the password
(any user name: what shippers configured with `username`/`password` send)."""

from __future__ import annotations

import base64
import binascii
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
        if not presented:
            raise HTTPException(
                401,
                "an API key is required (Authorization: Bearer KEY, ApiKey KEY or basic auth with the "
                "key as password, or X-API-Key)",
                headers={"WWW-Authenticate": 'Basic realm="log-analytics"'},
            )
        found = self._match(presented)
        if found is None:
            raise HTTPException(401, "unknown API key")
        if not found.allows(scope):
            raise HTTPException(403, f"the key {found.name!r} lacks the {scope!r} scope")
        return found

    def identify(self, request: Request) -> tuple[ApiKey | None, str | None]:
        """The configured key the request presents, or None and why (none presented, or unknown)."""
        presented = _presented(request)
        if not presented:
            return None, "no key presented"
        found = self._match(presented)
        return (found, None) if found is not None else (None, "unknown API key")

    def _match(self, presented: list[str]) -> ApiKey | None:
        found = None
        for candidate in presented:
            digest = hashlib.sha256(candidate.encode()).hexdigest()
            for key in self._keys:  # every digest is compared, so timing does not tell which one matched
                if hmac.compare_digest(digest, key.sha256):
                    found = key
        return found


def _presented(request: Request) -> list[str]:
    """The keys a request may be presenting (an ApiKey or basic value is tried each way it can be)."""
    out: list[str] = []
    header = request.headers.get("authorization")
    if header:
        kind, _, value = header.partition(" ")
        kind, value = kind.lower(), value.strip()
        if kind == "bearer" and value:
            out.append(value)
        elif kind == "apikey" and value:
            out.append(value)
            decoded = _unbase64(value)
            if decoded:
                out += [decoded, decoded.partition(":")[2]] if ":" in decoded else [decoded]
        elif kind == "basic" and value:
            decoded = _unbase64(value)
            if decoded and ":" in decoded:
                out.append(decoded.partition(":")[2])
    key = request.headers.get("x-api-key")
    if key and key.strip():
        out.append(key.strip())
    return [k for k in out if k]


def _unbase64(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
