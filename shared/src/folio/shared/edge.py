"""What every service's HTTP edge does whatever the route: security headers, no caching
of authenticated answers, a problem+json 500 that keeps the connection, and the OpenAPI
docs served from locally installed assets.

Each piece is a plain ASGI middleware (no request buffering) so it also covers answers
produced by other middlewares (413, 500).
"""

from __future__ import annotations

import json
from pathlib import Path

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from folio.shared.problems import PROBLEM_MEDIA_TYPE, Problem

log = structlog.get_logger(__name__)

#: An API answers JSON: nothing in it may run, be framed or be sniffed as another type.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The docs page runs only scripts served from this origin (no inline script, no CDN).
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class SecurityHeadersMiddleware:
    """Security headers on every answer; ``Cache-Control: no-store`` on answers to
    authenticated requests (tenants' invoices must not sit in a shared cache)."""

    def __init__(self, app: ASGIApp, docs_prefix: str) -> None:
        self.app = app
        self.docs_prefix = docs_prefix.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authenticated = any(name == b"authorization" for name, _ in scope.get("headers", ()))
        path = scope.get("path", "").encode()
        csp = DOCS_CSP if path.startswith(self.docs_prefix) else API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A route that answers a page sets its own (stricter than nothing,
                # looser than an API's) policy; it is kept, not doubled.
                own_csp = any(
                    k.lower() == b"content-security-policy" for k, _ in message.get("headers", [])
                )
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"server", b"cache-control")
                    or (k.lower() == b"cache-control" and not authenticated)
                ]
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if not own_csp:
                    headers.append((b"content-security-policy", csp.encode()))
                if authenticated:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class UnexpectedErrorMiddleware:
    """An exception no handler mapped becomes a problem+json 500, logged once with the
    correlation id — and the connection stays open. (Starlette's own catch-all re-raises
    after answering, and uvicorn then closes the keep-alive connection, so the client's
    next request on it fails with "connection reset".)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # half an answer is out: nothing better than closing is left
                raise
            from folio.shared.messaging.consumer import is_infrastructure_error

            if is_infrastructure_error(exc):
                log.error("request.unavailable", error=repr(exc), path=scope.get("path"))
                problem = Problem(
                    503, "unavailable", "Service unavailable", "a dependency is unreachable"
                )
            else:
                log.exception("request.failed", path=scope.get("path"))
                problem = Problem(500, "internal-error", "Internal error")
            response = JSONResponse(
                problem.to_body(scope.get("path")),
                status_code=problem.status,
                media_type=PROBLEM_MEDIA_TYPE,
            )
            await response(scope, receive, send)


def swagger_assets_path() -> Path:
    """Swagger UI's files, from the ``swagger-ui-bundle`` wheel (pinned with its hash in
    requirements.lock): the docs never load a script from a CDN."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def docs_router(prefix: str, title: str, openapi_url: str, dependencies=()) -> APIRouter:
    """``{prefix}/docs``: Swagger UI from local assets, started by a script file of its
    own (the CSP allows no inline script)."""
    router = APIRouter(prefix=prefix, include_in_schema=False, dependencies=list(dependencies))
    assets = f"{prefix}/docs/assets"

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{title} — API</title>"
            f"<link rel='stylesheet' href='{assets}/swagger-ui.css'>"
            f"<link rel='icon' href='{assets}/favicon-32x32.png'></head>"
            "<body><div id='swagger-ui'></div>"
            f"<script src='{assets}/swagger-ui-bundle.js'></script>"
            f"<script src='{prefix}/docs/start.js'></script></body></html>"
        )

    @router.get("/docs/start.js")
    async def start() -> Response:
        script = (
            "window.ui = SwaggerUIBundle({url: "
            + json.dumps(openapi_url)
            + ", dom_id: '#swagger-ui', deepLinking: true});"
        )
        return Response(script, media_type="text/javascript")

    return router


def mount_docs_assets(app: FastAPI, prefix: str) -> None:
    app.mount(f"{prefix}/docs/assets", StaticFiles(directory=swagger_assets_path()), name="docs")


#: The answers every operation can give whatever its own logic: the problem+json errors
#: of the shared edge (validation, size limit, a lost race, a defect, a dependency down).
COMMON_ERRORS = {
    "400": "The request is malformed (a header, a cursor or a document out of bounds)",
    "404": "No such resource",
    "409": "Refused by a rule or by a concurrent change; nothing was changed",
    "413": "The body is larger than the service accepts",
    "422": "The request does not match its schema; nothing was changed",
    "500": "A defect in Folio (logged with the correlation id); nothing was changed",
    "503": "A dependency (database, broker) is unreachable; retry later",
}
AUTH_ERRORS = {
    "401": "No valid bearer token",
    "403": "The token's roles do not allow this action",
}

PROBLEM_SCHEMA = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `type` is a stable `urn:folio:problem:<kind>`.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "example": "urn:folio:problem:not-found"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}


def document_problems(spec: dict) -> dict:
    """Add the shared error answers (problem+json) to every operation of an OpenAPI
    document, without replacing an answer a route documents itself; 401/403 only on
    operations that declare a security requirement."""
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", PROBLEM_SCHEMA)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in spec.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            errors = dict(COMMON_ERRORS)
            if operation.get("security"):
                errors.update(AUTH_ERRORS)
            for status, description in errors.items():
                if status not in responses:
                    responses[status] = {"description": description, "content": problem}
                elif status == "422" and "HTTPValidationError" in str(responses[status]):
                    # FastAPI's default 422 schema is not what the edge answers
                    responses[status] = {"description": description, "content": problem}
    return spec


_CONTROL_CHARACTERS = frozenset(range(0x00, 0x20)) | {0x7F}


class ControlCharacterGuardMiddleware:
    """400 for a path or query string carrying NUL or another control character: no
    identifier, filter or cursor has one, and PostgreSQL refuses NUL in text (a 500
    before). Bodies are checked by the request models' bounded text types."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_control_characters(scope):
            problem = Problem(
                400,
                "control-characters",
                "Bad request",
                "the path or query contains NUL or another control character",
            )
            response = JSONResponse(
                problem.to_body(None), status_code=400, media_type=PROBLEM_MEDIA_TYPE
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_control_characters(scope: Scope) -> bool:
    from urllib.parse import unquote_to_bytes

    path = scope.get("path", "")
    if any(ord(c) in _CONTROL_CHARACTERS for c in path):
        return True
    query = scope.get("query_string", b"")
    if not query:
        return False
    decoded = unquote_to_bytes(query.replace(b"+", b" "))
    return any(byte in _CONTROL_CHARACTERS for byte in decoded)
