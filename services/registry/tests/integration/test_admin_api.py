"""Admin routes: validation, uniqueness, search, cursor pagination, auth, audit."""

import uuid

import pytest
from sqlalchemy import text

PREFIX = "/api/registry"


async def count(uow_factory, sql: str, **params) -> int:
    async with uow_factory() as uow:
        return (await uow.session.execute(text(sql), params)).scalar_one()


async def test_building_and_unit_lifecycle_with_audit(
    client, admin, make_building, make_unit, uow_factory
):
    building = await make_building(timezone="Asia/Riyadh")
    assert building["code"].startswith("T-") and building["currency"] == "SAR"
    unit = await make_unit(building, status="MAINTENANCE")
    assert unit["status"] == "MAINTENANCE"
    patched = await client.patch(
        f"{PREFIX}/units/{unit['id']}", json={"status": "AVAILABLE"}, headers=admin
    )
    assert patched.status_code == 200 and patched.json()["version"] == 2
    trail = await client.get(
        f"{PREFIX}/audit",
        params={"subject_type": "unit", "subject_id": unit["id"]},
        headers=admin,
    )
    actions = [r["action"] for r in trail.json()["data"]]
    assert actions == ["unit.create", "unit.update"]
    assert trail.json()["data"][1]["details"]["before"] == {"status": "MAINTENANCE"}


