"""Bootstrap of the console (port 8105): pages at / and /admin/..., ops at /api/console."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

from folio.console.adapters.services import LedgerClient, RegistryClient, ServiceUnavailable
from folio.console.adapters.uow import ConsoleUnitOfWork
from folio.console.domain.sessions import SessionPolicy
from folio.console.domain.throttle import ThrottlePolicy
from folio.console.entrypoints import auth, buildings, live, payments, units, users
from folio.console.entrypoints.web import (
    PageError,
    SignInRequired,
    is_htmx,
    page_headers,
    redirect,
    render,
)
from folio.console.service.tokens import TokenIssuer
from folio.console.settings import ConsoleSettings
from folio.shared.app import Runtime, create_service_app
from folio.shared.auth import signer_from_environment

PACKAGE_DIR = Path(__file__).resolve().parent
#: npm ci's output (make install); an image sets FOLIO_ASSETS_DIR (its Dockerfile).
DEFAULT_ASSETS_DIR = PACKAGE_DIR.parents[2] / "node_modules"


class ConsoleRuntime(Runtime):
    http: httpx.AsyncClient | None = None

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        await super().stop()


def htmx_path(settings: ConsoleSettings) -> Path:
    base = Path(settings.assets_dir) if settings.assets_dir else DEFAULT_ASSETS_DIR
    path = base / "htmx.org" / "dist" / "htmx.min.js"
    if not path.is_file():
        raise RuntimeError(
            f"htmx is missing at {path}: run `make install` (npm ci in services/console)"
        )
    return path


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    runtime = ConsoleRuntime.create(settings)
    htmx = htmx_path(settings)
    runtime.http = httpx.AsyncClient(timeout=settings.service_timeout_seconds)

    def uow_factory() -> ConsoleUnitOfWork:
        return ConsoleUnitOfWork(runtime.sessionmaker, producer="console")

    app = create_service_app(
        runtime=runtime,
        title="Folio console",
        description="Sign-in, roles and the operators' pages; a client of the services' APIs.",
        routers=[
            auth.router,
            users.router,
            live.router,
            payments.router,
            buildings.router,
            units.router,
        ],
        extra_state={
            "uow_factory": uow_factory,
            "session_policy": SessionPolicy(
                idle=timedelta(seconds=settings.session_idle_seconds),
                absolute=timedelta(seconds=settings.session_absolute_seconds),
            ),
            "throttle_policy": ThrottlePolicy(
                window_seconds=settings.throttle_window_seconds,
                slow_after=settings.throttle_slow_after,
                delay_seconds=settings.throttle_delay_seconds,
                max_delay_seconds=settings.throttle_max_delay_seconds,
                refuse_after=settings.throttle_refuse_after,
                address_factor=settings.throttle_address_factor,
            ),
            "token_issuer": TokenIssuer(
                signer_from_environment(),
                issuer=settings.jwt_issuer,
                ttl_seconds=settings.service_token_ttl_seconds,
            ),
            "ledger": LedgerClient(runtime.http, settings.ledger_url),
            "registry": RegistryClient(runtime.http, settings.registry_url),
        },
    )
    app.mount("/static/console", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")

    @app.get("/static/vendor/htmx.min.js", include_in_schema=False)
    async def htmx_js() -> Response:
        return FileResponse(htmx, media_type="text/javascript")

    @app.exception_handler(SignInRequired)
    async def on_sign_in_required(request: Request, exc: SignInRequired) -> Response:
        if is_htmx(request) or request.method != "GET":
            response = page_headers(Response("sign in first", status_code=401))
            response.headers["HX-Redirect"] = "/sign-in"
            return response
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return redirect(f"/sign-in?next={quote(target, safe='')}")

    @app.exception_handler(PageError)
    async def on_page_error(request: Request, exc: PageError) -> Response:
        console = getattr(request.state, "console", None)
        template = "action_result.html" if is_htmx(request) else "error.html"
        return render(
            request,
            template,
            {"console": console, "title": exc.title, "detail": exc.detail,
             "problem": {"title": exc.title, "detail": exc.detail}},
            exc.status,
        )  # fmt: skip

    @app.exception_handler(ServiceUnavailable)
    async def on_unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        console = getattr(request.state, "console", None)
        return render(
            request,
            "error.html",
            {"console": console, "title": "A service is unavailable",
             "detail": "A service the page needs (the ledger or the registry) did not "
                       "answer. Try again in a moment."},
            503,
        )  # fmt: skip

    return app
