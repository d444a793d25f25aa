"""Admin HTTP API: every matrix cell on the admin path, immutability at the API and in
the database, filters and cursor pagination, auth, bad input, audit, invoice numbers."""

import asyncio
import re
from itertools import product

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from folio.ledger.domain.receivables import EntryType
from folio.ledger.service import receivables
from folio.ledger.service.receivables import CreateEntry

from .conftest import unique
from .test_payment_events import consumer, record, verified

STATUSES = ["DUE", "PENDING", "PAID", "FAILED", "REFUNDED", "VOID"]
SEED_MATRIX = {
    "DUE": {"PENDING", "PAID", "VOID"},
    "PENDING": {"PAID", "FAILED", "VOID"},
    "PAID": {"REFUNDED"},
    "FAILED": {"PENDING", "DUE", "VOID"},
    "REFUNDED": set(),
    "VOID": set(),
}


async def create(client, admin, **overrides):
    body = {"entry_type": "RENT", "amount_minor": 10_000, "currency": "SAR", **overrides}
    response = await client.post("/api/ledger/entries", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def set_status(client, admin, entry_id, status):
    return await client.post(
        f"/api/ledger/entries/{entry_id}/status", json={"status": status}, headers=admin
    )


async def entry_in(status, client, admin, uow_factory, journal_config):
    """An entry brought into ``status`` the legitimate way."""
    entry = await create(client, admin)
    path = {
        "DUE": [],
        "PENDING": ["PENDING"],
        "FAILED": ["PENDING", "FAILED"],
        "VOID": ["VOID"],
    }
    if status in path:
        for step in path[status]:
            assert (await set_status(client, admin, entry["entry_id"], step)).status_code == 200
    else:
        await consumer(uow_factory, journal_config).process(
            [record(verified(entry["invoice_number"]))]
        )
        if status == "REFUNDED":
            response = await client.post(
                f"/api/ledger/entries/{entry['entry_id']}/refunds",
                json={"amount_minor": 10_000, "reason": "full refund"},
                headers=admin,
            )
            assert response.status_code == 201, response.text
    got = (await client.get(f"/api/ledger/entries/{entry['entry_id']}", headers=admin)).json()
    assert got["status"] == status
    return got


@pytest.mark.parametrize(("current", "target"), list(product(STATUSES, STATUSES)))
async def test_admin_status_change_every_cell(
    current, target, client, admin, uow_factory, journal_config
):
    entry = await entry_in(current, client, admin, uow_factory, journal_config)
    response = await set_status(client, admin, entry["entry_id"], target)
    if target in {"PAID", "REFUNDED"}:
        expected = 403
    elif current in {"PAID", "REFUNDED"} or target not in SEED_MATRIX[current]:
        expected = 409
    else:
        expected = 200
    assert response.status_code == expected, response.text
    after = (await client.get(f"/api/ledger/entries/{entry['entry_id']}", headers=admin)).json()
    if expected == 200:
        assert after["status"] == target and after["version"] == entry["version"] + 1
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert after == entry  # a refused request changes nothing


@pytest.mark.parametrize("status", ["PAID", "REFUNDED"])
async def test_immutable_entries_refuse_edits_at_api_and_in_database(
    status, client, admin, uow_factory, journal_config
):
    entry = await entry_in(status, client, admin, uow_factory, journal_config)
    for body in ({"amount_minor": 1}, {"description": "x"}, {"due_date": "2027-01-01"}):
        response = await client.patch(
            f"/api/ledger/entries/{entry['entry_id']}", json=body, headers=admin
        )
        assert response.status_code == 409, response.text
        assert response.json()["type"] == "urn:folio:problem:entry-immutable"
    for sql in (
        "UPDATE entries SET amount_minor = 1 WHERE id = :id",
        "UPDATE entries SET description = 'tampered' WHERE id = :id",
        "UPDATE entries SET status = 'VOID' WHERE id = :id",
        "DELETE FROM entries WHERE id = :id",
    ):
        async with uow_factory() as uow:
            with pytest.raises(DBAPIError, match=r"immutable|cannot be deleted"):
                await uow.session.execute(text(sql), {"id": entry["entry_id"]})
    after = (await client.get(f"/api/ledger/entries/{entry['entry_id']}", headers=admin)).json()
    assert after == entry


async def test_database_refuses_edits_of_posted_journal_rows(
    client, admin, uow_factory, journal_config
):
    await entry_in("PAID", client, admin, uow_factory, journal_config)
    for sql in (
        "UPDATE transactions SET metadata = '{}'::jsonb",
        "DELETE FROM transactions",
        "UPDATE moves SET input = input + 1",
        "DELETE FROM payments",
        "TRUNCATE transactions CASCADE",
    ):
        async with uow_factory() as uow:
            with pytest.raises(DBAPIError, match="not allowed"):
                await uow.session.execute(text(sql))


async def test_database_refuses_transitions_outside_the_matrix(client, admin, uow_factory):
    entry = await create(client, admin)
    async with uow_factory() as uow:
        with pytest.raises(DBAPIError, match="not allowed"):
            await uow.session.execute(
                text("UPDATE entries SET status = 'FAILED' WHERE id = :id"),
                {"id": entry["entry_id"]},
            )


async def test_open_entry_edit_and_version_check(client, admin):
    entry = await create(client, admin)
    url = f"/api/ledger/entries/{entry['entry_id']}"
    ok = await client.patch(
        url, json={"amount_minor": 12_000, "expected_version": 1}, headers=admin
    )
    assert ok.status_code == 200 and ok.json()["amount_minor"] == 12_000
    stale = await client.patch(url, json={"description": "x", "expected_version": 1}, headers=admin)
    assert stale.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"entry_type": "RENT", "amount_minor": 100, "currency": "SAR", "status": "PAID"},
        {
            "entry_type": "RENT",
            "amount_minor": 100,
            "currency": "SAR",
            "invoice_number": "INV-2026-000001",
        },
        {"entry_type": "RENT", "amount_minor": 100.5, "currency": "SAR"},
        {"entry_type": "RENT", "amount_minor": "100", "currency": "SAR"},
        {"entry_type": "RENT", "amount_minor": 0, "currency": "SAR"},
        {"entry_type": "RENT", "amount_minor": 100, "currency": "XYZ"},
        {"entry_type": "REFUND", "amount_minor": 100, "currency": "SAR"},
        {"entry_type": "BOGUS", "amount_minor": 100, "currency": "SAR"},
        {"entry_type": "RENT", "amount_minor": 100, "currency": "SAR", "due_date": "tomorrow"},
    ],
)
async def test_bad_input_is_refused_with_problem_and_changes_nothing(
    body, client, admin, uow_factory
):
    async with uow_factory() as uow:
        before = (await uow.session.execute(text("SELECT count(*) FROM entries"))).scalar_one()
    response = await client.post("/api/ledger/entries", json=body, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    async with uow_factory() as uow:
        after = (await uow.session.execute(text("SELECT count(*) FROM entries"))).scalar_one()
    assert after == before


async def test_status_body_refuses_unknown_status_and_fields(client, admin):
    entry = await create(client, admin)
    url = f"/api/ledger/entries/{entry['entry_id']}/status"
    assert (await client.post(url, json={"status": "ARCHIVED"}, headers=admin)).status_code == 422
    extra = {"status": "VOID", "paid_minor": 5}
    assert (await client.post(url, json=extra, headers=admin)).status_code == 422
    missing = await client.post(
        "/api/ledger/entries/00000000-0000-0000-0000-000000000000/status",
        json={"status": "VOID"},
        headers=admin,
    )
    assert missing.status_code == 404


async def test_auth_deny_by_default(client, admin, viewer):
    entry = await create(client, admin)
    url = f"/api/ledger/entries/{entry['entry_id']}"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await client.get(url, headers=viewer)).status_code == 200
    body = {"entry_type": "RENT", "amount_minor": 1, "currency": "SAR"}
    assert (await client.post("/api/ledger/entries", json=body, headers=viewer)).status_code == 403
    assert (await client.post("/api/ledger/entries", json=body)).status_code == 401
    status = await client.post(f"{url}/status", json={"status": "VOID"}, headers=viewer)
    assert status.status_code == 403