@pytest.mark.parametrize(
    "body",
    [
        {"code": "x", "name": "too short code"},
        {"code": "GOOD-1", "name": "bad tz", "timezone": "Mars/Olympus"},
        {"code": "GOOD-2", "name": "bad currency", "currency": "XXX"},
        {"code": "GOOD-3", "name": "mass assignment", "id": str(uuid.uuid4())},
        {"code": "GOOD-4", "name": "mass assignment", "version": 7},
    ],
)
async def test_invalid_building_is_a_problem_and_changes_nothing(client, admin, uow_factory, body):
    before = await count(uow_factory, "SELECT count(*) FROM buildings")
    response = await client.post(f"{PREFIX}/buildings", json=body, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:folio:problem:validation-error"
    assert await count(uow_factory, "SELECT count(*) FROM buildings") == before


async def test_duplicate_building_code_is_409(client, admin, make_building):
    building = await make_building()
    again = await client.post(
        f"{PREFIX}/buildings",
        json={"code": building["code"].lower(), "name": "dup"},
        headers=admin,
    )
    assert again.status_code == 409
    assert again.json()["type"] == "urn:folio:problem:conflict"


async def test_unit_rules(client, admin, make_building, make_unit):
    building = await make_building()
    wrong_currency = await client.post(
        f"{PREFIX}/units",
        json={
            "building_id": building["id"],
            "code": "A1",
            "monthly_base_rent_minor": 1,
            "currency": "USD",
        },
        headers=admin,
    )
    assert wrong_currency.status_code == 422
    occupied_status = await client.post(
        f"{PREFIX}/units",
        json={
            "building_id": building["id"],
            "code": "A2",
            "monthly_base_rent_minor": 1,
            "status": "OCCUPIED",
        },
        headers=admin,
    )
    assert occupied_status.status_code == 422  # occupancy is computed, never stored
    negative = await client.post(
        f"{PREFIX}/units",
        json={"building_id": building["id"], "code": "A3", "monthly_base_rent_minor": -5},
        headers=admin,
    )
    assert negative.status_code == 422
    await make_unit(building, code="SAME")
    duplicate = await client.post(
        f"{PREFIX}/units",
        json={"building_id": building["id"], "code": "SAME", "monthly_base_rent_minor": 1},
        headers=admin,
    )
    assert duplicate.status_code == 409


async def test_beds24_mapping_is_unique_per_unit_and_per_property(
    client, admin, make_building, make_unit, uow_factory
):
    """Seed §5: UNIQUE beds24_map.unitId and UNIQUE beds24_map.beds24PropertyId."""
    building = await make_building()
    first, second = await make_unit(building), await make_unit(building)
    property_id = int(uuid.uuid4().int % 10**9) + 1
    body = {"beds24_property_id": property_id, "beds24_room_id": 11, "source_of_truth": "BEDS24"}
    ok = await client.put(f"{PREFIX}/units/{first['id']}/beds24-map", json=body, headers=admin)
    assert ok.status_code == 200 and ok.json()["beds24_unit_number"] == "1"
    # The same property for another unit → 409, whatever its room or unit number.
    for other in (body, body | {"beds24_room_id": 12}, body | {"beds24_unit_number": "2"}):
        clash = await client.put(
            f"{PREFIX}/units/{second['id']}/beds24-map", json=other, headers=admin
        )
        assert clash.status_code == 409, other
        assert clash.json()["constraint"] == "beds24_map_one_per_property"
    stored = "SELECT count(*) FROM beds24_map WHERE beds24_property_id = :p"
    assert await count(uow_factory, stored, p=property_id) == 1
    # Re-mapping the first unit updates its one mapping (unique per unit).
    moved = await client.put(
        f"{PREFIX}/units/{first['id']}/beds24-map",
        json=body | {"beds24_room_id": 12, "source_of_truth": "LOCAL"},
        headers=admin,
    )
    assert moved.status_code == 200 and moved.json()["source_of_truth"] == "LOCAL"
    assert await count(uow_factory, stored, p=property_id) == 1
    # Once the first unit lets the property go, the second may take it.
    removed = await client.delete(f"{PREFIX}/units/{first['id']}/beds24-map", headers=admin)
    assert removed.status_code == 204
    assert (
        await client.put(f"{PREFIX}/units/{second['id']}/beds24-map", json=body, headers=admin)
    ).status_code == 200
    bad = await client.put(
        f"{PREFIX}/units/{second['id']}/beds24-map",
        json=body | {"source_of_truth": "MAYBE"},
        headers=admin,
    )
    assert bad.status_code == 422


async def test_search_and_cursor_pagination(client, admin, make_unit, make_building):
    building = await make_building()
    codes = [f"P{i:02d}" for i in range(7)]
    for unit_code in codes:
        await make_unit(building, code=unit_code, name=f"Flat {unit_code}")
    seen, cursor = [], None
    while True:
        params = {"building_id": building["id"], "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"{PREFIX}/units", params=params, headers=admin)).json()
        seen.extend(u["code"] for u in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == codes
    found = await client.get(
        f"{PREFIX}/units", params={"building_id": building["id"], "q": "p03"}, headers=admin
    )
    assert [u["code"] for u in found.json()["data"]] == ["P03"]
    bad = await client.get(f"{PREFIX}/units", params={"cursor": "!!nope"}, headers=admin)
    assert bad.status_code == 422


async def test_auth_is_required_and_roles_are_enforced(client, viewer, make_building):
    building = await make_building()
    anonymous = await client.get(f"{PREFIX}/buildings/{building['id']}")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert (
        await client.get(f"{PREFIX}/buildings/{building['id']}", headers=viewer)
    ).status_code == 200
    for method, path, body in [
        ("POST", "/buildings", {"code": "VIEW-1", "name": "x"}),
        ("PATCH", f"/buildings/{building['id']}", {"name": "y"}),
        ("POST", "/mortgages", {"borrower_name": "b", "principal_minor": 1}),
        ("POST", "/occupancy/snapshots", {"start_date": "2026-01-01", "end_date": "2026-01-01"}),
    ]:
        response = await client.request(method, PREFIX + path, json=body, headers=viewer)
        assert response.status_code == 403, (method, path)
        forged = await client.request(
            method, PREFIX + path, json=body, headers={"Authorization": "Bearer not-a-jwt"}
        )
        assert forged.status_code == 401


async def test_unknown_ids_are_404(client, admin):
    missing = uuid.uuid4()
    for path in (
        f"/buildings/{missing}",
        f"/units/{missing}",
        f"/bookings/{missing}",
        f"/extensions/{missing}",
        f"/mortgages/{missing}",
        f"/kpis/buildings/{missing}",
        f"/units/{missing}/finance-card",
    ):
        response = await client.get(PREFIX + path, headers=admin)
        assert response.status_code == 404, path
        assert response.json()["type"] == "urn:folio:problem:not-found"


async def test_oversized_body_is_413(client, admin):
    response = await client.post(
        f"{PREFIX}/buildings",
        content=b"x" * 2_000_000,
        headers=admin | {"content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_beds24_sync_without_configuration_is_a_conflict(client, admin, registry_app):
    assert registry_app.state.beds24_client_factory is None  # FOLIO_ENV=test: no defaults
    response = await client.post(
        f"{PREFIX}/beds24/sync",
        json={"start_date": "2026-01-01", "end_date": "2026-01-02"},
        headers=admin,
    )
    assert response.status_code == 409
    assert response.json()["type"] == "urn:folio:problem:beds24-not-configured"
