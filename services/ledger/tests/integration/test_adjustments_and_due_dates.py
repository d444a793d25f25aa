"""Adjustments never make a charge owed below zero (or above the maximum), and
ADJUSTMENT/REFUND children take a due date of their own (issue 11, items 6 and 7)."""

import asyncio

import pytest

from .test_admin_api import create, set_status
from .test_admin_idempotency import paid_entry


async def adjust(client, admin, entry_id, amount, **extra):
    return await client.post(
        f"/api/ledger/entries/{entry_id}/adjustments",
        json={"amount_minor": amount, **extra},
        headers=admin,
    )


async def children(client, admin, entry_id):
    listed = await client.get(
        "/api/ledger/entries", headers=admin, params={"parent_entry_id": entry_id}
    )
    return listed.json()["data"]


async def test_a_credit_larger_than_the_charge_is_refused(client, admin):
    entry = await create(client, admin, amount_minor=600)
    huge = await adjust(client, admin, entry["entry_id"], -(10**15))
    assert huge.status_code == 422, huge.text
    assert huge.json()["type"] == "urn:folio:problem:adjustment-out-of-range"
    assert "0 at most" in huge.json()["detail"]
    assert (await adjust(client, admin, entry["entry_id"], -601)).status_code == 422
    assert await children(client, admin, entry["entry_id"]) == []
    # fees and credits add up: +400 then -1000 waives everything, one more unit does not
    assert (await adjust(client, admin, entry["entry_id"], 400)).status_code == 201
    assert (await adjust(client, admin, entry["entry_id"], -1000)).status_code == 201
    assert (await adjust(client, admin, entry["entry_id"], -1)).status_code == 422
    assert sorted(c["amount_minor"] for c in await children(client, admin, entry["entry_id"])) == [
        -1000,
        400,
    ]


async def test_amounts_are_bounded_to_the_maximum(client, admin):
    entry = await create(client, admin, amount_minor=10**15)
    beyond = await adjust(client, admin, entry["entry_id"], 10**15 + 1)
    assert beyond.status_code == 422  # the request model
    over = await adjust(client, admin, entry["entry_id"], 1)
    assert over.status_code == 422 and over.json()["code"] == "ADJUSTMENT_OUT_OF_RANGE"


async def test_edits_and_voids_keep_the_charge_in_range(client, admin):
    entry = await create(client, admin, amount_minor=600)
    fee = (await adjust(client, admin, entry["entry_id"], 400)).json()
    credit = (await adjust(client, admin, entry["entry_id"], -900)).json()
    deeper = await client.patch(
        f"/api/ledger/entries/{credit['entry_id']}", json={"amount_minor": -1001}, headers=admin
    )
    assert deeper.status_code == 422, deeper.text
    cheaper = await client.patch(
        f"/api/ledger/entries/{entry['entry_id']}", json={"amount_minor": 499}, headers=admin
    )
    assert cheaper.status_code == 422, cheaper.text
    voided_fee = await set_status(client, admin, fee["entry_id"], "VOID")
    assert voided_fee.status_code == 422, voided_fee.text
    # a smaller credit, then the fee can go
    smaller = await client.patch(
        f"/api/ledger/entries/{credit['entry_id']}", json={"amount_minor": -600}, headers=admin
    )
    assert smaller.status_code == 200, smaller.text
    assert (await set_status(client, admin, fee["entry_id"], "VOID")).status_code == 200


async def db_today(uow_factory):
    async with uow_factory() as uow:
        return (await uow.now()).date().isoformat()


