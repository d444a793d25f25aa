"""Idempotency-Key on the admin API's money-changing routes, and concurrent money
changes of one entry serialised on its row lock (issue 11, items 3 and 4)."""

import asyncio
import uuid

import pytest
from sqlalchemy import text

from .conftest import unique
from .test_admin_api import create
from .test_payment_events import consumer, record, verified

ROUTES = [
    ("post", "/api/ledger/entries"),
    ("patch", "/api/ledger/entries/{entry_id}"),
    ("post", "/api/ledger/entries/{entry_id}/status"),
    ("post", "/api/ledger/entries/{entry_id}/adjustments"),
    ("post", "/api/ledger/entries/{entry_id}/refunds"),
]


def keyed(admin, key):
    return {**admin, "Idempotency-Key": key}


async def count_entries(uow_factory, description):
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            text("SELECT count(*) FROM entries WHERE description = :d"), {"d": description}
        )
        return rows.scalar_one()


async def paid_entry(client, admin, uow_factory, journal_config, amount=10_000):
    entry = await create(client, admin, amount_minor=amount)
    await consumer(uow_factory, journal_config).process(
        [record(verified(entry["invoice_number"], amount=amount))]
    )
    return entry


async def refunds_of(client, admin, entry_id):
    listed = await client.get(
        "/api/ledger/entries", headers=admin, params={"parent_entry_id": entry_id}
    )
    return [e for e in listed.json()["data"] if e["entry_type"] == "REFUND"]


