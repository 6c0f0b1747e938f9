"""VictoriaLogs' JSON stream API: `POST /insert/jsonline` with its HTTP parameters as query args or
`VL-*` headers (a query arg wins, as in VictoriaLogs), and its readiness probe `GET /insert/ready`.

The answer is the native one (`accepted`, `rejected` with each line's 0-based number and reason,
`rejected_count`, `dropped`): 200 when anything was stored or nothing was sent, 400 when every line
was rejected (VictoriaLogs answers an empty 200, or 400 when no line could be read; its clients
read only the status).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from log_analytics_engine.ingest.formats import vl_jsonline
from log_analytics_engine.server.context import Context
from log_analytics_engine.server.protocols import receive, refuse

PROTOCOL = "jsonline"
# Each parameter: its query arg and its header.
PARAMETERS = {
    "msg_fields": ("_msg_field", "VL-Msg-Field"),
    "time_fields": ("_time_field", "VL-Time-Field"),
    "stream_fields": ("_stream_fields", "VL-Stream-Fields"),
    "ignore_fields": ("ignore_fields", "VL-Ignore-Fields"),
    "extra_fields": ("extra_fields", "VL-Extra-Fields"),
}


def _names(request: Request, arg: str, header: str) -> tuple[str, ...]:
    """The comma list of `arg` (every occurrence), else of `header`; empty items dropped."""
    values = request.query_params.getlist(arg) or request.headers.getlist(header)
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def params(request: Request) -> vl_jsonline.Params:
    """The request's parameters, VictoriaLogs' defaults for those it does not give; 400 for an extra
    field that is not `name=value`."""
    given = {key: _names(request, arg, header) for key, (arg, header) in PARAMETERS.items()}
    extra = []
    for item in given.pop("extra_fields"):
        name, _, value = item.partition("=")
        if not name or not value:
            raise HTTPException(400, f"extra_fields: {item!r} is not name=value")
        extra.append((name, value))
    defaults = vl_jsonline.Params()
    return vl_jsonline.Params(
        msg_fields=given["msg_fields"] or defaults.msg_fields,
        time_fields=given["time_fields"] or defaults.time_fields,
        stream_fields=given["stream_fields"],
        ignore_fields=given["ignore_fields"],
        extra_fields=tuple(extra),
    )


def router(ctx: Context) -> APIRouter:
    """`POST /insert/jsonline` (the `ingest` scope) and `GET /insert/ready` (no key, as /healthz)."""
    api = APIRouter(tags=["victorialogs"])

    @api.post("/insert/jsonline", dependencies=[ctx.scope("ingest")])
    async def jsonline(request: Request) -> Response:
        """Store JSON lines as VictoriaLogs reads them (`_msg_field`, `_time_field`, `_stream_fields`,
        `ignore_fields`, `extra_fields`, as query args or `VL-*` headers); gzip accepted."""
        try:
            chosen = params(request)
        except HTTPException as exc:
            await refuse(ctx, PROTOCOL, "bad_parameter", str(exc.detail))
            raise
        report = await receive(ctx, request, PROTOCOL, lambda body: vl_jsonline.decode(body, chosen))
        status = 400 if report.rejected_count and not report.accepted else 200
        return JSONResponse(report.to_answer(), status_code=status)

    @api.get("/insert/ready")
    def ready() -> dict[str, str]:
        """VictoriaLogs' readiness probe of its ingest path."""
        return {"status": "ok"}

    return api
