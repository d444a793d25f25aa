"""/admin/users: an admin adds users, changes roles, enables, disables, resets passwords."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from folio.console.domain.users import Role, UserError
from folio.console.entrypoints.web import Admin, PageError, redirect, render
from folio.console.service import accounts

router = APIRouter(prefix="/admin/users", include_in_schema=False)


async def _page(
    request: Request,
    context,
    *,
    error: str | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    uow_factory = request.app.state.uow_factory
    return render(
        request,
        "users.html",
        {
            "console": context,
            "users": await accounts.list_users(uow_factory),
            "audit": await accounts.user_audit(uow_factory),
            "roles": [r.value for r in Role],
            "error": error,
            "notice": notice,
        },
        status,
    )


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise PageError(422, "Unknown role", f"{value!r} is not a role") from None


@router.get("")
async def users_page(request: Request, context: Admin) -> Response:
    return await _page(request, context, notice=request.query_params.get("notice"))


@router.post("")
async def add_user(
    request: Request,
    context: Admin,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=256)],
    role: Annotated[str, Form(max_length=20)],
    display_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        user = await accounts.create_user(
            request.app.state.uow_factory, context.user.email, email, password, _role(role),
            display_name,
        )  # fmt: skip
    except UserError as exc:
        return await _page(request, context, error=exc.message, status=409)
    return redirect(f"/admin/users?notice=Added+{user.email}")


@router.post("/{user_id}")
async def change_user(
    request: Request,
    context: Admin,
    user_id: UUID,
    role: Annotated[str | None, Form(max_length=20)] = None,
    enabled: Annotated[str | None, Form(max_length=5)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
) -> Response:
    try:
        user = await accounts.update_user(
            request.app.state.uow_factory,
            context.user.email,
            user_id,
            role=_role(role) if role else None,
            enabled=None if enabled is None else enabled == "true",
            password=password or None,
        )
    except UserError as exc:
        status = 404 if exc.kind == "not-found" else 409
        return await _page(request, context, error=exc.message, status=status)
    return redirect(f"/admin/users?notice=Saved+{user.email}")
