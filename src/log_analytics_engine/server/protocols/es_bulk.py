"""The Elasticsearch API that shippers need: `_bulk` (`POST|PUT /_bulk`, `/{index}/_bulk`), the node
answer of `GET /` and `HEAD /`, and the calls Filebeat, Logstash and Vector make at start-up (license,
templates, ILM policies, data streams, pipelines, nodes, cluster health), at `/` and under
`settings.es_prefix`.

Every answer of these routes, errors too (401, 403, 413, 429 …), carries `X-Elastic-Product:
Elasticsearch` (the official clients refuse a server without it; Logstash too), and a request that
fails whole is answered in Elasticsearch's error shape, `{"error": {"root_cause", "type", "reason"},
"status"}`. Templates, policies, data streams and pipelines are acknowledged and not applied: a name
PUT is answered 200 to GET and HEAD until the server stops (at most MAX_REMEMBERED per kind), any
other 404, so a shipper checking for its template installs it once and moves on.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.routing import APIRoute

from log_analytics_engine.errors import LogAnalyticsError
from log_analytics_engine.ingest.formats import es_bulk
from log_analytics_engine.ingest.report import Decoded
from log_analytics_engine.server.body import media_type, read_raw
from log_analytics_engine.server.context import Context
from log_analytics_engine.server.protocols import receive, refuse

PROTOCOL = "es_bulk"
PRODUCT_HEADER = "X-Elastic-Product"
# What GET / reports. Filebeat and Logstash read the version (Logstash wants >= 7.14 and the
# product header; Filebeat 8 and 9 accept 8.19); `build_flavor` "default" is not serverless.
VERSION = "8.19.0"
LUCENE_VERSION = "9.12.1"
CLUSTER_NAME = "log-analytics"
TAGLINE = "You Know, for Search"
MEDIA_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/json",
        "application/vnd.elasticsearch+x-ndjson",
        "application/vnd.elasticsearch+json",
    }
)
# `compatible-with=N` of the vendor media types: the majors whose clients' bulk bodies this reads.
COMPATIBLE_WITH = frozenset({"7", "8", "9"})
# Names of templates, policies, data streams and pipelines remembered per kind (only that they
# were PUT: a name takes ~100 bytes, 1,000 of them per kind ~0.5 MB in all).
MAX_REMEMBERED = 1_000
# The kinds of set-up resources, by path segment: the answer GET gives for a remembered name.
SETUP_KINDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "_index_template": lambda n: {"index_templates": [{"name": n, "index_template": {}}]},
    "_component_template": lambda n: {"component_templates": [{"name": n, "component_template": {}}]},
    "_template": lambda n: {n: {}},
    "_ilm/policy": lambda n: {n: {"version": 1, "policy": {}}},
    "_data_stream": lambda n: {"data_streams": [{"name": n}]},
    "_ingest/pipeline": lambda n: {n: {}},
}
# The error type Elasticsearch gives each whole-request status.
ERROR_TYPES = {
    400: "illegal_argument_exception",
    401: "security_exception",
    403: "security_exception",
    404: "resource_not_found_exception",
    408: "timeout_exception",
    413: "content_too_long_exception",
    415: "media_type_header_exception",
    429: "es_rejected_execution_exception",
}
_CLUSTER_UUID = "bG9nLWFuYWx5dGljcw"


def error_body(status: int, reason: str, kind: str | None = None) -> dict[str, Any]:
    """Elasticsearch's shape of a whole-request error."""
    kind = kind or ERROR_TYPES.get(status, "exception")
    return {
        "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
        "status": status,
    }


