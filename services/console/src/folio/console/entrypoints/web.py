"""What every console page shares: templates, the session behind a request, the CSRF
check on every state-changing request, the role checks, and the page's own headers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from folio.console.domain.buildings import local_time
from folio.console.domain.payments import format_money
from folio.console.domain.sessions import Session
from folio.console.domain.users import User
from folio.console.service import accounts
from folio.shared.auth import constant_time_equals

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
TEMPLATES.env.filters["money"] = format_money
TEMPLATES.env.filters["local_time"] = local_time

SESSION_COOKIE = "folio_session"
SIGN_IN_COOKIE = "folio_sign_in"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Pages run only the console's own script files; no inline script or style anywhere.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class PageError(Exception):
    """Rendered as the error page (or, for an htmx request, as a message fragment)."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail


class SignInRequired(Exception):
    pass


@dataclass(frozen=True)
class Context:
    user: User
    session: Session

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def client_address(request: Request) -> str:
    # The gateway sets X-Forwarded-For; uvicorn's --proxy-headers turns it into client.host
    return request.client.host if request.client else "unknown"


def page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = PAGE_CSP
    # Pages show tenants' invoices: never kept by a browser's or a proxy's cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, template, context or {}, status_code=status)
    return page_headers(response)


def redirect(url: str) -> Response:
    return page_headers(RedirectResponse(url, status_code=303))


async def _context(request: Request, *, touch: bool = True) -> Context:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        raise SignInRequired()
    found = await accounts.current(
        request.app.state.uow_factory, request.app.state.session_policy, token, touch=touch
    )
    if found is None:
        raise SignInRequired()
    user, session = found
    context = Context(user=user, session=session)
    request.state.console = context
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session.csrf_token)
    return context


async def check_csrf(request: Request, expected: str) -> None:
    """The synchroniser token of the session, from the form or the htmx header."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not constant_time_equals(sent, expected):
        raise PageError(403, "Refused", "The form expired or did not come from this console.")


async def _writer(context: Annotated[Context, Depends(_context)]) -> Context:
    if not context.user.can_write:
        raise PageError(
            403, "Not allowed", f"The role {context.user.role.value} cannot change entries."
        )
    return context


async def _admin(context: Annotated[Context, Depends(_context)]) -> Context:
    if not context.user.can_manage_users:
        raise PageError(403, "Not allowed", "Only an admin manages users.")
    return context


async def _watching(request: Request) -> Context:
    """A signed-in GET the page sends by itself (polling): it does not count as
    activity, so a page left open still ends at the idle expiry."""
    return await _context(request, touch=False)


Signed = Annotated[Context, Depends(_context)]
Watching = Annotated[Context, Depends(_watching)]
Writer = Annotated[Context, Depends(_writer)]
Admin = Annotated[Context, Depends(_admin)]


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(32)
