"""The users admin page: only admins, every change audited, the last admin kept."""

import re

import pytest
import sqlalchemy as sa

from folio.console.domain.users import Role
from folio.console.testing import PASSWORD, console_client, csrf_of, sign_in
from folio.shared.db import audit_log

pytestmark = pytest.mark.integration


async def audit_of(uow_factory, user_id) -> list[tuple[str, str, dict]]:
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.details)
            .where(audit_log.c.subject_type == "user", audit_log.c.subject_id == str(user_id))
            .order_by(audit_log.c.id)
        )
        return [tuple(r) for r in rows]


async def test_an_admin_adds_changes_and_disables_a_user_and_each_change_is_audited(
    console_app, make_user, uow_factory
):
    admin = await make_user(Role.ADMIN)
    new_email = f"new-{admin.id.hex[:8]}@example.com"
    async with console_client(console_app) as client:
        await sign_in(client, admin.email, PASSWORD)
        csrf = csrf_of((await client.get("/admin/users")).text)
        added = await client.post(
            "/admin/users",
            data={"csrf_token": csrf, "email": new_email, "password": "a long new password",
                  "role": "viewer"},
        )  # fmt: skip
        assert added.status_code == 303
        page = (await client.get("/admin/users")).text
        user_id = re.search(rf'data-email="{re.escape(new_email)}">.*?/admin/users/([0-9a-f-]+)"',
                            page, re.S).group(1)  # fmt: skip
        again = await client.post(
            "/admin/users",
            data={"csrf_token": csrf, "email": new_email.upper(), "password": "another password",
                  "role": "viewer"},
        )  # fmt: skip
        assert again.status_code == 409 and "exists already" in again.text
        async with console_client(console_app) as theirs:
            assert (await sign_in(theirs, new_email, "a long new password")).status_code == 303
            assert (await client.post(f"/admin/users/{user_id}",
                    data={"csrf_token": csrf, "role": "finance"})).status_code == 303  # fmt: skip
            assert (await client.post(f"/admin/users/{user_id}",
                    data={"csrf_token": csrf, "enabled": "false"})).status_code == 303  # fmt: skip
            # Disabling ended their session at once.
            assert (await theirs.get("/admin/payments")).status_code == 303
            assert (await sign_in(theirs, new_email, "a long new password")).status_code == 401
    trail = await audit_of(uow_factory, user_id)
    actions = [(actor, action) for actor, action, _ in trail]
    assert actions[0] == (admin.email, "user.created")
    assert (admin.email, "user.updated") in actions
    changes = [details for _, action, details in trail if action == "user.updated"]
    assert changes[0]["role"] == ["viewer", "finance"]
    assert changes[1]["enabled"] == [True, False] and changes[1]["sessions_ended"] == 1
    async with uow_factory() as uow:  # the audit log is append-only
        with pytest.raises(sa.exc.DBAPIError):
            await uow.session.execute(sa.delete(audit_log).where(audit_log.c.actor == admin.email))


async def test_the_last_enabled_admin_cannot_be_disabled(uow_factory, make_user):
    from folio.console.domain.users import LastAdmin
    from folio.console.service import accounts

    only = await make_user(Role.ADMIN)
    for other in await accounts.list_users(uow_factory):
        if other.role is Role.ADMIN and other.id != only.id and other.enabled:
            await accounts.update_user(uow_factory, "test", other.id, enabled=False)
    with pytest.raises(LastAdmin):
        await accounts.update_user(uow_factory, "test", only.id, enabled=False)
    with pytest.raises(LastAdmin):
        await accounts.update_user(uow_factory, "test", only.id, role=Role.VIEWER)


@pytest.mark.parametrize("role", [Role.FINANCE, Role.VIEWER])
async def test_only_admins_manage_users(console_app, make_user, role):
    user = await make_user(role)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        page = await client.get("/admin/payments")
        assert "/admin/users" not in page.text
        assert (await client.get("/admin/users")).status_code == 403
        forged = await client.post(
            "/admin/users",
            data={"csrf_token": csrf_of(page.text), "email": "x@example.com",
                  "password": "a long enough one", "role": "admin"},
        )  # fmt: skip
        assert forged.status_code == 403
