"""Occupancy: current readings, the daily snapshot job, and the Beds24 observation sync."""

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from folio.registry.adapters.beds24 import Beds24Error, Beds24ReadClient
from folio.registry.domain.kpis import local_date_of
from folio.registry.domain.occupancy import (
    DailyStatus,
    OccupancyReading,
    daily_status,
    freshness_reference,
    select_occupancy_from_facts,
)
from folio.registry.domain.units import SourceOfTruth, UnitStatus
from folio.registry.service.errors import unprocessable
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.shared.transactions import retry_transient

log = structlog.get_logger(__name__)
Row = dict[str, Any]
MAX_SNAPSHOT_DAYS = 366
#: One run over every building does a few statements per building and night: bounded
#: so that an on-demand run answers within seconds (the daily job runs per building).
MAX_SNAPSHOT_BUILDING_NIGHTS = 1000


def reading_from_facts(facts: Row) -> OccupancyReading:
    source = facts["source_of_truth"]
    return select_occupancy_from_facts(
        source_of_truth=SourceOfTruth(source) if source else None,
        beds24_occupied=facts["beds24_occupied"],
        local_occupied=bool(facts["local_occupied"]),
    )


def fresh_after(night: date, timezone: str, now: datetime, max_age: timedelta) -> datetime:
    """Observations taken at or after this instant count as fresh for ``night``."""
    return freshness_reference(night, timezone, now) - max_age


async def unit_occupancy(
    uow: RegistryUnitOfWork,
    unit: Row,
    timezone: str,
    *,
    now: datetime,
    max_age: timedelta,
    night: date | None = None,
) -> dict[str, Any]:
    """A unit's occupancy on ``night`` (default: tonight in the building's timezone)."""
    night = night or local_date_of(now, timezone)
    facts = await uow.repo.occupancy_facts_by_unit(
        night=night, fresh_after=fresh_after(night, timezone, now, max_age), unit_id=unit["id"]
    )
    reading = reading_from_facts(facts[0])
    return {
        "date": night,
        "source": reading.source.value,
        "occupancy": reading.state.value,
        "daily_status": daily_status(UnitStatus(unit["status"]), reading).value,
    }


async def take_daily_snapshots(
    uow: RegistryUnitOfWork,
    *,
    start_date: date,
    end_date: date,
    building_id: uuid.UUID | None,
    now: datetime,
    max_age: timedelta,
) -> dict[str, int]:
    """One ``unit_daily_status`` per unit and night; existing rows are left unchanged."""
    if end_date < start_date:
        raise unprocessable("end_date is before start_date", field="end_date")
    if (end_date - start_date).days + 1 > MAX_SNAPSHOT_DAYS:
        raise unprocessable(f"at most {MAX_SNAPSHOT_DAYS} days per run", field="end_date")
    if building_id is not None:
        building = await uow.repo.get_building(building_id)
        if building is None:
            raise unprocessable(f"building {building_id} does not exist", field="building_id")
        targets = [building]
    else:
        targets = await uow.repo.all_buildings()
        nights = (end_date - start_date).days + 1
        if len(targets) * nights > MAX_SNAPSHOT_BUILDING_NIGHTS:
            raise unprocessable(
                f"{len(targets)} buildings x {nights} nights is more than "
                f"{MAX_SNAPSHOT_BUILDING_NIGHTS} building-nights per run: name a "
                "building_id or shorten the range",
                field="end_date",
            )
    inserted = considered = 0
    for building in targets:
        night = start_date
        while night <= end_date:
            facts = await uow.repo.occupancy_facts_by_unit(
                night=night,
                fresh_after=fresh_after(night, building["timezone"], now, max_age),
                building_id=building["id"],
            )
            rows = []
            for unit_facts in facts:
                reading = reading_from_facts(unit_facts)
                rows.append(
                    {
                        "unit_id": unit_facts["unit_id"],
                        "status_date": night,
                        "building_id": building["id"],
                        "status": daily_status(
                            UnitStatus(unit_facts["unit_status"]), reading
                        ).value,
                        "source": reading.source.value,
                        "computed_at": now,
                    }
                )
            considered += len(rows)
            inserted += await uow.repo.insert_daily_statuses(rows)
            await uow.repo.refresh_daily_occupancy(building["id"], night)
            night += timedelta(days=1)
    return {"inserted": inserted, "unchanged": considered - inserted, "buildings": len(targets)}


async def _record(uow_factory, observations: list[Row]) -> None:
    """One property's observations in one transaction (rerun whole after a lost race)."""
    async with uow_factory() as uow:
        await uow.repo.record_observations(observations)
        await uow.commit()


async def sync_beds24_observations(
    uow_factory: Callable[[], RegistryUnitOfWork],
    client: Beds24ReadClient,
    *,
    start_date: date,
    end_date: date,
    now: Callable[[], datetime],
    building_id: uuid.UUID | None = None,
) -> dict[str, int]:
    """Read occupancy of every BEDS24-sourced unit from Beds24 and record it with its time.

    Beds24 is called outside any database transaction. A property Beds24 cannot
    answer for gets no new observation, so its units turn UNKNOWN once the last
    one is stale, never a local fallback.
    """
    async with uow_factory() as uow:
        mappings = await uow.repo.beds24_mappings(building_id)
    by_property: dict[int, list[Row]] = {}
    for mapping in mappings:
        by_property.setdefault(mapping["beds24_property_id"], []).append(mapping)
    recorded = failed = 0
    for property_id, property_mappings in sorted(by_property.items()):
        try:
            rooms = await client.unit_bookings(
                property_id=property_id, start_date=start_date, end_date=end_date
            )
        except Beds24Error as exc:
            failed += 1
            log.warning("beds24.sync_failed", property_id=property_id, error=str(exc))
            continue
        observed_at = now()
        by_room = {room.room_id: room for room in rooms if room.property_id == property_id}
        observations = []
        for mapping in property_mappings:
            room = by_room.get(mapping["beds24_room_id"])
            if room is None:
                continue
            for night, counts in room.unit_bookings.items():
                if not start_date <= night <= end_date:
                    continue
                if mapping["beds24_unit_number"] not in counts:
                    continue  # Beds24 did not report this unit: no data, not "vacant"
                observations.append(
                    {
                        "unit_id": mapping["unit_id"],
                        "stay_date": night,
                        "occupied": counts[mapping["beds24_unit_number"]] > 0,
                        "observed_at": observed_at,
                    }
                )
        await retry_transient(lambda rows=observations: _record(uow_factory, rows))
        recorded += len(observations)
    return {"properties": len(by_property), "failed_properties": failed, "observations": recorded}


def status_counts(groups: list[Row], *, use_snapshot: bool) -> dict[DailyStatus, int]:
    """Resolved daily status counts from grouped facts (snapshot wins for past nights)."""
    counts: dict[DailyStatus, int] = dict.fromkeys(DailyStatus, 0)
    for group in groups:
        snapshot = group.get("snapshot_status")
        if use_snapshot and snapshot:
            status = DailyStatus(snapshot)
        else:
            status = daily_status(UnitStatus(group["unit_status"]), reading_from_facts(group))
        counts[status] += group["unit_count"]
    return counts
