"""OTLP/HTTP logs, `POST /v1/logs` (the OpenTelemetry SDKs' exporters, the Collector's `otlphttp`
exporter): binary protobuf or OTLP/JSON, gzip accepted, answered as the OTLP/HTTP spec asks — 200
with an `ExportLogsServiceResponse` in the request's encoding (`partial_success` counting and
naming the records not stored), a `google.rpc.Status` with a 4xx, 415 for any other content type.
OTLP/gRPC is not served (grpcio would be the server's heaviest dependency). The decoding is
`ingest/formats/otlp.py`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest.formats import otlp
from log_analytics_engine.ingest.report import IngestReport
from log_analytics_engine.server.body import media_type
from log_analytics_engine.server.context import Context
from log_analytics_engine.server.protocols import receive, refuse

PROTOCOL = "otlp"
PATH = "/v1/logs"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Rejected records named in a partial success's error_message, first by position (all counted).
ANSWER_REASONS = 10
# The gRPC code a Status carries for each HTTP status (OTLP/HTTP clients go by the HTTP status;
# the code is for their logs): INVALID_ARGUMENT, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE.
GRPC_CODES = {400: 3, 408: 4, 413: 8, 415: 3, 429: 14}
_UNKNOWN = 2
_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        PROTOBUF: {
            "schema": {"type": "string", "format": "binary", "description": "ExportLogsServiceRequest"}
        },
        JSON: {"schema": {"type": "object", "description": 'OTLP/JSON: {"resourceLogs": [...]}'}},
    },
}


def router(ctx: Context) -> APIRouter:
    """The OTLP/HTTP logs route."""
    api = APIRouter(tags=["protocols"], dependencies=[ctx.scope("ingest")])

    @api.post(
        PATH,
        response_class=Response,
        openapi_extra={"requestBody": _BODY},
        responses={
            200: {"description": "ExportLogsServiceResponse, partial_success when records were rejected"},
            400: {"description": "google.rpc.Status: a body that is no ExportLogsServiceRequest"},
            413: {},
            415: {},
            429: {},
        },
    )
    async def otlp_logs(request: Request) -> Response:
        """Store OTLP log records: `application/x-protobuf` or `application/json` (OTLP/JSON), gzip
        accepted. 200 with an ExportLogsServiceResponse in the request's encoding; records not
        stored are counted and named in its `partial_success`; errors as a google.rpc.Status."""
        kind = media_type(request)
        if kind not in (PROTOBUF, JSON):
            why = f"Content-Type {kind!r} is not OTLP/HTTP: send {PROTOBUF} or {JSON}"
            await refuse(ctx, PROTOCOL, "content_type", why)
            return status(415, why, binary=False)
        binary = kind == PROTOBUF
        decoder = otlp.decode_protobuf if binary else otlp.decode_json
        try:
            report = await receive(ctx, request, PROTOCOL, decoder)
        except HTTPException as exc:
            return status(exc.status_code, str(exc.detail), binary, exc.headers)
        except IngestError as exc:
            return status(exc.status, str(exc), binary)
        message = partial_success(report) if report.rejected_count else ""
        return Response(otlp.export_answer(report.rejected_count, message, binary), media_type=kind)

    return api


def status(code: int, message: str, binary: bool, headers: Mapping[str, str] | None = None) -> Response:
    """An OTLP/HTTP failure: HTTP status `code`, a google.rpc.Status body in the request's encoding."""
    body = otlp.status_answer(GRPC_CODES.get(code, _UNKNOWN), message, binary)
    return Response(body, code, headers=dict(headers or {}), media_type=PROTOBUF if binary else JSON)


def partial_success(report: IngestReport) -> str:
    """The error_message of a partial success: how many of how many, the first ANSWER_REASONS why."""
    total = report.accepted + report.dropped + report.rejected_count
    listed = report.sorted_rejections()[:ANSWER_REASONS]
    text = f"{report.rejected_count} of {total} log records rejected: " + "; ".join(r.reason for r in listed)
    if report.rejected_count > len(listed):
        text += f"; and {report.rejected_count - len(listed)} more"
    return text
