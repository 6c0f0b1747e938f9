"""What every router of the server is built from: the engine, the settings, the shared ingest gate and
the API keys' checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.server.auth import Authenticator
from log_analytics_engine.server.body import IngestGate
from log_analytics_engine.server.settings import Settings


@dataclass(frozen=True)
class Context:
    """What a router needs: the engine, the settings, the shared ingest gate, `scope` (a FastAPI
    dependency requiring an API key's scope) and the authenticator behind it."""

    engine: LogAnalyticsEngine
    settings: Settings
    gate: IngestGate
    scope: Callable[[str], Any]
    auth: Authenticator
