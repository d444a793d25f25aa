"""Bookings and mortgages through the admin API: rules, refusals that change nothing,
and mortgage.changed carrying the full state after every change."""

import uuid

from .helpers import outbox_events, scalar

PREFIX = "/api/registry"


async def test_booking_rules(client, admin, make_building, make_unit, uow_factory):
    unit = await make_unit(await make_building())
    body = {
        "unit_id": unit["id"],
        "guest_name": "Omar",
        "start_date": "2026-05-01",
        "end_date": "2026-06-01",
        "max_renewals": 2,
    }
    first = await client.post(f"{PREFIX}/bookings", json=body, headers=admin)
    assert first.status_code == 201
    created = first.json()
    assert (created["renewals_used"], created["source"], created["status"]) == (
        0,
        "LOCAL",
        "CONFIRMED",
    )
    overlap = await client.post(
        f"{PREFIX}/bookings",
        json=body | {"start_date": "2026-05-20", "end_date": "2026-06-10"},
        headers=admin,
    )
    assert overlap.status_code == 409
    assert overlap.json()["type"] == "urn:folio:problem:booking-overlap"
    back_to_back = await client.post(
        f"{PREFIX}/bookings",
        json=body | {"start_date": "2026-06-01", "end_date": "2026-06-05"},
        headers=admin,
    )
    assert back_to_back.status_code == 201  # check-out day is free for the next guest
    count_before = await scalar(
        uow_factory, "SELECT count(*) FROM bookings WHERE unit_id = :u", u=uuid.UUID(unit["id"])
    )
    for bad in (
        body | {"end_date": "2026-05-01"},  # not after start
        body | {"renewals_used": 3},  # read-only field
        body | {"max_renewals": -1},
        body | {"unit_id": "not-a-uuid"},
        body | {"unit_id": str(uuid.uuid4())},
        body | {"source": "AIRBNB"},
    ):
        response = await client.post(f"{PREFIX}/bookings", json=bad, headers=admin)
        assert response.status_code == 422, bad
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (
        await scalar(
            uow_factory, "SELECT count(*) FROM bookings WHERE unit_id = :u", u=uuid.UUID(unit["id"])
        )
        == count_before
    )
    cancelled = await client.post(f"{PREFIX}/bookings/{created['id']}/cancel", headers=admin)
    assert cancelled.json()["status"] == "CANCELLED"
    assert (
        await client.post(f"{PREFIX}/bookings/{created['id']}/cancel", headers=admin)
    ).status_code == 409
    duplicate_beds24 = body | {
        "start_date": "2027-01-01",
        "end_date": "2027-01-05",
        "source": "BEDS24",
        "beds24_booking_id": 424242 + uuid.uuid4().int % 10**6,
    }
    assert (
        await client.post(f"{PREFIX}/bookings", json=duplicate_beds24, headers=admin)
    ).status_code == 201
    again = duplicate_beds24 | {"start_date": "2027-02-01", "end_date": "2027-02-05"}
    assert (await client.post(f"{PREFIX}/bookings", json=again, headers=admin)).status_code == 409


async def test_renewal_request_validation(client, admin, make_building, make_unit):
    unit = await make_unit(await make_building())
    booking = (
        await client.post(
            f"{PREFIX}/bookings",
            json={
                "unit_id": unit["id"],
                "guest_name": "A",
                "start_date": "2020-01-01",
                "end_date": "2020-02-01",
                "max_renewals": 1,
            },
            headers=admin,
        )
    ).json()
    for bad in ({"months": 0}, {"months": 25}, {"amount_minor": 0}, {"status": "ACTIVE"}):
        response = await client.post(
            f"{PREFIX}/bookings/{booking['id']}/extensions", json=bad, headers=admin
        )
        assert response.status_code == 422, bad
    ended = await client.post(f"{PREFIX}/bookings/{booking['id']}/extensions", headers=admin)
    assert ended.status_code == 409
    assert ended.json()["reasons"] == ["BOOKING_ENDED"]


async def test_mortgage_changes_emit_full_state(client, admin, uow_factory):
    created = await client.post(
        f"{PREFIX}/mortgages",
        json={
            "borrower_name": "Cedar Family Trust",
            "principal_minor": 48_000_000,
            "currency": "CAD",
        },
        headers=admin,
    )
    assert created.status_code == 201
    mortgage = created.json()
    for bad in (
        {"principal_minor": -1},
        {"status": "GONE"},
        {"rotessa_schedule_id": 5},
        {"version": 9},
    ):
        response = await client.patch(
            f"{PREFIX}/mortgages/{mortgage['id']}", json=bad, headers=admin
        )
        assert response.status_code == 422, bad
    patched = await client.patch(
        f"{PREFIX}/mortgages/{mortgage['id']}", json={"status": "PAID_OFF"}, headers=admin
    )
    assert (patched.json()["status"], patched.json()["version"]) == ("PAID_OFF", 2)
    events = await outbox_events(uow_factory, "mortgage.changed", mortgage["id"])
    assert [(e["data"]["status"], e["data"]["version"]) for e in events] == [
        ("ACTIVE", 1),
        ("PAID_OFF", 2),
    ]
    assert events[0]["data"]["principal_minor"] == 48_000_000
    assert events[0]["producer"] == "registry"
    found = await client.get(f"{PREFIX}/mortgages", params={"q": "cedar family"}, headers=admin)
    assert mortgage["id"] in [m["id"] for m in found.json()["data"]]


async def test_blocked_and_maintenance_units_refuse_bookings(
    client, admin, make_building, make_unit, uow_factory
):
    """Seed §5: BLOCKED and MAINTENANCE units are out of the rentable stock: 409, nothing kept."""
    building = await make_building()
    for status in ("BLOCKED", "MAINTENANCE"):
        unit = await make_unit(building, status=status)
        body = {
            "unit_id": unit["id"],
            "guest_name": "Noor",
            "start_date": "2026-05-01",
            "end_date": "2026-06-01",
        }
        for source in ("LOCAL", "BEDS24"):
            refused = await client.post(
                f"{PREFIX}/bookings", json=body | {"source": source}, headers=admin
            )
            assert refused.status_code == 409, refused.text
            problem = refused.json()
            assert problem["type"] == "urn:folio:problem:unit-not-bookable"
            assert status in problem["detail"]
        assert (
            await scalar(
                uow_factory,
                "SELECT count(*) FROM bookings WHERE unit_id = :u",
                u=uuid.UUID(unit["id"]),
            )
            == 0
        )
        # Once AVAILABLE again, the same booking is accepted.
        reopened = await client.patch(
            f"{PREFIX}/units/{unit['id']}", json={"status": "AVAILABLE"}, headers=admin
        )
        assert reopened.status_code == 200
        assert (
            await client.post(f"{PREFIX}/bookings", json=body, headers=admin)
        ).status_code == 201
