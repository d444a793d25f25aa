"""Every state-changing registry route runs its unit of work through retry_transient:
a serialization failure (40001) inside the transaction is retried and the change
lands exactly once; a failure on every attempt answers 409 concurrent-update and
keeps nothing.

The failure is real PostgreSQL: a trigger on the audit log (every admin change
writes one audit row in its transaction) raises SQLSTATE 40001 while a sequence,
which a rollback does not rewind, is below a limit.
"""

import uuid
from contextlib import asynccontextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import text

PREFIX = "/api/registry"


@asynccontextmanager
async def audit_inserts_fail(uow_factory, times: int):
    """The next ``times`` audit inserts fail with a serialization failure."""
    name = "retry_test_" + uuid.uuid4().hex[:8]
    async with uow_factory() as uow:
        for sql in (
            f"CREATE SEQUENCE {name}",
            f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('{name}') <= {times} THEN
                    RAISE EXCEPTION 'injected' USING ERRCODE = 'serialization_failure';
                END IF;
                RETURN NEW;
            END $$
            """,
            f"CREATE TRIGGER {name} BEFORE INSERT ON audit_log "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()",
        ):
            await uow.session.execute(text(sql))
        await uow.commit()
    try:
        yield
    finally:
        async with uow_factory() as uow:
            await uow.session.execute(text(f"DROP TRIGGER {name} ON audit_log"))
            await uow.session.execute(text(f"DROP FUNCTION {name}()"))
            await uow.session.execute(text(f"DROP SEQUENCE {name}"))
            await uow.commit()


async def audit_count(uow_factory, subject_id: str, action: str) -> int:
    async with uow_factory() as uow:
        sql = "SELECT count(*) FROM audit_log WHERE subject_id = :s AND action = :a"
        return (await uow.session.execute(text(sql), {"s": subject_id, "a": action})).scalar_one()


@pytest.fixture
async def world(client, admin, make_building, make_unit):
    building = await make_building()
    unit = await make_unit(building)
    mapped = await make_unit(building)
    property_id = uuid.uuid4().int % 10**9 + 1
    await client.put(
        f"{PREFIX}/units/{mapped['id']}/beds24-map",
        json={"beds24_property_id": property_id, "beds24_room_id": 1, "source_of_truth": "LOCAL"},
        headers=admin,
    )
    booking = (
        await client.post(
            f"{PREFIX}/bookings",
            json={
                "unit_id": unit["id"],
                "guest_name": "Retry",
                # Ends in 5 days: inside the renewal window whatever today is.
                "start_date": (date.today() - timedelta(days=30)).isoformat(),
                "end_date": (date.today() + timedelta(days=5)).isoformat(),
                "max_renewals": 1,
            },
            headers=admin,
        )
    ).json()
    mortgage = (
        await client.post(
            f"{PREFIX}/mortgages",
            json={"borrower_name": "Retry", "principal_minor": 1_000, "currency": "CAD"},
            headers=admin,
        )
    ).json()
    return {
        "building": building,
        "unit": unit,
        "mapped": mapped,
        "booking": booking,
        "mortgage": mortgage,
    }


def unit_free(w) -> dict:
    return {
        "unit_id": w["unit"]["id"],
        "guest_name": "Second",
        "start_date": "2030-01-01",
        "end_date": "2030-02-01",
    }


# (method, path, body, expected status, action audited, subject of that audit)
ROUTES = {
    "create building": lambda w: (
        "POST", "/buildings", {"code": "R-" + uuid.uuid4().hex[:8], "name": "R"}, 201,
        "building.create", None,
    ),
    "update building": lambda w: (
        "PATCH", f"/buildings/{w['building']['id']}", {"name": "Renamed"}, 200,
        "building.update", w["building"]["id"],
    ),
    "create unit": lambda w: (
        "POST", "/units",
        {"building_id": w["building"]["id"], "code": "R1", "monthly_base_rent_minor": 5},
        201, "unit.create", None,
    ),
    "update unit": lambda w: (
        "PATCH", f"/units/{w['unit']['id']}", {"name": "Flat"}, 200,
        "unit.update", w["unit"]["id"],
    ),
    "set beds24 map": lambda w: (
        "PUT", f"/units/{w['unit']['id']}/beds24-map",
        {"beds24_property_id": uuid.uuid4().int % 10**9 + 1, "beds24_room_id": 2,
         "source_of_truth": "LOCAL"},
        200, "beds24_map.set", w["unit"]["id"],
    ),
    "remove beds24 map": lambda w: (
        "DELETE", f"/units/{w['mapped']['id']}/beds24-map", None, 204,
        "beds24_map.remove", w["mapped"]["id"],
    ),
    "create booking": lambda w: (
        "POST", "/bookings", unit_free(w), 201, "booking.create", None,
    ),
    "cancel booking": lambda w: (
        "POST", f"/bookings/{w['booking']['id']}/cancel", None, 200,
        "booking.cancel", w["booking"]["id"],
    ),
    "request renewal": lambda w: (
        "POST", f"/bookings/{w['booking']['id']}/extensions", None, 201,
        "extension.request", None,
    ),
    "create mortgage": lambda w: (
        "POST", "/mortgages", {"borrower_name": "New", "principal_minor": 7, "currency": "CAD"},
        201, "mortgage.create", None,
    ),
    "update mortgage": lambda w: (
        "PATCH", f"/mortgages/{w['mortgage']['id']}", {"principal_minor": 8}, 200,
        "mortgage.update", w["mortgage"]["id"],
    ),
    "take snapshots": lambda w: (
        "POST", "/occupancy/snapshots",
        {"start_date": "2026-01-01", "end_date": "2026-01-02",
         "building_id": w["building"]["id"]},
        200, "snapshots.take", w["building"]["id"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_serialization_failure_is_retried_and_applied_once(
    client, admin, world, uow_factory, route
):
    method, path, body, status, action, subject = ROUTES[route](world)
    async with audit_inserts_fail(uow_factory, times=2):
        response = await client.request(method, PREFIX + path, json=body, headers=admin)
    assert response.status_code == status, response.text
    if subject is None:
        subject = response.json()["id"]
    assert await audit_count(uow_factory, subject, action) == 1  # once, not once per attempt


@pytest.mark.parametrize("route", ["create building", "update mortgage", "create booking"])
async def test_a_race_lost_on_every_attempt_answers_409_and_keeps_nothing(
    client, admin, world, uow_factory, route
):
    method, path, body, _, action, subject = ROUTES[route](world)
    async with audit_inserts_fail(uow_factory, times=1_000):
        response = await client.request(method, PREFIX + path, json=body, headers=admin)
    assert response.status_code == 409, response.text
    assert response.json()["type"] == "urn:folio:problem:concurrent-update"
    kept = {
        "create building": lambda: (
            "SELECT count(*) FROM buildings WHERE code = upper(:v)",
            body["code"],
        ),
        "update mortgage": lambda: (
            "SELECT count(*) FROM mortgages WHERE id = :v AND version > 1",
            uuid.UUID(world["mortgage"]["id"]),
        ),
        "create booking": lambda: (
            "SELECT count(*) FROM bookings WHERE unit_id = :v AND guest_name = 'Second'",
            uuid.UUID(world["unit"]["id"]),
        ),
    }[route]
    sql, value = kept()
    async with uow_factory() as uow:
        assert (await uow.session.execute(text(sql), {"v": value})).scalar_one() == 0