async def test_adjustments_and_refunds_are_children(client, admin, uow_factory, journal_config):
    paid = await entry_in("PAID", client, admin, uow_factory, journal_config)
    url = f"/api/ledger/entries/{paid['entry_id']}"
    adjustment = await client.post(
        f"{url}/adjustments", json={"amount_minor": -1_500, "reason": "discount"}, headers=admin
    )
    assert adjustment.status_code == 201
    child = adjustment.json()
    assert child["entry_type"] == "ADJUSTMENT" and child["parent_entry_id"] == paid["entry_id"]
    assert re.fullmatch(r"INV-\d{4}-\d{6}", child["invoice_number"])
    too_much = await client.post(f"{url}/refunds", json={"amount_minor": 10_001}, headers=admin)
    assert too_much.status_code == 409
    partial = await client.post(f"{url}/refunds", json={"amount_minor": 2_500}, headers=admin)
    assert partial.status_code == 201
    assert partial.json()["parent"]["status"] == "PAID"
    assert partial.json()["parent"]["refunded_minor"] == 2_500
    children = await client.get(
        "/api/ledger/entries", params={"parent_entry_id": paid["entry_id"]}, headers=admin
    )
    assert [c["entry_type"] for c in children.json()["data"]] == ["ADJUSTMENT", "REFUND"]
    audit = (await client.get(f"{url}/audit", headers=admin)).json()["data"]
    assert [a["action"] for a in audit] == ["entry.create", "entry.adjustment", "entry.refund"]
    assert all(a["actor"] == "test-admin" for a in audit)
    async with uow_factory() as uow:
        with pytest.raises(DBAPIError, match="append-only"):
            await uow.session.execute(text("DELETE FROM audit_log"))


