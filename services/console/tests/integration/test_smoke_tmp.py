import pytest

from folio.console.domain.users import Role
from folio.console.testing import PASSWORD, console_client, create_entries, sign_in

pytestmark = pytest.mark.integration


async def test_smoke(console_app, make_user, ledger_server):
    user = await make_user(Role.ADMIN)
    entries = create_entries(ledger_server.url, 3)
    async with console_client(console_app) as client:
        r = await sign_in(client, user.email, PASSWORD)
        assert r.status_code == 303, r.text
        page = await client.get(
            "/admin/payments", params={"building_id": entries[0]["building_id"]}
        )
        assert page.status_code == 200, page.text
        print(page.text[:3000])
        e = await client.get(f"/admin/payments/{entries[0]['entry_id']}")
        assert e.status_code == 200, e.text
        u = await client.get("/admin/users")
        assert u.status_code == 200, u.text
