"""Money fields of every registry request refuse "100", 10.0, true and 2**63: 422,
and nothing is stored (no row, no version bump, no event)."""

import uuid
from datetime import date, timedelta

import pytest

from .helpers import scalar

PREFIX = "/api/registry"
NOT_MONEY = ["100", 10.0, True, 2**63]


@pytest.fixture
async def booking(client, admin, make_building, make_unit):
    unit = await make_unit(await make_building())
    made = await client.post(
        f"{PREFIX}/bookings",
        json={
            "unit_id": unit["id"],
            "guest_name": "Strict",
            # Ends in 5 days: inside its 14-day renewal window whatever today is
            # (Riyadh's date is never more than a day from the host's).
            "start_date": (date.today() - timedelta(days=30)).isoformat(),
            "end_date": (date.today() + timedelta(days=5)).isoformat(),
            "max_renewals": 1,
        },
        headers=admin,
    )
    assert made.status_code == 201
    return made.json()


@pytest.mark.parametrize("value", NOT_MONEY, ids=repr)
async def test_unit_rent_is_a_strict_integer(
    client, admin, make_building, make_unit, uow_factory, value
):
    building = await make_building()
    created = await client.post(
        f"{PREFIX}/units",
        json={"building_id": building["id"], "code": "S1", "monthly_base_rent_minor": value},
        headers=admin,
    )
    assert created.status_code == 422, created.text
    count = "SELECT count(*) FROM units WHERE building_id = :b"
    assert await scalar(uow_factory, count, b=uuid.UUID(building["id"])) == 0
    unit = await make_unit(building, monthly_base_rent_minor=700)
    patched = await client.patch(
        f"{PREFIX}/units/{unit['id']}", json={"monthly_base_rent_minor": value}, headers=admin
    )
    assert patched.status_code == 422, patched.text
    row = "SELECT monthly_base_rent_minor || '/' || version FROM units WHERE id = :u"
    assert await scalar(uow_factory, row, u=uuid.UUID(unit["id"])) == "700/1"


@pytest.mark.parametrize("value", NOT_MONEY, ids=repr)
async def test_mortgage_principal_is_a_strict_integer(client, admin, uow_factory, value):
    borrower = "Strict " + uuid.uuid4().hex
    created = await client.post(
        f"{PREFIX}/mortgages",
        json={"borrower_name": borrower, "principal_minor": value, "currency": "CAD"},
        headers=admin,
    )
    assert created.status_code == 422, created.text
    count = "SELECT count(*) FROM mortgages WHERE borrower_name = :n"
    assert await scalar(uow_factory, count, n=borrower) == 0
    mortgage = (
        await client.post(
            f"{PREFIX}/mortgages",
            json={"borrower_name": borrower, "principal_minor": 900, "currency": "CAD"},
            headers=admin,
        )
    ).json()
    patched = await client.patch(
        f"{PREFIX}/mortgages/{mortgage['id']}", json={"principal_minor": value}, headers=admin
    )
    assert patched.status_code == 422, patched.text
    row = "SELECT principal_minor || '/' || version FROM mortgages WHERE id = :m"
    assert await scalar(uow_factory, row, m=uuid.UUID(mortgage["id"])) == "900/1"
    events = "SELECT count(*) FROM outbox WHERE topic = 'mortgage.changed' AND key = :k"
    assert await scalar(uow_factory, events, k=mortgage["id"]) == 1  # the creation only


@pytest.mark.parametrize("value", NOT_MONEY, ids=repr)
async def test_renewal_amount_is_a_strict_integer(client, admin, booking, uow_factory, value):
    refused = await client.post(
        f"{PREFIX}/bookings/{booking['id']}/extensions",
        json={"amount_minor": value},
        headers=admin,
    )
    assert refused.status_code == 422, refused.text
    count = "SELECT count(*) FROM booking_extensions WHERE booking_id = :b"
    assert await scalar(uow_factory, count, b=uuid.UUID(booking["id"])) == 0
    accepted = await client.post(
        f"{PREFIX}/bookings/{booking['id']}/extensions", json={"amount_minor": 100}, headers=admin
    )
    assert accepted.status_code == 201, accepted.text  # the same request with an integer
