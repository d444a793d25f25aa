"""One definition of outstanding and collected, through ledger.entry.changed, the
read model's aggregates and the HTTP API, in a building west of UTC.

Hand-computed. America/Toronto is UTC-5 in winter, so an instant early in a UTC day
is still the previous local day. Entries (all on one unit):

  Z  2,000.00 DUE, due 2026-02-01 (the issue's example)
     v2  500.00 received, verified 2026-02-01 03:00Z = 01-31 22:00 Toronto  → January
  W  1,000.00 DUE, due 2026-02-15
     v2  1,000.00 received, verified 2026-02-10 12:00Z; PAID               → February
     v3  250.00 refunded at 2026-03-01 04:00Z = 02-28 23:00 Toronto        → February
         (+ its REFUND child entry, which moves nothing itself)
     v4  750.00 refunded at 2026-03-01 06:00Z = 03-01 01:00 Toronto; REFUNDED → March
  V  800.00 DUE, due 2026-03-01
     v2  300.00 received, verified 2026-03-02 12:00Z                        → March
     v3  100.00 refunded at 2026-03-03 12:00Z, still DUE                     → March

Collected (Toronto): January +500.00; February +1,000.00 - 250.00 = 750.00;
March -750.00 + 300.00 - 100.00 = -550.00. Year to 03-05: 700.00 (= 500 + 0 + 200 net).
Outstanding now: Z 2,000 - 500 = 1,500.00; V 800 - (300 - 100) = 600.00; W 0 → 2,100.00.
"""

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from folio.shared.contracts import LedgerEntryChanged

from .helpers import envelope_of, record_of, registry_consumer

PREFIX = "/api/registry"
TORONTO = "America/Toronto"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def feed(uow_factory, *payloads) -> None:
    for payload in payloads:  # one at a time, as the entry's key orders them
        await registry_consumer(uow_factory).process([record_of(envelope_of(payload))])


class Entry:
    """Successive versions of one ledger entry, as the ledger would emit them."""

    def __init__(self, building, unit, amount: int, due: date, **extra) -> None:
        self.state = {
            "entry_id": str(uuid.uuid4()),
            "invoice_number": f"INV-2026-{uuid.uuid4().int % 10**6:06d}",
            "entry_type": "RENT",
            "status": "DUE",
            "amount_minor": amount,
            "paid_minor": 0,
            "refunded_minor": 0,
            "currency": "CAD",
            "due_date": due,
            "building_id": building["id"],
            "unit_id": unit["id"],
            "version": 0,
        } | extra

    def version(self, changed_at: datetime, **changes) -> LedgerEntryChanged:
        self.state |= changes | {"version": self.state["version"] + 1}
        return LedgerEntryChanged(**self.state, changed_at=changed_at)


@pytest.fixture
async def toronto(client, admin, make_building, make_unit, uow_factory, clock):
    clock.now = utc(2026, 3, 5, 17)
    building = await make_building(timezone=TORONTO, currency="CAD")
    unit = await make_unit(building, monthly_base_rent_minor=100_000)
    z = Entry(building, unit, 200_000, date(2026, 2, 1))
    w = Entry(building, unit, 100_000, date(2026, 2, 15))
    v = Entry(building, unit, 80_000, date(2026, 3, 1))
    w_refund = Entry(
        building, unit, 25_000, date(2026, 2, 15), entry_type="REFUND", status="REFUNDED",
        parent_entry_id=w.state["entry_id"],
    )  # fmt: skip
    await feed(
        uow_factory,
        z.version(utc(2026, 1, 20, 15)),
        w.version(utc(2026, 1, 20, 15)),
        v.version(utc(2026, 1, 20, 15)),
        z.version(
            utc(2026, 2, 1, 3, 0, 5), paid_minor=50_000, payment_verified_at=utc(2026, 2, 1, 3)
        ),
        w.version(
            utc(2026, 2, 10, 12, 0, 2),
            status="PAID",
            paid_minor=100_000,
            paid_at=utc(2026, 2, 10, 12),
            payment_verified_at=utc(2026, 2, 10, 12),
        ),
        w_refund.version(utc(2026, 3, 1, 4)),
        w.version(utc(2026, 3, 1, 4), refunded_minor=25_000, payment_verified_at=None),
        w.version(utc(2026, 3, 1, 6), status="REFUNDED", refunded_minor=100_000),
        v.version(
            utc(2026, 3, 2, 12, 0, 1), paid_minor=30_000, payment_verified_at=utc(2026, 3, 2, 12)
        ),
        v.version(utc(2026, 3, 3, 12), refunded_minor=10_000, payment_verified_at=None),
    )
    return {"building": building, "unit": unit, "z": z, "w": w, "v": v}


