"""Service bootstrap: engine, broker, relay and the FastAPI app around them.

A service's ``app.py`` builds a :class:`Runtime` from its settings, registers its
consumers on ``runtime.broker``, and calls :func:`create_service_app` with its
routers. The lifespan starts the FastStream broker (consumers) and the outbox
relay, and stops them on shutdown; nothing is built at import time.
"""

import asyncio
import gc
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from folio.shared.auth import READ_ROLES, require_roles
from folio.shared.contracts import EVENT_MODELS
from folio.shared.db import create_engine, create_sessionmaker
from folio.shared.edge import (
    ControlCharacterGuardMiddleware,
    SecurityHeadersMiddleware,
    UnexpectedErrorMiddleware,
    docs_router,
    document_problems,
    mount_docs_assets,
)
from folio.shared.messaging import OutboxRelay, create_broker
from folio.shared.observability import (
    CORRELATION_HEADER,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    configure_logging,
    parse_correlation_id,
    set_correlation_id,
)
from folio.shared.problems import PROBLEM_MEDIA_TYPE, Problem
from folio.shared.responses import AsyncApiDocument, Health, Readiness
from folio.shared.settings import ServiceSettings

log = structlog.get_logger(__name__)


_gc_tuned = False


def tune_garbage_collector() -> None:
    """Keep the cyclic collector out of hot paths (once per process).

    A consumer batch or a burst of webhooks allocates tens of thousands of
    short-lived objects; with the default thresholds they are promoted and trigger
    full collections that walk every object imported at start-up (measured: about
    a sixth of the ledger benchmark, and p99 spikes in webhook intake). Objects
    alive now are frozen out of the collector's view and young collections run
    less often; reference counting still frees everything acyclic at once.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


@dataclass
class Runtime:
    """Everything a service process holds open: database, broker, relay, background tasks."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker
    broker: KafkaBroker
    relay: OutboxRelay
    background: list[Callable[[], Any]] = field(default_factory=list)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @classmethod
    def create(cls, settings: ServiceSettings) -> "Runtime":
        tune_garbage_collector()
        engine = create_engine(settings.database_url, settings.db_schema)
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            broker=create_broker(settings.kafka_bootstrap_servers, client_id=settings.service_name),
            relay=OutboxRelay(
                database_url=settings.database_url,
                schema=settings.db_schema,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                service_name=settings.service_name,
            ),
        )

    def add_background(self, factory: Callable[[], Any]) -> None:
        """Run a coroutine factory (a periodic job) for the process lifetime."""
        self.background.append(factory)

    async def start(self) -> None:
        if self.settings.run_messaging:
            # The HTTP side serves even while the broker is unreachable (webhook intake
            # must keep accepting); consumers join as soon as the broker answers. When
            # the broker is up, startup waits for it so the service is whole when ready.
            connecting = asyncio.create_task(_start_broker_with_retry(self.broker))
            self._tasks.append(connecting)
            await asyncio.wait({connecting}, timeout=self.settings.broker_connect_wait_seconds)
            self.relay.start()
            for factory in self.background:
                self._tasks.append(asyncio.create_task(factory()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: S110 - shutting down
                pass
        if self.settings.run_messaging:
            await self.relay.stop()
            await self.broker.stop()
        await self.engine.dispose()


async def _start_broker_with_retry(broker: KafkaBroker) -> None:
    attempt = 0
    while True:
        attempt += 1
        try:
            await broker.start()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("broker.start_retry", attempt=attempt, error=repr(exc))
            await asyncio.sleep(min(0.5 * attempt, 5))


def create_service_app(
    *,
    runtime: Runtime,
    title: str,
    routers: Sequence[APIRouter],
    description: str = "",
    version: str = "0.1.0",
    extra_state: dict[str, Any] | None = None,
    publishes: Sequence[str] = (),
    body_limits: Sequence[tuple[re.Pattern[str], int]] = (),
) -> FastAPI:
    """``publishes`` names the topics the service emits, for its AsyncAPI document
    (it publishes through the outbox relay, not through these publisher objects).
    ``body_limits``: (path pattern, bytes) for the few routes that take larger bodies
    than ``max_body_bytes`` (a bulk)."""
    settings = runtime.settings
    for topic in publishes:
        model = EVENT_MODELS[(topic, 1)]
        runtime.broker.publisher(
            topic, title=f"{topic}:publish", description=model.__doc__, schema=model
        )
    prefix = f"/api/{settings.service_name}"
    configure_logging(settings.service_name, settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info("service.started", service=settings.service_name)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        openapi_url=None,  # served below, behind the ops guard
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    for key, value in (extra_state or {}).items():
        setattr(app.state, key, value)

    install_problem_handlers(app)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(ControlCharacterGuardMiddleware)
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    app.add_middleware(
        BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes, limits=tuple(body_limits)
    )
    app.add_middleware(SecurityHeadersMiddleware, docs_prefix=f"{prefix}/docs")

    # Metrics and the API descriptions are open locally; in production they need a
    # reading token (or FOLIO_OPS_PUBLIC=true behind a private network).
    guard = [] if settings.ops_public else [Depends(require_roles(*READ_ROLES))]
    ops = APIRouter(prefix=prefix, tags=["operations"])
    guarded = APIRouter(prefix=prefix, tags=["operations"], dependencies=guard)

    default_openapi = app.openapi

    def openapi_with_problems() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(default_openapi())
        return app.openapi_schema

    app.openapi = openapi_with_problems  # type: ignore[method-assign]

    @guarded.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @ops.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @ops.get(
        "/readyz",
        responses={
            200: {"model": Readiness, "description": "Every dependency answers"},
            503: {"model": Readiness, "description": "A dependency does not answer"},
        },
    )
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            async with runtime.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), 2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {exc.__class__.__name__}"
        if settings.run_messaging:
            try:
                ok = await runtime.broker.ping(timeout=2)
                checks["broker"] = "ok" if ok else "unreachable"
            except Exception as exc:
                checks["broker"] = f"error: {exc.__class__.__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @guarded.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @guarded.get("/asyncapi.json", responses={200: {"model": AsyncApiDocument}})
    async def asyncapi() -> Response:
        spec = AsyncAPI(runtime.broker, title=f"{title} events", version=version)
        return Response(spec.to_specification().to_json(), media_type="application/json")

    app.include_router(ops)
    app.include_router(guarded)
    app.include_router(docs_router(prefix, title, f"{prefix}/openapi.json", guard))
    mount_docs_assets(app, prefix)
    for router in routers:
        app.include_router(router)
    return app


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    return JSONResponse(
        problem.to_body(str(request.url.path) if request else None),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem_response(
            Problem(
                422, "validation-error", "Unprocessable request", "invalid request", errors=errors
            ),
            request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {
            401: "unauthenticated",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
        }
        response = problem_response(
            Problem(exc.status_code, kinds.get(exc.status_code, "http-error"), str(exc.detail)),
            request,
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response


class BodySizeLimitMiddleware:
    """413 before any parsing or crypto: by Content-Length, or while streaming."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        limits: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.default_bytes = max_bytes
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        max_bytes = next(
            (size for pattern, size in self.limits if pattern.fullmatch(path)),
            self.default_bytes,
        )
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(scope, receive, send, max_bytes)
                    return
        if any(name == b"content-length" for name, _ in scope.get("headers", ())):
            await self.app(scope, receive, send)
            return
        # No length given (chunked): read it, bounded, before the app sees a byte.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > max_bytes:
                await self._reject(scope, receive, send, max_bytes)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        body = Problem(
            413, "payload-too-large", "Payload too large", f"the limit is {max_bytes} bytes"
        ).to_body(scope.get("path"))
        response = JSONResponse(body, status_code=413, media_type=PROBLEM_MEDIA_TYPE)
        await response(scope, receive, send)


class RequestContextMiddleware:
    """Correlation id in and out, request metrics."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        correlation_id = parse_correlation_id(headers.get(CORRELATION_HEADER.lower().encode()))
        set_correlation_id(correlation_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (CORRELATION_HEADER.lower().encode(), correlation_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], path, str(status)).inc()
            HTTP_LATENCY.labels(self.service, scope["method"], path).observe(
                time.perf_counter() - started
            )
