"""Inputs the fuzzer found answered with a 500 (or a hung request): each is now a 422
problem, documented, and nothing is changed; every 2xx matches its response model."""

import uuid

import pytest

from folio.shared.inputs import REPORT_DATE_MAX, REPORT_DATE_MIN

from .helpers import scalar

PREFIX = "/api/registry"


def _assert_422(response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "as_of", ["9999-12-31", "0001-01-01", "2200-01-01", "1899-12-31", "0", "2026-01-01T00:00:00"]
)
async def test_building_kpis_refuse_a_date_outside_the_report_window(
    client, admin, make_building, as_of
):
    building = await make_building()
    response = await client.get(
        f"{PREFIX}/kpis/buildings/{building['id']}", params={"as_of": as_of}, headers=admin
    )
    _assert_422(response)


@pytest.mark.parametrize("as_of", ["9999-12-31", "0001-01-01"])
async def test_portfolio_kpis_refuse_a_date_outside_the_report_window(
    client, admin, make_building, as_of
):
    await make_building()
    response = await client.get(f"{PREFIX}/kpis/portfolio", params={"as_of": as_of}, headers=admin)
    _assert_422(response)


async def test_kpis_answer_at_the_window_edges(client, admin, make_building, make_unit):
    building = await make_building()
    await make_unit(building)
    for as_of in (REPORT_DATE_MIN, REPORT_DATE_MAX):
        response = await client.get(
            f"{PREFIX}/kpis/buildings/{building['id']}",
            params={"as_of": as_of.isoformat()},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        assert response.json()["as_of"] == as_of.isoformat()


@pytest.mark.parametrize("night", ["9999-12-31", "0001-01-01"])
async def test_unit_occupancy_refuses_a_night_outside_the_report_window(
    client, admin, make_building, make_unit, night
):
    unit = await make_unit(await make_building())
    response = await client.get(
        f"{PREFIX}/units/{unit['id']}/occupancy", params={"night": night}, headers=admin
    )
    _assert_422(response)


async def test_report_window_is_documented(client, admin):
    spec = (await client.get(f"{PREFIX}/openapi.json", headers=admin)).json()
    [night] = [
        p
        for p in spec["paths"][f"{PREFIX}/units/{{unit_id}}/occupancy"]["get"]["parameters"]
        if p["name"] == "night"
    ]
    assert REPORT_DATE_MAX.isoformat() in night["description"]


@pytest.mark.parametrize("building_id", ["", "not-a-uuid", 7])
async def test_snapshots_refuse_a_building_id_that_is_not_a_uuid(
    client, admin, uow_factory, building_id
):
    """``""`` was read as "every building" and ran a year of snapshots for all of them."""
    before = await scalar(uow_factory, "SELECT count(*) FROM unit_daily_status")
    response = await client.post(
        f"{PREFIX}/occupancy/snapshots",
        json={"start_date": "1999-01-01", "end_date": "2000-01-01", "building_id": building_id},
        headers=admin,
    )
    _assert_422(response)
    assert await scalar(uow_factory, "SELECT count(*) FROM unit_daily_status") == before


@pytest.mark.parametrize(
    "text", ["nul\u0000inside", "bell\u0007", "escape\u001b[0m", "del\u007f"], ids=repr
)
async def test_control_characters_in_body_text_are_refused(client, admin, uow_factory, text):
    before = await scalar(uow_factory, "SELECT count(*) FROM buildings")
    response = await client.post(
        f"{PREFIX}/buildings",
        json={"code": "T-" + uuid.uuid4().hex[:8], "name": text},
        headers=admin,
    )
    _assert_422(response)
    assert await scalar(uow_factory, "SELECT count(*) FROM buildings") == before


async def test_free_text_keeps_line_breaks_but_refuses_nul(client, admin):
    response = await client.post(
        f"{PREFIX}/buildings",
        json={"code": "T-" + uuid.uuid4().hex[:8], "name": "Tower", "city": "Riyadh\u0000"},
        headers=admin,
    )
    _assert_422(response)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("buildings", {"timezone": None}),
        ("buildings", {"name": None}),
        ("mortgages", {"principal_minor": None}),
        ("mortgages", {"status": None}),
        ("units", {"monthly_base_rent_minor": None}),
        ("units", {"status": None}),
    ],
)
async def test_update_refuses_null_for_a_required_field(
    client, admin, make_building, make_unit, path, body
):
    """An explicit null reached a NOT NULL column (500 before); left out, it is unchanged."""
    building = await make_building()
    if path == "buildings":
        target = building
    elif path == "units":
        target = await make_unit(building)
    else:
        made = await client.post(
            f"{PREFIX}/mortgages",
            json={"borrower_name": "B", "principal_minor": 1, "currency": "CAD"},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        target = made.json()
    response = await client.patch(f"{PREFIX}/{path}/{target['id']}", json=body, headers=admin)
    _assert_422(response)
    again = await client.get(f"{PREFIX}/{path}/{target['id']}", headers=admin)
    assert again.json()["version"] == target["version"]


async def test_update_may_clear_a_nullable_field(client, admin, make_building):
    building = await make_building(city="Riyadh")
    response = await client.patch(
        f"{PREFIX}/buildings/{building['id']}", json={"city": None}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["city"] is None


@pytest.mark.parametrize("value", [2**31, 2**53, -1, 0])
async def test_beds24_ids_out_of_range_are_refused(client, admin, make_building, make_unit, value):
    unit = await make_unit(await make_building())
    response = await client.put(
        f"{PREFIX}/units/{unit['id']}/beds24-map",
        json={
            "beds24_property_id": value,
            "beds24_room_id": 1,
            "source_of_truth": "BEDS24",
        },
        headers=admin,
    )
    if value == 2**31:  # inside bigint and below 2**53: a valid id
        assert response.status_code == 200, response.text
    else:
        _assert_422(response)


async def test_booking_dates_outside_the_window_are_refused(
    client, admin, make_building, make_unit
):
    """A booking ending 9999-12-31 could never be renewed (the month after overflows)."""
    unit = await make_unit(await make_building())
    response = await client.post(
        f"{PREFIX}/bookings",
        json={
            "unit_id": unit["id"],
            "guest_name": "Far",
            "start_date": "2025-01-01",
            "end_date": "9999-12-31",
        },
        headers=admin,
    )
    _assert_422(response)


async def test_every_2xx_has_a_typed_response_model(client, admin):
    """The registry's own routes (the shared operations and dead-letter routes are
    documented by ``folio.shared``)."""
    spec = (await client.get(f"{PREFIX}/openapi.json", headers=admin)).json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "registry" not in operation.get("tags", []):
                continue
            for status, answer in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                schema = answer["content"]["application/json"]["schema"]
                assert schema != {}, f"{method.upper()} {path} {status} is untyped"


async def test_snapshots_of_every_building_are_bounded_in_building_nights(
    client, admin, make_building, uow_factory, monkeypatch
):
    """A year for every building ran for minutes (a request the client gave up on)."""
    from folio.registry.service import occupancy

    assert occupancy.MAX_SNAPSHOT_BUILDING_NIGHTS == 1000
    await make_building()
    buildings = await scalar(uow_factory, "SELECT count(*) FROM buildings")
    # The database is shared by the session's tests: a limit of one night for each.
    monkeypatch.setattr(occupancy, "MAX_SNAPSHOT_BUILDING_NIGHTS", buildings)
    before = await scalar(uow_factory, "SELECT count(*) FROM unit_daily_status")
    two_nights = await client.post(
        f"{PREFIX}/occupancy/snapshots",
        json={"start_date": "1990-01-01", "end_date": "1990-01-02"},
        headers=admin,
    )
    _assert_422(two_nights)
    assert "building-nights" in two_nights.json()["detail"]
    assert await scalar(uow_factory, "SELECT count(*) FROM unit_daily_status") == before
    one_night = await client.post(
        f"{PREFIX}/occupancy/snapshots",
        json={"start_date": "1990-01-01", "end_date": "1990-01-01"},
        headers=admin,
    )
    assert one_night.status_code == 200, one_night.text
    # Naming a building still allows a whole year.
    building = await make_building()
    year = await client.post(
        f"{PREFIX}/occupancy/snapshots",
        json={"start_date": "1990-01-01", "end_date": "1990-12-31", "building_id": building["id"]},
        headers=admin,
    )
    assert year.status_code == 200, year.text