async def kpis(client, admin, building, as_of: str) -> dict:
    response = await client.get(
        f"{PREFIX}/kpis/buildings/{building['id']}", params={"as_of": as_of}, headers=admin
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("as_of", "mtd", "ytd", "overdue"),
    [
        ("2026-01-31", 50_000, 50_000, 0),  # Z's 500.00 on 01-31 Toronto (02-01 in UTC)
        ("2026-02-28", 75_000, 125_000, 1),  # W 1,000 - 250 refunded 02-28 Toronto; Z overdue
        ("2026-03-05", -55_000, 70_000, 2),  # -750 + 300 - 100; Z and V overdue
    ],
)
async def test_collected_and_outstanding_by_hand(client, admin, toronto, as_of, mtd, ytd, overdue):
    k = await kpis(client, admin, toronto["building"], as_of)
    assert (k["collected_mtd_minor"], k["collected_ytd_minor"]) == (mtd, ytd)
    assert k["run_rate_minor"] == mtd * 12
    assert k["outstanding_minor"] == 150_000 + 60_000  # what is still owed, not the amounts
    assert k["overdue_count"] == overdue


async def test_ear_uses_the_net_year_to_date(client, admin, toronto):
    k = await kpis(client, admin, toronto["building"], "2026-03-05")
    assert k["days_so_far_in_year"] == 64  # 31 + 28 + 5
    assert k["ear_minor"] == 399_219  # 70,000 x 365 / 64 = 399,218.75 → 399,219


async def test_the_same_history_in_utc_after_a_timezone_change(client, admin, toronto):
    building = toronto["building"]
    patched = await client.patch(
        f"{PREFIX}/buildings/{building['id']}", json={"timezone": "UTC"}, headers=admin
    )
    assert patched.status_code == 200
    assert (await kpis(client, admin, building, "2026-01-31"))["collected_mtd_minor"] == 0
    # February in UTC: Z's 500 + W's 1,000 (W's 250 refund is 03-01 04:00Z: March).
    assert (await kpis(client, admin, building, "2026-02-28"))["collected_mtd_minor"] == 150_000
    march = await kpis(client, admin, building, "2026-03-05")
    assert (march["collected_mtd_minor"], march["collected_ytd_minor"]) == (-80_000, 70_000)
    assert march["outstanding_minor"] == 210_000


async def test_finance_card_uses_the_same_definitions(client, admin, toronto):
    card = await client.get(f"{PREFIX}/units/{toronto['unit']['id']}/finance-card", headers=admin)
    assert card.status_code == 200, card.text
    body = card.json()
    [cad] = body["balances"]
    assert (cad["outstanding_minor"], cad["collected_minor"]) == (210_000, 70_000)
    owed = {e["entry_id"]: e["outstanding_minor"] for e in body["entries"]}
    # Z: 2,000.00 with 500.00 received → 1,500.00, the ledger's outstanding_minor too.
    assert owed[toronto["z"].state["entry_id"]] == 150_000
    assert owed[toronto["w"].state["entry_id"]] == 0


async def test_replays_and_stale_versions_move_no_money(client, admin, toronto, uow_factory):
    w = toronto["w"]
    stale = LedgerEntryChanged(
        **(w.state | {"version": 2, "status": "PAID", "refunded_minor": 0}),
        changed_at=utc(2026, 3, 4),
    )
    await feed(uow_factory, stale)
    k = await kpis(client, admin, toronto["building"], "2026-03-05")
    assert (k["collected_mtd_minor"], k["collected_ytd_minor"]) == (-55_000, 70_000)


async def test_incremental_aggregates_equal_a_rebuild_from_movements(toronto, uow_factory):
    bid = uuid.UUID(toronto["building"]["id"])
    queries = (
        "SELECT local_date, currency, collected_minor, movement_count FROM kpi_daily_collections"
        " WHERE building_id = :b AND movement_count <> 0 ORDER BY 1, 2",
        "SELECT status, due_date, currency, amount_minor, entry_count FROM kpi_open_receivables"
        " WHERE building_id = :b AND entry_count <> 0 ORDER BY 1, 2, 3",
    )

    async def read_all():
        async with uow_factory() as uow:
            return [
                [tuple(r) for r in await uow.session.execute(text(q), {"b": bid})] for q in queries
            ]

    incremental = await read_all()
    async with uow_factory() as uow:
        await uow.repo.rebuild_kpi_aggregates(bid)
        await uow.commit()
    assert await read_all() == incremental
    assert [(d.isoformat(), a) for d, _, a, _ in incremental[0]] == [
        ("2026-01-31", 50_000),
        ("2026-02-10", 100_000),
        ("2026-02-28", -25_000),
        ("2026-03-01", -75_000),
        ("2026-03-02", 30_000),
        ("2026-03-03", -10_000),
    ]