async def test_list_filters_and_cursor_pagination(client, admin):
    building = unique("bld")
    created = [
        await create(client, admin, building_id=building, unit_id=f"u{i % 2}", due_date=due)
        for i, due in enumerate(
            ["2020-01-01", "2020-06-01", "2099-01-01", "2099-06-01", "2099-07-01"]
        )
    ]
    await set_status(client, admin, created[1]["entry_id"], "VOID")
    seen, cursor = [], None
    while True:
        params = {"building_id": building, "page_size": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/ledger/entries", params=params, headers=admin)).json()
        seen += [e["entry_id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == [e["entry_id"] for e in created]

    async def ids(**params):
        response = await client.get(
            "/api/ledger/entries", params={"building_id": building, **params}, headers=admin
        )
        assert response.status_code == 200, response.text
        return [e["entry_id"] for e in response.json()["data"]]

    assert await ids(overdue="true") == [created[0]["entry_id"]]
    assert await ids(overdue="false") == [e["entry_id"] for e in created[1:]]
    assert await ids(status="VOID") == [created[1]["entry_id"]]
    assert await ids(unit_id="u1") == [created[1]["entry_id"], created[3]["entry_id"]]
    assert await ids(due_from="2099-01-01", due_to="2099-06-30") == [
        created[2]["entry_id"],
        created[3]["entry_id"],
    ]
    assert await ids(invoice_number=created[4]["invoice_number"]) == [created[4]["entry_id"]]
    assert await ids(entry_type="PENALTY") == []
    bad = await client.get("/api/ledger/entries", params={"cursor": "!!"}, headers=admin)
    assert bad.status_code == 422
    bad = await client.get("/api/ledger/entries", params={"status": "NOPE"}, headers=admin)
    assert bad.status_code == 422


async def test_200_concurrent_invoice_creations_are_unique_and_gap_free(uow_factory):
    async def one():
        for _ in range(5):
            try:
                async with uow_factory() as uow:
                    entry = await receivables.create_entry(
                        CreateEntry(
                            entry_type=EntryType.CLEANING, amount_minor=100, currency="SAR"
                        ),
                        uow,
                        actor="concurrency-test",
                    )
                    await uow.commit()
                    return entry.invoice_number
            except DBAPIError:
                await asyncio.sleep(0.01)
        raise AssertionError("creation kept failing")

    numbers = await asyncio.gather(*(one() for _ in range(200)))
    assert len(set(numbers)) == 200
    year = numbers[0][4:8]
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            text("SELECT invoice_number FROM entries WHERE invoice_number LIKE :p"),
            {"p": f"INV-{year}-%"},
        )
        sequences = sorted(int(n[0][-6:]) for n in rows)
    assert sequences == list(range(1, len(sequences) + 1))  # no gaps among committed invoices


async def test_rolled_back_creation_gives_its_number_back(uow_factory):
    async with uow_factory() as uow:
        lost = await receivables.create_entry(
            CreateEntry(entry_type=EntryType.RENT, amount_minor=100, currency="SAR"), uow, "t"
        )
        # no commit: rolled back on exit
    async with uow_factory() as uow:
        kept = await receivables.create_entry(
            CreateEntry(entry_type=EntryType.RENT, amount_minor=100, currency="SAR"), uow, "t"
        )
        await uow.commit()
    assert kept.invoice_number == lost.invoice_number


async def test_edit_cannot_settle_a_partly_paid_entry(client, admin, uow_factory, journal_config):
    entry = await create(client, admin)
    await consumer(uow_factory, journal_config).process(
        [record(verified(entry["invoice_number"], amount=4_000))]
    )
    url = f"/api/ledger/entries/{entry['entry_id']}"
    settle = await client.patch(url, json={"amount_minor": 4_000}, headers=admin)
    assert settle.status_code == 422  # only a verified payment may make it PAID
    lower = await client.patch(url, json={"amount_minor": 5_000}, headers=admin)
    assert lower.status_code == 200
    assert lower.json()["status"] == "DUE" and lower.json()["outstanding_minor"] == 1_000


async def test_other_methods_need_auth_first_and_entries_are_never_deleted(client, admin, viewer):
    entry = await create(client, admin)
    url = f"/api/ledger/entries/{entry['entry_id']}"
    for method, path in (("DELETE", url), ("PUT", url), ("DELETE", "/api/ledger/entries")):
        assert (await client.request(method, path)).status_code == 401
        assert (await client.request(method, path, headers=viewer)).status_code == 403
        assert (await client.request(method, path, headers=admin)).status_code == 405
    assert (await client.get(url, headers=admin)).json() == entry | {"overdue": False}
