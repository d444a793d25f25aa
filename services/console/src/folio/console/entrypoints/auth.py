"""Sign-in and sign-out pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from folio.console.entrypoints.web import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    PageError,
    Signed,
    client_address,
    new_sign_in_token,
    redirect,
    render,
)
from folio.console.service import accounts
from folio.shared.auth import constant_time_equals

router = APIRouter(include_in_schema=False)

#: One message whatever was wrong: unknown e-mail, wrong password or disabled user.
REFUSED = "The e-mail or the password is not right, or the account is disabled."


def _safe_next(value: str | None) -> str:
    # Only a path of this console: never an absolute URL (an open redirect).
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin/payments"


def _sign_in_page(
    request: Request,
    *,
    error: str | None = None,
    status: int = 200,
    email: str = "",
    next_url: str = "",
) -> Response:
    token = new_sign_in_token()
    response = render(
        request,
        "sign_in.html",
        {"error": error, "email": email, "next": next_url, "sign_in_token": token},
        status,
    )
    settings = request.app.state.settings
    # Double-submit token against login CSRF (no session exists yet to hold one).
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
        secure=settings.cookie_secure, path="/sign-in",
    )  # fmt: skip
    return response


@router.get("/")
async def home() -> Response:
    return redirect("/admin/payments")


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = "") -> Response:
    return _sign_in_page(request, next_url=_safe_next(next) if next else "")


@router.post("/sign-in")
async def sign_in(
    request: Request,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    sign_in_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    if not cookie or not sign_in_token or not constant_time_equals(cookie, sign_in_token):
        raise PageError(403, "Refused", "The sign-in form expired; open it again.")
    state = request.app.state
    try:
        signed_in = await accounts.sign_in(
            state.uow_factory,
            state.session_policy,
            state.throttle_policy,
            email,
            password,
            client_address(request),
            request.headers.get("user-agent"),
        )
    except accounts.SignInThrottled as exc:
        response = _sign_in_page(
            request,
            error="Too many failed sign-ins. Wait a while before trying again.",
            status=429,
            email=email,
            next_url=next,
        )
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response
    except accounts.SignInRefused:
        return _sign_in_page(request, error=REFUSED, status=401, email=email, next_url=next)
    response = redirect(_safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        max_age=state.settings.session_absolute_seconds,
        httponly=True,
        samesite="lax",
        secure=state.settings.cookie_secure,
        path="/",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, context: Signed) -> Response:
    await accounts.sign_out(request.app.state.uow_factory, context.user, context.session)
    response = redirect("/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
