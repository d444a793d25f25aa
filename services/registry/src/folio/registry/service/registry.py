"""Use cases for buildings, units, Beds24 mappings, bookings and mortgages.

Each takes an open :class:`RegistryUnitOfWork` and the acting principal's name;
the caller commits. Every admin change writes an audit record.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from folio.registry.domain.units import BookingStatus, booking_refusal
from folio.registry.service import commands as c
from folio.registry.service.errors import (
    Problem,
    conflict,
    not_found,
    unique_or_conflict,
    unprocessable,
)
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.shared.contracts import MortgageChanged

Row = dict[str, Any]


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_uuid(value: str | uuid.UUID, field: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        raise unprocessable(f"{field} must be a UUID", field=field) from None


async def require(row: Row | None, what: str, ident: object) -> Row:
    if row is None:
        raise not_found(what, ident)
    return row


# --- buildings -----------------------------------------------------------------


async def create_building(uow: RegistryUnitOfWork, cmd: c.CreateBuilding, actor: str) -> Row:
    now = now_utc()
    values = cmd.model_dump() | {
        "id": uuid.uuid4(),
        "code": cmd.code.upper(),
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    building = await unique_or_conflict(uow.repo.insert_building(values), "building code")
    # Entries that named this building before it existed start counting now.
    if await uow.repo.attach_orphan_entries(building):
        await uow.repo.set_paid_local_dates(building["id"], building["timezone"])
        await uow.repo.rebuild_kpi_aggregates(building["id"])
    await uow.audit(actor, "building.create", "building", str(building["id"]), _json(values))
    return building


async def update_building(
    uow: RegistryUnitOfWork, building_id: uuid.UUID, cmd: c.UpdateBuilding, actor: str
) -> Row:
    building = await require(
        await uow.repo.get_building(building_id, for_update=True), "building", building_id
    )
    changes = cmd.model_dump(exclude_unset=True)
    if not changes:
        return building
    updated = await uow.repo.update_building(
        building_id, changes | {"version": building["version"] + 1, "updated_at": now_utc()}
    )
    if "timezone" in changes and changes["timezone"] != building["timezone"]:
        # Month and year boundaries moved: re-date payments and rebuild the aggregates.
        await uow.repo.set_paid_local_dates(building_id, updated["timezone"])
        await uow.repo.rebuild_kpi_aggregates(building_id)
    await uow.audit(actor, "building.update", "building", str(building_id), _json(changes))
    return updated


# --- units ---------------------------------------------------------------------


async def create_unit(uow: RegistryUnitOfWork, cmd: c.CreateUnit, actor: str) -> Row:
    building_id = parse_uuid(cmd.building_id, "building_id")
    building = await uow.repo.get_building(building_id)
    if building is None:
        raise unprocessable(f"building {building_id} does not exist", field="building_id")
    if cmd.currency != building["currency"]:
        raise unprocessable(
            f"unit currency {cmd.currency} differs from the building's {building['currency']}",
            field="currency",
        )
    now = now_utc()
    values = cmd.model_dump() | {
        "id": uuid.uuid4(),
        "building_id": building_id,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    unit = await unique_or_conflict(uow.repo.insert_unit(values), "unit code in this building")
    await uow.audit(actor, "unit.create", "unit", str(unit["id"]), _json(values))
    return unit


async def update_unit(
    uow: RegistryUnitOfWork, unit_id: uuid.UUID, cmd: c.UpdateUnit, actor: str
) -> Row:
    unit = await require(await uow.repo.get_unit(unit_id, for_update=True), "unit", unit_id)
    changes = cmd.model_dump(exclude_unset=True)
    if not changes:
        return unit
    updated = await uow.repo.update_unit(
        unit_id, changes | {"version": unit["version"] + 1, "updated_at": now_utc()}
    )
    await uow.audit(
        actor,
        "unit.update",
        "unit",
        str(unit_id),
        {"before": _json({k: unit[k] for k in changes}), "after": _json(changes)},
    )
    return updated


async def set_beds24_mapping(
    uow: RegistryUnitOfWork, unit_id: uuid.UUID, cmd: c.SetBeds24Mapping, actor: str
) -> Row:
    await require(await uow.repo.get_unit(unit_id, for_update=True), "unit", unit_id)
    existing = await uow.repo.get_mapping(unit_id)
    now = now_utc()
    values = cmd.model_dump()
    if existing is None:
        operation = uow.repo.insert_mapping(
            values | {"id": uuid.uuid4(), "unit_id": unit_id, "created_at": now, "updated_at": now}
        )
    else:
        operation = uow.repo.update_mapping(unit_id, values | {"updated_at": now})
    # One mapping per unit and one per Beds24 property (seed §5): the database decides.
    mapping = await unique_or_conflict(
        operation, "Beds24 property mapping (one unit per Beds24 property)"
    )
    await uow.audit(actor, "beds24_map.set", "unit", str(unit_id), _json(values))
    return mapping


async def remove_beds24_mapping(uow: RegistryUnitOfWork, unit_id: uuid.UUID, actor: str) -> None:
    if not await uow.repo.delete_mapping(unit_id):
        raise not_found("Beds24 mapping of unit", unit_id)
    await uow.audit(actor, "beds24_map.remove", "unit", str(unit_id), {})


# --- bookings ------------------------------------------------------------------


async def create_booking(uow: RegistryUnitOfWork, cmd: c.CreateBooking, actor: str) -> Row:
    unit_id = parse_uuid(cmd.unit_id, "unit_id")
    unit = await uow.repo.get_unit(unit_id, for_update=True)  # serialises overlap checks
    if unit is None:
        raise unprocessable(f"unit {unit_id} does not exist", field="unit_id")
    # Read under the unit's row lock, so a concurrent status change cannot slip between.
    if (reason := booking_refusal(unit["status"])) is not None:
        raise conflict("unit-not-bookable", reason)
    if cmd.end_date <= cmd.start_date:
        raise unprocessable("end_date must be after start_date", field="end_date")
    if await uow.repo.overlapping_booking(unit_id, cmd.start_date, cmd.end_date):
        raise conflict("booking-overlap", "the unit already has a booking in these dates")
    now = now_utc()
    values = cmd.model_dump() | {
        "id": uuid.uuid4(),
        "unit_id": unit_id,
        "building_id": unit["building_id"],
        "status": BookingStatus.CONFIRMED.value,
        "renewals_used": 0,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    booking = await unique_or_conflict(uow.repo.insert_booking(values), "booking")
    await uow.audit(actor, "booking.create", "booking", str(booking["id"]), _json(values))
    return booking


async def cancel_booking(uow: RegistryUnitOfWork, booking_id: uuid.UUID, actor: str) -> Row:
    booking = await require(
        await uow.repo.get_booking(booking_id, for_update=True), "booking", booking_id
    )
    if booking["status"] == BookingStatus.CANCELLED:
        raise conflict("booking-cancelled", "the booking is already cancelled")
    if await uow.repo.open_extension_of(booking_id):
        raise conflict("extension-open", "cancel or decide the open extension first")
    updated = await uow.repo.update_booking(
        booking_id,
        {"status": "CANCELLED", "version": booking["version"] + 1, "updated_at": now_utc()},
    )
    await uow.audit(actor, "booking.cancel", "booking", str(booking_id), {})
    return updated


# --- mortgages -----------------------------------------------------------------


def mortgage_changed(mortgage: Row) -> MortgageChanged:
    return MortgageChanged(
        mortgage_id=str(mortgage["id"]),
        borrower_name=mortgage["borrower_name"],
        principal_minor=mortgage["principal_minor"],
        currency=mortgage["currency"],
        status=mortgage["status"],
        rotessa_schedule_id=mortgage["rotessa_schedule_id"],
        version=mortgage["version"],
        changed_at=mortgage["updated_at"],
    )


async def create_mortgage(uow: RegistryUnitOfWork, cmd: c.CreateMortgage, actor: str) -> Row:
    building_id = parse_uuid(cmd.building_id, "building_id") if cmd.building_id else None
    if building_id and await uow.repo.get_building(building_id) is None:
        raise unprocessable(f"building {building_id} does not exist", field="building_id")
    now = now_utc()
    values = cmd.model_dump() | {
        "id": uuid.uuid4(),
        "building_id": building_id,
        "rotessa_schedule_id": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    mortgage = await uow.repo.insert_mortgage(values)
    uow.emit(mortgage_changed(mortgage))
    await uow.audit(actor, "mortgage.create", "mortgage", str(mortgage["id"]), _json(values))
    return mortgage


async def update_mortgage(
    uow: RegistryUnitOfWork, mortgage_id: uuid.UUID, cmd: c.UpdateMortgage, actor: str
) -> Row:
    mortgage = await require(
        await uow.repo.get_mortgage(mortgage_id, for_update=True), "mortgage", mortgage_id
    )
    changes = cmd.model_dump(exclude_unset=True)
    if not changes:
        return mortgage
    updated = await uow.repo.update_mortgage(
        mortgage_id, changes | {"version": mortgage["version"] + 1, "updated_at": now_utc()}
    )
    uow.emit(mortgage_changed(updated))
    await uow.audit(actor, "mortgage.update", "mortgage", str(mortgage_id), _json(changes))
    return updated


async def when_schedule_linked_set_schedule_id(envelope, uow: RegistryUnitOfWork) -> None:
    """``schedule.linked`` → the mortgage records its Rotessa schedule (idempotent)."""
    event = envelope.payload()
    try:
        mortgage_id = uuid.UUID(event.mortgage_id)
    except ValueError:
        raise Problem(422, "unknown-mortgage", "Unknown mortgage", event.mortgage_id) from None
    mortgage = await uow.repo.get_mortgage(mortgage_id, for_update=True)
    if mortgage is None:
        raise not_found("mortgage", mortgage_id)  # retried, then dead-lettered for an admin
    if mortgage["rotessa_schedule_id"] == event.schedule_id:
        return
    updated = await uow.repo.update_mortgage(
        mortgage_id,
        {
            "rotessa_schedule_id": event.schedule_id,
            "version": mortgage["version"] + 1,
            "updated_at": now_utc(),
        },
    )
    uow.emit(mortgage_changed(updated))
    await uow.audit(
        event.linked_by,
        "mortgage.schedule_linked",
        "mortgage",
        str(mortgage_id),
        {"schedule_id": event.schedule_id, "previous": mortgage["rotessa_schedule_id"]},
    )


def _json(values: dict[str, Any]) -> dict[str, Any]:
    """Audit details as JSON-safe values."""
    return {
        k: (str(v) if isinstance(v, uuid.UUID | datetime) or hasattr(v, "isoformat") else v)
        for k, v in values.items()
    }