async def test_concurrent_creates_with_one_key_make_one_invoice(client, admin, uow_factory):
    description = unique("idem-create")
    body = {"entry_type": "RENT", "amount_minor": 12_345, "currency": "SAR"}
    body["description"] = description
    headers = keyed(admin, unique("key"))
    responses = await asyncio.gather(
        *(client.post("/api/ledger/entries", json=body, headers=headers) for _ in range(50))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    hits = [r for r in responses if r.headers.get("Idempotency-Hit") == "true"]
    assert len(hits) == 49
    assert len({r.json()["entry_id"] for r in responses}) == 1
    assert all(r.json() == responses[0].json() for r in responses)
    assert await count_entries(uow_factory, description) == 1


async def test_refund_retried_with_its_key_refunds_once(client, admin, uow_factory, journal_config):
    entry = await paid_entry(client, admin, uow_factory, journal_config)
    path = f"/api/ledger/entries/{entry['entry_id']}/refunds"
    headers = keyed(admin, unique("key"))
    first = await client.post(path, json={"amount_minor": 3_000}, headers=headers)
    again = await client.post(path, json={"amount_minor": 3_000}, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert "Idempotency-Hit" not in first.headers
    assert again.headers["Idempotency-Hit"] == "true"
    assert again.json() == first.json()
    assert [r["amount_minor"] for r in await refunds_of(client, admin, entry["entry_id"])] == [
        3_000
    ]
    # retried concurrently with one new key: one more refund, the others replay it
    headers = keyed(admin, unique("key"))
    burst = await asyncio.gather(
        *(client.post(path, json={"amount_minor": 1_000}, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in burst} == {201}
    assert sum(r.headers.get("Idempotency-Hit") == "true" for r in burst) == 9
    assert len(await refunds_of(client, admin, entry["entry_id"])) == 2
    # without a key, a second identical refund is a second refund (the key is what says
    # "this is the same request")
    assert (await client.post(path, json={"amount_minor": 3_000}, headers=admin)).status_code == 201
    assert len(await refunds_of(client, admin, entry["entry_id"])) == 3


async def test_same_key_with_another_body_is_refused_and_changes_nothing(client, admin):
    entry = await create(client, admin)
    path = f"/api/ledger/entries/{entry['entry_id']}/adjustments"
    headers = keyed(admin, unique("key"))
    first = await client.post(path, json={"amount_minor": 500}, headers=headers)
    assert first.status_code == 201
    other = await client.post(path, json={"amount_minor": 700}, headers=headers)
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["type"] == "urn:folio:problem:idempotency-key-reused"
    # the same key on another entry (another path) is another request, refused too
    second = await create(client, admin)
    elsewhere = await client.post(
        f"/api/ledger/entries/{second['entry_id']}/adjustments",
        json={"amount_minor": 500},
        headers=headers,
    )
    assert elsewhere.status_code == 409
    children = await client.get(
        "/api/ledger/entries", headers=admin, params={"parent_entry_id": entry["entry_id"]}
    )
    assert [c["amount_minor"] for c in children.json()["data"]] == [500]
    untouched = await client.get(
        "/api/ledger/entries", headers=admin, params={"parent_entry_id": second["entry_id"]}
    )
    assert untouched.json()["data"] == []


async def test_a_refused_request_does_not_use_its_key_up(
    client, admin, uow_factory, journal_config
):
    entry = await paid_entry(client, admin, uow_factory, journal_config)
    path = f"/api/ledger/entries/{entry['entry_id']}/refunds"
    headers = keyed(admin, unique("key"))
    refused = await client.post(path, json={"amount_minor": 10_001}, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:folio:problem:refund-exceeds-paid"
    fixed = await client.post(path, json={"amount_minor": 10_000}, headers=headers)
    assert fixed.status_code == 201 and "Idempotency-Hit" not in fixed.headers
    assert fixed.json()["parent"]["status"] == "REFUNDED"


async def test_status_change_replays_its_first_answer(client, admin):
    entry = await create(client, admin)
    path = f"/api/ledger/entries/{entry['entry_id']}/status"
    headers = keyed(admin, unique("key"))
    first = await client.post(path, json={"status": "PENDING"}, headers=headers)
    assert first.status_code == 200
    # PENDING → PENDING would be refused; the retry answers the first result instead
    again = await client.post(path, json={"status": "PENDING"}, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotency-Hit"] == "true"
    assert again.json() == first.json()
    got = await client.get(f"/api/ledger/entries/{entry['entry_id']}", headers=admin)
    assert got.json()["version"] == first.json()["version"]


async def test_keys_are_scoped_to_the_caller(client, admin, ledger_settings):
    from folio.devstack.testing import admin_headers

    other = admin_headers(ledger_settings, roles=("finance",), subject="someone-else")
    key = unique("key")
    body = {"entry_type": "RENT", "amount_minor": 1_000, "currency": "SAR"}
    mine = await client.post("/api/ledger/entries", json=body, headers=keyed(admin, key))
    theirs = await client.post("/api/ledger/entries", json=body, headers=keyed(other, key))
    assert mine.status_code == 201
    assert theirs.status_code == 409  # never someone else's answer


@pytest.mark.parametrize(
    ("key", "status"), [("k" * 255, 201), ("k" * 256, 400), ("", 400), ("é", 400)]
)
async def test_key_length_and_characters_are_bounded(client, admin, key, status):
    body = {"entry_type": "RENT", "amount_minor": 1_000, "currency": "SAR"}
    if key == "k" * 255:
        key = ("k" * 255)[: 255 - 12] + uuid.uuid4().hex[:12]  # unique per run
    headers = {**admin, "Idempotency-Key": key.encode()}  # bytes: httpx sends them as they are
    response = await client.post("/api/ledger/entries", json=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["type"] == "urn:folio:problem:invalid-idempotency-key"


async def test_every_money_route_documents_the_header(client):
    spec = (await client.get("/api/ledger/openapi.json")).json()
    for method, path in ROUTES:
        operation = spec["paths"][path][method]
        [header] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header" and not header.get("required", False)
        assert "Idempotency-Hit" in header["description"]
        assert header["schema"]["maxLength"] == 255


async def test_concurrent_refunds_serialise_on_the_entry(
    client, admin, uow_factory, journal_config
):
    entry = await paid_entry(client, admin, uow_factory, journal_config, amount=20_000)
    path = f"/api/ledger/entries/{entry['entry_id']}/refunds"
    responses = await asyncio.gather(
        *(client.post(path, json={"amount_minor": 2_000}, headers=admin) for _ in range(15))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [409] * 5, [r.text for r in responses]
    assert {r.json()["type"] for r in responses if r.status_code == 409} == {
        "urn:folio:problem:refund-exceeds-paid"
    }
    got = (await client.get(f"/api/ledger/entries/{entry['entry_id']}", headers=admin)).json()
    assert got["refunded_minor"] == got["paid_minor"] == 20_000
    assert got["status"] == "REFUNDED"
    assert sum(r["amount_minor"] for r in await refunds_of(client, admin, entry["entry_id"])) == (
        20_000
    )


async def test_admin_units_of_work_rerun_after_a_deadlock_then_answer_409(app):
    from types import SimpleNamespace

    from folio.ledger.entrypoints.api import in_unit_of_work
    from folio.shared.problems import Problem

    deadlock = text("DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$")
    calls = 0

    async def loses_once(uow):
        nonlocal calls
        calls += 1
        if calls == 1:
            await uow.session.execute(deadlock)
        return calls

    request = SimpleNamespace(app=app)
    assert await in_unit_of_work(request, loses_once) == 2

    async def always_loses(uow):
        await uow.session.execute(deadlock)

    with pytest.raises(Problem) as refused:
        await in_unit_of_work(request, always_loses)
    assert refused.value.status == 409 and refused.value.kind == "concurrent-update"
