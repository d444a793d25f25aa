"""KPI read model (fed by ``ledger.entry.changed``) and the KPI queries."""

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from folio.registry.domain.kpis import (
    BuildingKpis,
    CollectionTotals,
    EntryFacts,
    KpiCalendar,
    KpiInputs,
    UnitCounts,
    compute_kpis,
    local_date_of,
    money_movements,
    months_ending,
    open_receivable_of,
    roll_up,
)
from folio.registry.domain.occupancy import DailyStatus
from folio.registry.domain.units import DEFAULT_TIMEZONE
from folio.registry.service.errors import not_found
from folio.registry.service.occupancy import fresh_after, status_counts, unit_occupancy
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.shared.contracts import LedgerEntryChanged

Row = dict[str, Any]


def _facts(row: Row) -> EntryFacts:
    return EntryFacts(
        status=row["status"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        paid_minor=row["paid_minor"],
        refunded_minor=row["refunded_minor"],
        paid_at=row["paid_at"],
        due_date=row["due_date"],
    )


async def when_entry_changed_update_read_model(
    event: LedgerEntryChanged, uow: RegistryUnitOfWork
) -> None:
    """Keep the entry's latest version, record the money it moved since the version
    before, and move its contributions between the aggregates.

    Older or equal versions are ignored, so replays and out-of-order deliveries
    leave the read model as the newest state made it. (Versions arrive in order on
    the entry's key; money of a version never seen is dated with the next one.)
    """
    old = await uow.repo.kpi_entry_for_update(event.entry_id)
    if old is not None and old["version"] >= event.version:
        return
    building = None
    if event.building_id:
        building = await uow.repo.find_building_by_ref(event.building_id)
    if building is None and event.unit_id:
        # An entry that names only its unit still belongs to the unit's building.
        building = await _building_of_unit(uow, event.unit_id)
    timezone = building["timezone"] if building else DEFAULT_TIMEZONE
    building_id = building["id"] if building else None
    new = {
        "entry_id": event.entry_id,
        "invoice_number": event.invoice_number,
        "building_ref": event.building_id,
        "building_id": building_id,
        "unit_id": event.unit_id,
        "booking_id": event.booking_id,
        "extension_id": event.extension_id,
        "entry_type": event.entry_type,
        "status": event.status,
        "amount_minor": event.amount_minor,
        "paid_minor": event.paid_minor,
        "refunded_minor": event.refunded_minor,
        "currency": event.currency,
        "due_date": event.due_date,
        "paid_at": event.paid_at,
        "paid_local_date": local_date_of(event.paid_at, timezone) if event.paid_at else None,
        "version": event.version,
        "changed_at": event.changed_at,
    }
    moves = money_movements(
        _facts(old) if old else None,
        _facts(new),
        changed_at=event.changed_at,
        payment_verified_at=event.payment_verified_at,
    )
    collection_deltas: dict[tuple, list[int]] = {}

    def collect(building_id: uuid.UUID | None, tz: str, currency: str, at, amount: int, n: int):
        if building_id is None:
            return
        delta = collection_deltas.setdefault((building_id, currency, local_date_of(at, tz)), [0, 0])
        delta[0] += amount
        delta[1] += n

    if old is not None and old["building_id"] != building_id:
        # The entry moved to another building: the money it moved so far moves too.
        previous = old["building_id"] and await uow.repo.get_building(old["building_id"])
        previous_tz = previous["timezone"] if previous else DEFAULT_TIMEZONE
        for m in await uow.repo.movements_of_entry(event.entry_id):
            collect(
                old["building_id"],
                previous_tz,
                m["currency"],
                m["moved_at"],
                -m["amount_minor"],
                -1,
            )
            collect(building_id, timezone, m["currency"], m["moved_at"], m["amount_minor"], 1)
        await uow.repo.rehome_movements(event.entry_id, building_id)
    for move in moves:
        collect(building_id, timezone, move.currency, move.at, move.amount_minor, 1)

    open_deltas: dict[tuple, list[int]] = {}
    for row, sign in ((old, -1), (new, +1)):
        if row is None or row["building_id"] is None:
            continue
        part = open_receivable_of(_facts(row))
        if part is not None:
            key = (row["building_id"], part.currency, part.status, part.due_date)
            delta = open_deltas.setdefault(key, [0, 0])
            delta[0] += sign * part.outstanding_minor
            delta[1] += sign
    await uow.repo.upsert_kpi_entry(new)
    await uow.repo.insert_movements(
        [
            {
                "entry_id": event.entry_id,
                "version": event.version,
                "kind": move.kind,
                "building_id": building_id,
                "currency": move.currency,
                "amount_minor": move.amount_minor,
                "moved_at": move.at,
            }
            for move in moves
        ]
    )
    await uow.repo.add_collection_deltas(
        (*key, amount, count)
        for key, (amount, count) in collection_deltas.items()
        if count or amount
    )
    await uow.repo.add_open_deltas(
        (*key, amount, count) for key, (amount, count) in open_deltas.items() if count or amount
    )


async def _building_of_unit(uow: RegistryUnitOfWork, unit_ref: str) -> Row | None:
    try:
        unit_id = uuid.UUID(unit_ref)
    except ValueError:
        return None
    unit = await uow.repo.get_unit(unit_id)
    return await uow.repo.get_building(unit["building_id"]) if unit else None


async def compute_building_kpis(
    uow: RegistryUnitOfWork,
    building: Row,
    *,
    as_of: date | None,
    now: datetime,
    max_age: timedelta,
) -> BuildingKpis:
    """Seed §4 KPIs of one building on a local ``as_of`` date (default: today there)."""
    timezone = building["timezone"]
    today = local_date_of(now, timezone)
    as_of = as_of or today
    calendar = KpiCalendar.ending_on(as_of)
    use_snapshot = as_of < today  # past nights: what the daily snapshot recorded
    groups = await uow.repo.occupancy_fact_groups(
        night=as_of,
        fresh_after=fresh_after(as_of, timezone, now, max_age),
        building_id=building["id"],
        use_snapshot=use_snapshot,
    )
    counts = status_counts(groups, use_snapshot=use_snapshot)
    units = UnitCounts(
        total=sum(counts.values()),
        blocked=counts[DailyStatus.BLOCKED],
        maintenance=counts[DailyStatus.MAINTENANCE],
        occupied=counts[DailyStatus.OCCUPIED],
        unknown=counts[DailyStatus.UNKNOWN],
    )
    currency = building["currency"]
    mtd, ytd = await uow.repo.collection_sums(
        building["id"], currency, calendar.month_start, calendar.year_start, as_of
    )
    outstanding, overdue = await uow.repo.open_receivable_sums(building["id"], currency, as_of)
    return compute_kpis(
        KpiInputs(
            currency=currency,
            calendar=calendar,
            units=units,
            monthly_rent_sum_minor=await uow.repo.rent_sum(building["id"], currency),
            collections=CollectionTotals(mtd, ytd, outstanding, overdue),
            occupied_unit_days_mtd=await uow.repo.occupied_unit_days(
                building["id"], calendar.month_start, as_of
            ),
        )
    )


async def building_kpis(
    uow: RegistryUnitOfWork,
    building_id: uuid.UUID,
    *,
    as_of: date | None,
    now: datetime,
    max_age: timedelta,
) -> tuple[Row, BuildingKpis]:
    building = await uow.repo.get_building(building_id)
    if building is None:
        raise not_found("building", building_id)
    kpis = await compute_building_kpis(uow, building, as_of=as_of, now=now, max_age=max_age)
    return building, kpis


async def portfolio_kpis(
    uow: RegistryUnitOfWork, *, as_of: date | None, now: datetime, max_age: timedelta
) -> dict[str, Any]:
    """Every building's KPIs and a roll-up per currency (amounts are never mixed)."""
    per_building = []
    for building in await uow.repo.all_buildings():
        kpis = await compute_building_kpis(uow, building, as_of=as_of, now=now, max_age=max_age)
        per_building.append((building, kpis))
    currencies = sorted({k.currency for _, k in per_building})
    return {
        "portfolio": [roll_up(cur, [k for _, k in per_building]) for cur in currencies],
        "buildings": per_building,
    }


async def unit_finance_card(
    uow: RegistryUnitOfWork, unit_id: uuid.UUID, *, now: datetime, max_age: timedelta
) -> dict[str, Any]:
    unit = await uow.repo.get_unit(unit_id)
    if unit is None:
        raise not_found("unit", unit_id)
    building = await uow.repo.get_building(unit["building_id"])
    timezone = building["timezone"] if building else DEFAULT_TIMEZONE
    occupancy = await unit_occupancy(uow, unit, timezone, now=now, max_age=max_age)
    entries = await uow.repo.entries_of_unit(unit_id)
    today = local_date_of(now, timezone)
    balances: dict[str, dict[str, int]] = {}
    for entry in entries:
        facts = _facts(entry)
        # The same definitions as the KPIs: owed on DUE/PENDING, net money received.
        entry["outstanding_minor"] = facts.outstanding_minor
        totals = balances.setdefault(
            entry["currency"], {"outstanding_minor": 0, "collected_minor": 0, "overdue_count": 0}
        )
        totals["outstanding_minor"] += facts.outstanding_minor
        totals["collected_minor"] += facts.net_received_minor
        if entry["status"] == "DUE" and entry["due_date"] and entry["due_date"] < today:
            totals["overdue_count"] += 1
    return {
        "unit": unit,
        "building": building,
        "mapping": await uow.repo.get_mapping(unit_id),
        "occupancy": occupancy,
        "entries": entries,
        "balances": [{"currency": cur, **totals} for cur, totals in sorted(balances.items())],
    }


async def collections_by_month(
    uow: RegistryUnitOfWork,
    building_id: uuid.UUID,
    *,
    as_of: date | None,
    months: int,
    now: datetime,
) -> dict[str, Any]:
    """Collected (the KPIs' definition) per local month of the ``months`` months ending
    with ``as_of``'s (default: today in the building's timezone); the last month runs
    through ``as_of``. Every month is listed, 0 when nothing moved."""
    building = await uow.repo.get_building(building_id)
    if building is None:
        raise not_found("building", building_id)
    as_of = as_of or local_date_of(now, building["timezone"])
    starts = months_ending(as_of, months)
    found = {
        row["month"]: row
        for row in await uow.repo.monthly_collections(
            building_id, building["currency"], starts[0], as_of
        )
    }
    return {
        "building_id": building["id"],
        "building_code": building["code"],
        "timezone": building["timezone"],
        "currency": building["currency"],
        "as_of": as_of,
        "months": [
            {
                "month": start,
                "collected_minor": found.get(start, {}).get("collected_minor", 0),
                "movement_count": found.get(start, {}).get("movement_count", 0),
            }
            for start in starts
        ],
    }