def _json(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


class ElasticRoute(APIRoute):
    """A route of the Elasticsearch API: its answers, errors included, carry X-Elastic-Product, and an
    error (an HTTPException from auth or the body bounds, or an engine error) is in ES's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response = await handle(request)
            except HTTPException as exc:
                response = _json(error_body(exc.status_code, str(exc.detail)), exc.status_code, exc.headers)
            except LogAnalyticsError as exc:
                headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
                response = _json(error_body(exc.status, str(exc)), exc.status, headers)
            response.headers[PRODUCT_HEADER] = "Elasticsearch"
            return response

        return answer


def check_content_type(request: Request) -> None:
    """415 (in ES's shape) unless the body is declared NDJSON or JSON (or not declared at all)."""
    header = request.headers.get("content-type")
    if header is None:
        return
    media = media_type(request)
    if media not in MEDIA_TYPES:
        raise HTTPException(
            415,
            f"Content-Type header [{header}] is not supported: send application/x-ndjson, "
            "application/json or application/vnd.elasticsearch+x-ndjson; compatible-with=N",
        )
    if media.startswith("application/vnd.elasticsearch+"):
        params = dict(part.strip().partition("=")[::2] for part in header.split(";")[1:] if "=" in part)
        version = params.get("compatible-with", "").strip()
        if version not in COMPATIBLE_WITH:
            raise HTTPException(
                400,
                f"Content-Type header [{header}]: compatible-with must be one of "
                f"{', '.join(sorted(COMPATIBLE_WITH))}, got {version or 'none'}",
            )


def node_info() -> dict[str, Any]:
    """What `GET /` answers: an Elasticsearch 8 node."""
    return {
        "name": CLUSTER_NAME,
        "cluster_name": CLUSTER_NAME,
        "cluster_uuid": _CLUSTER_UUID,
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": "0000000000000000000000000000000000000000",
            "build_date": "2025-01-01T00:00:00.000000000Z",
            "build_snapshot": False,
            "lucene_version": LUCENE_VERSION,
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": TAGLINE,
    }


def license_info() -> dict[str, Any]:
    """What `GET /_license` answers: an active basic license (Filebeat refuses an OSS one, Logstash
    one that is not active)."""
    return {
        "license": {
            "status": "active",
            "uid": "00000000-0000-0000-0000-000000000000",
            "type": "basic",
            "issue_date": "2025-01-01T00:00:00.000Z",
            "issue_date_in_millis": 1_735_689_600_000,
            "max_nodes": 1000,
            "max_resource_units": None,
            "issued_to": CLUSTER_NAME,
            "issuer": "elasticsearch",
            "start_date_in_millis": -1,
        }
    }


def bulk_items(bulk: es_bulk.Bulk) -> bytes:
    """The `_bulk` answer as JSON but its `took`: `"errors"`, and an item per action, in order, each
    with its status. Written from pieces (a stored item's bytes are the same but for its `_id`): as
    dicts through orjson, 1,000 items took 0.9 ms, an eighth of the time of storing them; so, 0.2."""
    keys = list(zip(bulk.actions, bulk.indexes, strict=True))
    heads = {key: b'{%s:{"_index":%s,"_id":' % (_text(key[0]), _text(key[1] or "")) for key in set(keys)}
    made = b'"' + secrets.token_urlsafe(9).encode()  # ids for documents sent without one (not stored)
    parts = [
        b'%s%s%x"%s' % (heads[key], made, at, _CREATED)
        if doc_id is None
        else heads[key] + _text(doc_id) + _CREATED
        for at, (key, doc_id) in enumerate(zip(keys, bulk.ids, strict=True))
    ]
    for at, failed in bulk.errors.items():
        doc_id = bulk.ids[at]
        given = _text(doc_id) if doc_id is not None else b'%s%x"' % (made, at)
        error = orjson.dumps(
            {"status": failed.status, "error": {"type": failed.type, "reason": failed.reason}}
        )
        parts[at] = heads[keys[at]] + given + b"," + error[1:] + b"}"
    errors = b"true" if bulk.errors else b"false"
    return b'"errors":%s,"items":[%s]}' % (errors, b",".join(parts))


# No `_shards` (a third of each item's bytes): the clients read an item's status and error only.
_CREATED = b',"_version":1,"result":"created","status":201}}'


def _text(value: str) -> bytes:
    return orjson.dumps(value)


def router(ctx: Context) -> APIRouter:
    """The Elasticsearch routes at `/` and under `ctx.settings.es_prefix` (none when it is empty)."""
    api = APIRouter(route_class=ElasticRoute, dependencies=[ctx.scope("ingest")], tags=["elasticsearch"])
    sources = es_bulk.source_fields(ctx.settings.es_source_fields)
    remembered: dict[str, dict[str, None]] = {kind: {} for kind in SETUP_KINDS}

    async def store(request: Request, index: str | None) -> Response:
        started = time.perf_counter()
        try:
            check_content_type(request)
        except HTTPException as exc:
            await refuse(ctx, PROTOCOL, "bad_content_type", str(exc.detail))
            raise
        items: list[bytes] = []

        def decode(body: bytes) -> Decoded:
            # the answer is written here, off the event loop (300,000 small documents fit the body
            # limit), and sent once they are stored
            bulk = es_bulk.decode(body, index, sources)
            items.append(bulk_items(bulk))
            return bulk.decoded

        await receive(ctx, request, PROTOCOL, decode)
        took = int((time.perf_counter() - started) * 1000)
        return Response(b'{"took":%d,%s' % (took, items[0]), media_type="application/json")

    async def bulk(request: Request) -> Response:
        """Store NDJSON action/document pairs (Elasticsearch's `_bulk`); an item per action."""
        return await store(request, None)

    async def bulk_of_index(request: Request, index: str) -> Response:
        """`_bulk` whose actions default to the index `index`."""
        return await store(request, index)

    def info() -> Response:
        """An Elasticsearch 8 node's answer (what clients check before sending)."""
        return _json(node_info())

    def head() -> Response:
        return Response(status_code=200, media_type="application/json")

    def xpack() -> Response:
        return _json({"build": {"hash": "", "date": ""}, **license_info(), "features": {}})

    def nodes() -> Response:
        counts = {"total": 0, "successful": 0, "failed": 0}
        return _json({"_nodes": counts, "cluster_name": CLUSTER_NAME, "nodes": {}})

    def health() -> Response:
        return _json(
            {
                "cluster_name": CLUSTER_NAME,
                "status": "green",
                "timed_out": False,
                "number_of_nodes": 1,
                "number_of_data_nodes": 1,
                "active_primary_shards": 0,
                "active_shards": 0,
                "unassigned_shards": 0,
            }
        )

    def setup_routes(base: str, kind: str) -> None:
        names = remembered[kind]
        describe = SETUP_KINDS[kind]

        async def put(request: Request, name: str) -> Response:
            await read_raw(request, ctx.settings.max_body_bytes)  # acknowledged, not applied
            if name in names or len(names) < MAX_REMEMBERED:
                names[name] = None
            return _json({"acknowledged": True})

        def get(name: str) -> Response:
            if name in names:
                return _json(describe(name))
            return _json(error_body(404, f"{kind.lstrip('_')} [{name}] not found (none was PUT)"), 404)

        def exists(name: str) -> Response:
            return Response(status_code=200 if name in names else 404, media_type="application/json")

        path = f"{base}/{kind}/{{name}}"
        api.add_api_route(path, put, methods=["PUT"], include_in_schema=False)
        api.add_api_route(path, get, methods=["GET"], include_in_schema=False)
        api.add_api_route(path, exists, methods=["HEAD"], include_in_schema=False)

    # The prefix's routes first: `/es/_bulk` is the prefix's, not the index "es"'s.
    bases = ([ctx.settings.es_prefix] if ctx.settings.es_prefix else []) + [""]
    for base in bases:
        documented = base == ""  # the prefix's copies are the same operations
        for method in ("POST", "PUT"):
            api.add_api_route(f"{base}/_bulk", bulk, methods=[method], include_in_schema=documented)
            api.add_api_route(
                f"{base}/{{index}}/_bulk", bulk_of_index, methods=[method], include_in_schema=documented
            )
        for root in [base or "/"] + ([f"{base}/"] if base else []):
            api.add_api_route(root, info, methods=["GET"], include_in_schema=documented and root == "/")
            api.add_api_route(root, head, methods=["HEAD"], include_in_schema=False)
        for path, answer in (
            ("_license", lambda: _json(license_info())),
            ("_xpack", xpack),
            ("_nodes", nodes),
            ("_nodes/{rest:path}", nodes),
            ("_cluster/health", health),
            ("_ilm/policy", lambda: _json({})),
        ):
            api.add_api_route(f"{base}/{path}", answer, methods=["GET"], include_in_schema=False)
        for kind in SETUP_KINDS:
            setup_routes(base, kind)
    return api