async def test_a_late_fee_added_today_is_not_overdue(client, admin, uow_factory):
    entry = await create(client, admin, amount_minor=10_000, due_date="2020-01-01")
    before = await db_today(uow_factory)
    fee = await adjust(client, admin, entry["entry_id"], 2_500, reason="late fee")
    assert fee.status_code == 201, fee.text
    got = await client.get(f"/api/ledger/entries/{fee.json()['entry_id']}", headers=admin)
    overdue = await client.get(
        "/api/ledger/entries",
        headers=admin,
        params={"parent_entry_id": entry["entry_id"], "overdue": "true"},
    )
    after = await db_today(uow_factory)
    assert before <= fee.json()["due_date"] <= after  # the day it was added (database clock)
    if before == after:  # not across midnight: due today, so not overdue
        assert got.json()["overdue"] is False
        assert overdue.json()["data"] == []
    parent = await client.get(f"/api/ledger/entries/{entry['entry_id']}", headers=admin)
    assert parent.json()["overdue"] is True


async def test_an_adjustment_is_due_when_it_says(client, admin):
    entry = await create(client, admin, amount_minor=10_000, due_date="2030-01-01")
    default = await adjust(client, admin, entry["entry_id"], 100)
    assert default.json()["due_date"] == "2030-01-01"  # with its parent when that is ahead
    told = await adjust(client, admin, entry["entry_id"], 100, due_date="2029-06-30")
    assert told.status_code == 201 and told.json()["due_date"] == "2029-06-30"
    past = await adjust(client, admin, entry["entry_id"], 100, due_date="2021-03-01")
    assert past.json()["due_date"] == "2021-03-01"
    got = await client.get(f"/api/ledger/entries/{past.json()['entry_id']}", headers=admin)
    assert got.json()["overdue"] is True


async def test_a_refund_keeps_its_parents_due_date_unless_told(
    client, admin, uow_factory, journal_config
):
    entry = await paid_entry(client, admin, uow_factory, journal_config)
    # paid_entry creates without a due date; give the refund one explicitly
    path = f"/api/ledger/entries/{entry['entry_id']}/refunds"
    told = await client.post(
        path, json={"amount_minor": 1_000, "due_date": "2026-12-31"}, headers=admin
    )
    assert told.status_code == 201, told.text
    assert told.json()["refund"]["due_date"] == "2026-12-31"
    plain = await client.post(path, json={"amount_minor": 1_000}, headers=admin)
    assert plain.json()["refund"]["due_date"] == entry["due_date"]


@pytest.mark.parametrize(
    "due_date",
    [0, 1_700_000_000, "0", "2026-13-01", "2026-02-30", "2026-01-01T00:00:00", "0000-01-01",
     "10000-01-01", "26-01-01", True, "2026/01/01"],
)  # fmt: skip
@pytest.mark.parametrize("route", ["create", "adjustment", "refund", "edit"])
async def test_due_dates_are_strict_calendar_dates(client, admin, route, due_date):
    entry = await create(client, admin)
    path, body = {
        "create": ("/api/ledger/entries", {"entry_type": "RENT", "amount_minor": 1, "currency": "SAR"}),
        "adjustment": (f"/api/ledger/entries/{entry['entry_id']}/adjustments", {"amount_minor": 1}),
        "refund": (f"/api/ledger/entries/{entry['entry_id']}/refunds", {"amount_minor": 1}),
        "edit": (f"/api/ledger/entries/{entry['entry_id']}", {}),
    }[route]  # fmt: skip
    send = client.patch if route == "edit" else client.post
    response = await send(path, json={**body, "due_date": due_date}, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:folio:problem:validation-error"
    after = (await client.get(f"/api/ledger/entries/{entry['entry_id']}", headers=admin)).json()
    assert after["version"] == entry["version"] and after["due_date"] is None
    assert await children(client, admin, entry["entry_id"]) == []


async def test_concurrent_credits_never_take_the_charge_below_zero(client, admin):
    entry = await create(client, admin, amount_minor=600)
    responses = await asyncio.gather(
        *(adjust(client, admin, entry["entry_id"], -100) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [201] * 6 + [422] * 4
    assert {r.json()["type"] for r in responses if r.status_code == 422} == {
        "urn:folio:problem:adjustment-out-of-range"
    }
    assert sum(c["amount_minor"] for c in await children(client, admin, entry["entry_id"])) == -600
