"""Renewals through the real consumer logic on the real database (no broker here;
tests/e2e drives the same flow through Kafka and the ledger)."""

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from folio.shared.contracts import ScheduleLinked

from .helpers import (
    entry_changed,
    envelope_of,
    outbox_events,
    record_of,
    registry_consumer,
    scalar,
)

PREFIX = "/api/registry"


def riyadh_today() -> date:
    return datetime.now(ZoneInfo("Asia/Riyadh")).date()


@pytest.fixture
def make_booking(client, admin):
    async def make(unit: dict, *, ends_in_days: int = 5, max_renewals: int = 2, **extra) -> dict:
        today = riyadh_today()
        body = {
            "unit_id": unit["id"],
            "guest_name": "Noura",
            "start_date": (today - timedelta(days=20)).isoformat(),
            "end_date": (today + timedelta(days=ends_in_days)).isoformat(),
            "max_renewals": max_renewals,
            "renewal_window_days": 14,
        } | extra
        response = await client.post(f"{PREFIX}/bookings", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()

    return make


async def test_local_renewal_request_invoice_paid_activates_once(
    client, admin, make_building, make_unit, make_booking, uow_factory
):
    building = await make_building()
    unit = await make_unit(building, monthly_base_rent_minor=450_000)
    booking = await make_booking(unit)
    eligibility = await client.get(
        f"{PREFIX}/bookings/{booking['id']}/renewal-eligibility", headers=admin
    )
    assert eligibility.json()["eligible"] is True

    response = await client.post(
        f"{PREFIX}/bookings/{booking['id']}/extensions", json={"months": 1}, headers=admin
    )
    assert response.status_code == 201, response.text
    extension = response.json()
    assert extension["status"] == "PAYMENT_PENDING"
    assert extension["requires_beds24_update"] is False
    assert extension["amount_minor"] == 450_000
    requested = await outbox_events(uow_factory, "renewal.requested", extension["id"])
    assert len(requested) == 1
    assert requested[0]["data"]["booking_id"] == booking["id"]
    assert requested[0]["data"]["amount_minor"] == 450_000
    assert requested[0]["data"]["new_end_date"] == extension["new_end_date"]

    consumer = registry_consumer(uow_factory)
    entry_id = str(uuid.uuid4())
    common = {
        "entry_id": entry_id,
        "entry_type": "RENEWAL_RENT",
        "extension_id": extension["id"],
        "building_id": building["id"],
        "unit_id": unit["id"],
    }
    await consumer.process(
        [record_of(envelope_of(entry_changed(status="DUE", version=1, **common)))]
    )
    invoiced = (await client.get(f"{PREFIX}/extensions/{extension['id']}", headers=admin)).json()
    assert (invoiced["status"], invoiced["ledger_entry_id"]) == ("PAYMENT_PENDING", entry_id)

    paid = envelope_of(entry_changed(status="PAID", version=2, paid_at=datetime.now(UTC), **common))
    await consumer.process([record_of(paid)])
    await consumer.process([record_of(paid)])  # redelivery: inbox no-op
    replay = envelope_of(
        entry_changed(status="PAID", version=2, paid_at=datetime.now(UTC), **common)
    )
    await consumer.process([record_of(replay)])  # same state, new event id: still one effect

    active = (await client.get(f"{PREFIX}/extensions/{extension['id']}", headers=admin)).json()
    assert active["status"] == "ACTIVE"
    extended = (await client.get(f"{PREFIX}/bookings/{booking['id']}", headers=admin)).json()
    assert extended["end_date"] == extension["new_end_date"]
    assert extended["renewals_used"] == 1
    events = await outbox_events(uow_factory, "booking.extended", booking["id"])
    assert len(events) == 1
    assert events[0]["data"]["renewals_used"] == 1
    assert events[0]["data"]["previous_end_date"] == booking["end_date"]


async def test_renewal_outside_the_window_is_refused_and_changes_nothing(
    client, admin, make_building, make_unit, make_booking, uow_factory
):
    unit = await make_unit(await make_building())
    booking = await make_booking(unit, ends_in_days=30)
    response = await client.post(f"{PREFIX}/bookings/{booking['id']}/extensions", headers=admin)
    assert response.status_code == 409
    body = response.json()
    assert body["type"] == "urn:folio:problem:renewal-not-eligible"
    assert body["reasons"] == ["BEFORE_RENEWAL_WINDOW"]
    assert (
        await scalar(
            uow_factory,
            "SELECT count(*) FROM booking_extensions WHERE booking_id = :b",
            b=uuid.UUID(booking["id"]),
        )
        == 0
    )
    no_renewals = await make_booking(await make_unit(await make_building()), max_renewals=0)
    refused = await client.post(f"{PREFIX}/bookings/{no_renewals['id']}/extensions", headers=admin)
    assert refused.json()["reasons"] == ["NO_RENEWALS_LEFT"]


async def test_beds24_unit_needs_a_change_note_and_sends_nothing(
    client, admin, make_building, make_unit, make_booking, uow_factory
):
    building = await make_building()
    unit = await make_unit(building)
    mapped = await client.put(
        f"{PREFIX}/units/{unit['id']}/beds24-map",
        json={
            "beds24_property_id": uuid.uuid4().int % 10**9 + 1,
            "beds24_room_id": 3,
            "source_of_truth": "BEDS24",
        },
        headers=admin,
    )
    assert mapped.status_code == 200
    booking = await make_booking(unit)
    response = await client.post(f"{PREFIX}/bookings/{booking['id']}/extensions", headers=admin)
    extension = response.json()
    assert (extension["status"], extension["requires_beds24_update"]) == ("PENDING_APPROVAL", True)
    assert await outbox_events(uow_factory, "renewal.requested", extension["id"]) == []

    for body in ({}, {"beds24_change_note": ""}, {"beds24_change_note": "   "}):
        refused = await client.post(
            f"{PREFIX}/extensions/{extension['id']}/approve", json=body, headers=admin
        )
        assert refused.status_code == 422, body
        assert refused.json()["type"] == "urn:folio:problem:beds24-change-note-required"
    unchanged = (await client.get(f"{PREFIX}/extensions/{extension['id']}", headers=admin)).json()
    assert unchanged["status"] == "PENDING_APPROVAL"

    note = "Extended Beds24 booking 98765 to the new end date by hand"
    approved = await client.post(
        f"{PREFIX}/extensions/{extension['id']}/approve",
        json={"beds24_change_note": note},
        headers=admin,
    )
    assert approved.status_code == 200
    assert (approved.json()["status"], approved.json()["beds24_change_note"]) == ("ACTIVE", note)
    booking_after = (await client.get(f"{PREFIX}/bookings/{booking['id']}", headers=admin)).json()
    assert booking_after["end_date"] == extension["new_end_date"]
    assert booking_after["renewals_used"] == 1
    assert len(await outbox_events(uow_factory, "booking.extended", booking["id"])) == 1
    again = await client.post(
        f"{PREFIX}/extensions/{extension['id']}/approve",
        json={"beds24_change_note": note},
        headers=admin,
    )
    assert again.status_code == 409


async def test_reject_cancel_and_one_open_extension_per_booking(
    client, admin, make_building, make_unit, make_booking, uow_factory
):
    unit = await make_unit(await make_building())
    booking = await make_booking(unit)
    first = (
        await client.post(f"{PREFIX}/bookings/{booking['id']}/extensions", headers=admin)
    ).json()
    second = await client.post(f"{PREFIX}/bookings/{booking['id']}/extensions", headers=admin)
    assert second.status_code == 409
    assert second.json()["reasons"] == ["EXTENSION_ALREADY_OPEN"]
    # A LOCAL extension is not rejected (no approval step) but can be cancelled.
    assert (
        await client.post(f"{PREFIX}/extensions/{first['id']}/reject", headers=admin)
    ).status_code == 409
    cancelled = await client.post(
        f"{PREFIX}/extensions/{first['id']}/cancel",
        json={"reason": "tenant moving out"},
        headers=admin,
    )
    assert cancelled.json()["status"] == "CANCELLED"
    # Money that arrives for the cancelled renewal is flagged, the booking is not extended.
    consumer = registry_consumer(uow_factory)
    await consumer.process(
        [
            record_of(
                envelope_of(
                    entry_changed(
                        entry_id=str(uuid.uuid4()),
                        status="PAID",
                        version=2,
                        entry_type="RENEWAL_RENT",
                        extension_id=first["id"],
                        paid_at=datetime.now(UTC),
                    )
                )
            )
        ]
    )
    flagged = (await client.get(f"{PREFIX}/extensions/{first['id']}", headers=admin)).json()
    assert (flagged["status"], flagged["paid_after_cancellation"]) == ("CANCELLED", True)
    unchanged = (await client.get(f"{PREFIX}/bookings/{booking['id']}", headers=admin)).json()
    assert unchanged["end_date"] == booking["end_date"] and unchanged["renewals_used"] == 0
    # After the cancellation a new request is possible again.
    again = await client.post(f"{PREFIX}/bookings/{booking['id']}/extensions", headers=admin)
    assert again.status_code == 201


async def test_schedule_linked_sets_the_mortgage_schedule_and_emits_its_state(
    client, admin, uow_factory
):
    created = await client.post(
        f"{PREFIX}/mortgages",
        json={"borrower_name": "Maple Holdings", "principal_minor": 25_000_000, "currency": "CAD"},
        headers=admin,
    )
    assert created.status_code == 201
    mortgage = created.json()
    schedule_id = uuid.uuid4().int % 10**8
    linked = envelope_of(
        ScheduleLinked(
            mortgage_id=mortgage["id"],
            schedule_id=schedule_id,
            linked_by="finance-1",
            linked_at=datetime.now(UTC),
        )
    )
    consumer = registry_consumer(uow_factory)
    await consumer.process([record_of(linked)])
    await consumer.process([record_of(linked)])
    after = (await client.get(f"{PREFIX}/mortgages/{mortgage['id']}", headers=admin)).json()
    assert (after["rotessa_schedule_id"], after["version"]) == (schedule_id, 2)
    changes = await outbox_events(uow_factory, "mortgage.changed", mortgage["id"])
    assert [e["data"]["version"] for e in changes] == [1, 2]
    assert changes[1]["data"]["rotessa_schedule_id"] == schedule_id
    unlinked = await client.get(
        f"{PREFIX}/mortgages", params={"linked": "false", "limit": 500}, headers=admin
    )
    assert mortgage["id"] not in [m["id"] for m in unlinked.json()["data"]]


async def test_renewal_entry_for_an_unknown_extension_is_recorded_but_changes_no_extension(
    uow_factory,
):
    entry_id = str(uuid.uuid4())
    envelope = envelope_of(
        entry_changed(
            entry_id=entry_id,
            status="PAID",
            version=2,
            entry_type="RENEWAL_RENT",
            extension_id=str(uuid.uuid4()),
            paid_at=datetime.now(UTC),
        )
    )
    await registry_consumer(uow_factory).process([record_of(envelope)])
    assert (
        await scalar(uow_factory, "SELECT status FROM kpi_entries WHERE entry_id = :e", e=entry_id)
        == "PAID"
    )
    # Processed (inbox) rather than retried into the dead-letter table.
    assert (
        await scalar(
            uow_factory,
            "SELECT count(*) FROM processed_messages WHERE event_id = :e",
            e=envelope.event_id,
        )
        == 1
    )
    assert (
        await scalar(
            uow_factory,
            "SELECT count(*) FROM dead_letters WHERE event_id = :e",
            e=envelope.event_id,
        )
        == 0
    )
