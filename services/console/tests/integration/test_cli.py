"""`make user` (folio.console.cli add-user) and the local admin `make run` creates once."""

import re
import uuid

import pytest

from folio.console import cli
from folio.console.domain.users import Role
from folio.console.service import accounts
from folio.console.testing import console_client, sign_in

pytestmark = pytest.mark.integration


async def test_add_user_generates_a_password_that_signs_in(
    console_app, console_database_url, monkeypatch, capsys
):
    import asyncio

    monkeypatch.setenv("DATABASE_URL", console_database_url)
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    code = await asyncio.to_thread(cli.main, ["add-user", "--email", email, "--role", "finance"])
    out = capsys.readouterr().out
    assert code == 0 and f"added {email} (finance)" in out
    password = re.search(r"password: (\S+)", out).group(1)
    async with console_client(console_app) as client:
        assert (await sign_in(client, email, password)).status_code == 303
    again = await asyncio.to_thread(
        cli.main, ["add-user", "--email", email.upper(), "--role", "viewer"]
    )
    assert again == 1 and "exists already" in capsys.readouterr().err


async def test_the_local_admin_is_created_once(console_database_url, tmp_path, uow_factory):
    import asyncio

    # the stack's own address is fixed; a test uses a fresh state directory and e-mail
    email = f"admin-{uuid.uuid4().hex[:6]}@folio.local"
    original = cli.LOCAL_ADMIN_EMAIL
    cli.LOCAL_ADMIN_EMAIL = email
    try:
        first = await asyncio.to_thread(cli.ensure_local_admin, console_database_url, tmp_path)
        second = await asyncio.to_thread(cli.ensure_local_admin, console_database_url, tmp_path)
    finally:
        cli.LOCAL_ADMIN_EMAIL = original
    assert first[0] == email and first[2] is True
    assert second == (email, first[1], False)
    users = [u for u in await accounts.list_users(uow_factory) if u.email == email]
    assert len(users) == 1 and users[0].role is Role.ADMIN


async def test_a_new_database_beside_a_kept_password_gets_its_admin_again(
    console_app, console_database_url, tmp_path
):
    """`rm -rf .local/pgdata` keeps .local/secrets: the banner's password must sign in."""
    import asyncio

    email = f"admin-{uuid.uuid4().hex[:6]}@folio.local"
    kept = tmp_path / "secrets" / "console-admin-password"
    kept.parent.mkdir()
    kept.write_text("kept-password-0123456789")
    original = cli.LOCAL_ADMIN_EMAIL
    cli.LOCAL_ADMIN_EMAIL = email
    try:
        made = await asyncio.to_thread(cli.ensure_local_admin, console_database_url, tmp_path)
    finally:
        cli.LOCAL_ADMIN_EMAIL = original
    assert made == (email, "kept-password-0123456789", True)
    async with console_client(console_app) as client:
        assert (await sign_in(client, email, "kept-password-0123456789")).status_code == 303