def test_the_definition_is_in_the_api_docs(registry_app):
    paths = registry_app.openapi()["paths"]
    for path in (
        "/api/registry/kpis/buildings/{building_id}",
        "/api/registry/kpis/portfolio",
        "/api/registry/units/{unit_id}/finance-card",
    ):
        description = paths[path]["get"]["description"]
        assert "amount - (paid - refunded)" in description, path
        assert "partial payments included" in description, path
        assert "refunds in the period they happen" in description, path


async def test_an_entry_moved_to_another_building_takes_its_money_along(
    client, admin, toronto, make_building, make_unit, uow_factory
):
    riyadh = await make_building(timezone="Asia/Riyadh", currency="CAD")
    unit = await make_unit(riyadh)
    z = toronto["z"]
    # Z (500.00 received 02-01 03:00Z) is re-addressed to a building in Riyadh (UTC+3).
    await feed(
        uow_factory,
        z.version(
            utc(2026, 3, 4), building_id=riyadh["id"], unit_id=unit["id"], payment_verified_at=None
        ),
    )
    here = await kpis(client, admin, toronto["building"], "2026-03-05")
    assert (here["collected_ytd_minor"], here["outstanding_minor"]) == (20_000, 60_000)
    there = await kpis(client, admin, riyadh, "2026-02-28")
    assert (there["collected_mtd_minor"], there["outstanding_minor"]) == (50_000, 150_000)
    assert (await kpis(client, admin, riyadh, "2026-01-31"))["collected_mtd_minor"] == 0
    for building in (toronto["building"], riyadh):
        bid = uuid.UUID(building["id"])
        sql = (
            "SELECT local_date, collected_minor FROM kpi_daily_collections"
            " WHERE building_id = :b AND movement_count <> 0 ORDER BY 1"
        )
        async with uow_factory() as uow:
            before = [tuple(r) for r in await uow.session.execute(text(sql), {"b": bid})]
            await uow.repo.rebuild_kpi_aggregates(bid)
            after = [tuple(r) for r in await uow.session.execute(text(sql), {"b": bid})]
        assert before == after, building["code"]


async def test_collections_by_month_are_the_kpis_collected_per_local_month(client, admin, toronto):
    bid = toronto["building"]["id"]
    url = f"{PREFIX}/kpis/buildings/{bid}/collections"
    three = await client.get(url, params={"as_of": "2026-03-05", "months": 3}, headers=admin)
    assert three.status_code == 200, three.text
    body = three.json()
    assert (body["currency"], body["timezone"], body["as_of"]) == ("CAD", TORONTO, "2026-03-05")
    # January: Z's 500.00 verified 02-01 03:00Z = 01-31 in Toronto; February 1,000 - 250;
    # March -750 + 300 - 100 (each month equals the KPIs' collected MTD at its end).
    assert [(m["month"], m["collected_minor"], m["movement_count"]) for m in body["months"]] == [
        ("2026-01-01", 50_000, 1),
        ("2026-02-01", 75_000, 2),
        ("2026-03-01", -55_000, 3),
    ]
    year = (await client.get(url, params={"as_of": "2026-03-05"}, headers=admin)).json()
    assert [m["month"] for m in year["months"]][:2] == ["2025-04-01", "2025-05-01"]
    assert len(year["months"]) == 12
    assert sum(m["collected_minor"] for m in year["months"]) == 70_000  # = YTD here
    assert (await kpis(client, admin, toronto["building"], "2026-03-05"))[
        "collected_ytd_minor"
    ] == 70_000
    # The month of as_of runs through as_of only: on 03-01 March has only W's -750.
    first = await client.get(url, params={"as_of": "2026-03-01", "months": 1}, headers=admin)
    assert first.json()["months"] == [
        {"month": "2026-03-01", "collected_minor": -75_000, "movement_count": 1}
    ]
    default = (await client.get(url, headers=admin)).json()  # today in Toronto per the clock
    assert default["as_of"] == "2026-03-05" and len(default["months"]) == 12


@pytest.mark.parametrize("months", ["0", "25", "x", "1.5"])
async def test_collections_by_month_refuse_bad_month_counts(client, admin, toronto, months):
    response = await client.get(
        f"{PREFIX}/kpis/buildings/{toronto['building']['id']}/collections",
        params={"months": months},
        headers=admin,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_collections_by_month_of_an_unknown_building_is_404(client, admin):
    response = await client.get(
        f"{PREFIX}/kpis/buildings/{uuid.uuid4()}/collections", headers=admin
    )
    assert response.status_code == 404
