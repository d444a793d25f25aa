"""Renewal use cases: request, approve/reject/cancel, and activation on payment.

Beds24-controlled unit (mapping with source_of_truth BEDS24): a PENDING_APPROVAL
extension that an admin approves with a ``beds24_change_note``; nothing is sent
to Beds24. Any other unit: PAYMENT_PENDING and ``renewal.requested`` for the
ledger's RENEWAL_RENT invoice; ``ledger.entry.changed`` showing it PAID activates it.
"""

import uuid
from datetime import date, timedelta
from typing import Any

import structlog

from folio.registry.domain.kpis import local_date_of
from folio.registry.domain.renewals import (
    BookingTerms,
    ChangeNoteRequired,
    Extension,
    ExtensionError,
    ExtensionStatus,
    add_months,
    renewal_eligibility,
)
from folio.registry.domain.units import BookingStatus, SourceOfTruth
from folio.registry.service import commands as c
from folio.registry.service.errors import conflict, unprocessable
from folio.registry.service.registry import now_utc, require
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.shared.contracts import BookingExtended, LedgerEntryChanged, RenewalRequested

log = structlog.get_logger(__name__)
Row = dict[str, Any]


def _terms(booking: Row) -> BookingTerms:
    return BookingTerms(
        status=BookingStatus(booking["status"]),
        end_date=booking["end_date"],
        renewals_used=booking["renewals_used"],
        max_renewals=booking["max_renewals"],
        renewal_window_days=booking["renewal_window_days"],
    )


def _extension(row: Row) -> Extension:
    return Extension(
        status=ExtensionStatus(row["status"]),
        requires_beds24_update=row["requires_beds24_update"],
        previous_end_date=row["previous_end_date"],
        new_end_date=row["new_end_date"],
        amount_minor=row["amount_minor"],
        ledger_entry_id=row["ledger_entry_id"],
        beds24_change_note=row["beds24_change_note"],
        decision_reason=row["decision_reason"],
    )


def _extension_values(ext: Extension) -> Row:
    return {
        "status": ext.status.value,
        "ledger_entry_id": ext.ledger_entry_id,
        "beds24_change_note": ext.beds24_change_note,
        "decision_reason": ext.decision_reason,
    }


async def _local_today(uow: RegistryUnitOfWork, building_id: uuid.UUID) -> date:
    building = await uow.repo.get_building(building_id)
    return local_date_of(now_utc(), building["timezone"] if building else "Asia/Riyadh")


async def eligibility_of(uow: RegistryUnitOfWork, booking_id: uuid.UUID, today: date | None = None):
    booking = await require(await uow.repo.get_booking(booking_id), "booking", booking_id)
    today = today or await _local_today(uow, booking["building_id"])
    open_extension = await uow.repo.open_extension_of(booking_id)
    result = renewal_eligibility(
        _terms(booking), today=today, has_open_extension=open_extension is not None
    )
    return booking, result, today


async def request_renewal(
    uow: RegistryUnitOfWork,
    booking_id: uuid.UUID,
    cmd: c.RequestRenewal,
    actor: str,
    today: date | None = None,
) -> Row:
    booking = await require(
        await uow.repo.get_booking(booking_id, for_update=True), "booking", booking_id
    )
    _, eligibility, today = await eligibility_of(uow, booking_id, today)
    if not eligibility.eligible:
        raise conflict(
            "renewal-not-eligible",
            "the booking cannot be renewed now",
            reasons=[r.value for r in eligibility.reasons],
            window_opens_on=eligibility.window_opens_on.isoformat(),
        )
    unit = await require(await uow.repo.get_unit(booking["unit_id"]), "unit", booking["unit_id"])
    mapping = await uow.repo.get_mapping(booking["unit_id"])
    beds24_controlled = (
        mapping is not None and mapping["source_of_truth"] == SourceOfTruth.BEDS24.value
    )
    amount = cmd.amount_minor
    if amount is None:
        amount = unit["monthly_base_rent_minor"] * cmd.months
    try:
        extension = Extension.open(
            beds24_controlled=beds24_controlled,
            previous_end_date=booking["end_date"],
            new_end_date=add_months(booking["end_date"], cmd.months),
            amount_minor=amount,
        )
    except ExtensionError as exc:
        raise unprocessable(str(exc), kind="renewal-invalid") from None
    now = now_utc()
    row = await uow.repo.insert_extension(
        _extension_values(extension)
        | {
            "id": uuid.uuid4(),
            "booking_id": booking_id,
            "unit_id": booking["unit_id"],
            "requires_beds24_update": extension.requires_beds24_update,
            "previous_end_date": extension.previous_end_date,
            "new_end_date": extension.new_end_date,
            "amount_minor": extension.amount_minor,
            "currency": unit["currency"],
            "requested_by": actor,
            "paid_after_cancellation": False,
            "created_at": now,
            "updated_at": now,
        }
    )
    if not beds24_controlled:
        uow.emit(
            RenewalRequested(
                extension_id=str(row["id"]),
                booking_id=str(booking_id),
                building_id=str(booking["building_id"]),
                unit_id=str(booking["unit_id"]),
                amount_minor=extension.amount_minor,
                currency=unit["currency"],
                due_date=max(today, booking["end_date"] - timedelta(days=1)),
                new_end_date=extension.new_end_date,
                requested_at=now,
            )
        )
    await uow.audit(
        actor,
        "extension.request",
        "booking_extension",
        str(row["id"]),
        {
            "booking_id": str(booking_id),
            "status": row["status"],
            "requires_beds24_update": row["requires_beds24_update"],
            "new_end_date": row["new_end_date"].isoformat(),
            "amount_minor": row["amount_minor"],
        },
    )
    return row


async def _decide(
    uow: RegistryUnitOfWork, extension_id: uuid.UUID, actor: str, action: str, decide
):
    row = await require(
        await uow.repo.get_extension(extension_id, for_update=True), "extension", extension_id
    )
    try:
        decided = decide(_extension(row))
    except ChangeNoteRequired as exc:
        raise unprocessable(str(exc), kind="beds24-change-note-required") from None
    except ExtensionError as exc:
        raise conflict(
            "extension-transition-forbidden", str(exc), extension_status=row["status"]
        ) from None
    updated = await uow.repo.update_extension(
        extension_id, _extension_values(decided) | {"decided_by": actor, "updated_at": now_utc()}
    )
    await uow.audit(
        actor,
        f"extension.{action}",
        "booking_extension",
        str(extension_id),
        {"from": row["status"], "to": updated["status"], **_extension_values(decided)},
    )
    return row, updated


async def approve_extension(
    uow: RegistryUnitOfWork, extension_id: uuid.UUID, cmd: c.ApproveExtension, actor: str
) -> Row:
    """Beds24 extension approved after the admin changed Beds24 by hand (note required)."""
    _, updated = await _decide(
        uow, extension_id, actor, "approve", lambda ext: ext.approve(cmd.beds24_change_note)
    )
    await _extend_booking(uow, updated)
    return updated


async def reject_extension(
    uow: RegistryUnitOfWork, extension_id: uuid.UUID, cmd: c.DecideExtension, actor: str
) -> Row:
    _, updated = await _decide(uow, extension_id, actor, "reject", lambda e: e.reject(cmd.reason))
    return updated


async def cancel_extension(
    uow: RegistryUnitOfWork, extension_id: uuid.UUID, cmd: c.DecideExtension, actor: str
) -> Row:
    _, updated = await _decide(uow, extension_id, actor, "cancel", lambda e: e.cancel(cmd.reason))
    return updated


async def _extend_booking(uow: RegistryUnitOfWork, extension: Row) -> None:
    """Move the booking's end, count the renewal, emit ``booking.extended``."""
    booking = await require(
        await uow.repo.get_booking(extension["booking_id"], for_update=True),
        "booking",
        extension["booking_id"],
    )
    new_end = max(booking["end_date"], extension["new_end_date"])
    updated = await uow.repo.update_booking(
        booking["id"],
        {
            "end_date": new_end,
            "renewals_used": booking["renewals_used"] + 1,
            "version": booking["version"] + 1,
            "updated_at": now_utc(),
        },
    )
    uow.emit(
        BookingExtended(
            booking_id=str(booking["id"]),
            extension_id=str(extension["id"]),
            unit_id=str(booking["unit_id"]),
            previous_end_date=booking["end_date"],
            new_end_date=new_end,
            renewals_used=updated["renewals_used"],
            extended_at=updated["updated_at"],
        )
    )


async def when_renewal_entry_changed_update_extension(
    event: LedgerEntryChanged, uow: RegistryUnitOfWork
) -> None:
    """The ledger's RENEWAL_RENT entry for an extension changed.

    DUE/PENDING → remember the entry on the extension; PAID → activate it and extend
    the booking. Redelivery and replays are no-ops (inbox, plus the state checks).
    """
    if event.entry_type != "RENEWAL_RENT" or not event.extension_id:
        return
    try:
        extension_id = uuid.UUID(event.extension_id)
    except ValueError:
        log.warning("renewal_entry.bad_extension_id", extension_id=event.extension_id)
        return
    row = await uow.repo.get_extension(extension_id, for_update=True)
    if row is None:
        # Extensions are committed before renewal.requested leaves the outbox, so an
        # unknown id never becomes known later: retrying would only stall the partition.
        log.warning(
            "renewal_entry.unknown_extension",
            extension_id=str(extension_id),
            entry_id=event.entry_id,
        )
        return
    extension = _extension(row)
    if event.status == "PAID":
        if extension.status == ExtensionStatus.CANCELLED:
            # Money arrived for a cancelled renewal: keep it visible for a refund decision.
            await uow.repo.update_extension(
                extension_id,
                {
                    "paid_after_cancellation": True,
                    "ledger_entry_id": event.entry_id,
                    "updated_at": now_utc(),
                },
            )
            return
        try:
            activated = extension.activate_on_payment(event.entry_id)
        except ExtensionError as exc:
            log.warning("renewal_entry.ignored", extension_id=str(extension_id), reason=str(exc))
            return
        if activated == extension:
            return  # already active for this entry
        updated = await uow.repo.update_extension(
            extension_id,
            _extension_values(activated) | {"decided_by": "ledger", "updated_at": now_utc()},
        )
        await _extend_booking(uow, updated)
        await uow.audit(
            "ledger",
            "extension.activate",
            "booking_extension",
            str(extension_id),
            {"ledger_entry_id": event.entry_id, "invoice_number": event.invoice_number},
        )
        return
    if extension.status == ExtensionStatus.PAYMENT_PENDING and extension.ledger_entry_id is None:
        try:
            invoiced = extension.attach_invoice(event.entry_id)
        except ExtensionError as exc:
            log.warning("renewal_entry.ignored", extension_id=str(extension_id), reason=str(exc))
            return
        await uow.repo.update_extension(
            extension_id, _extension_values(invoiced) | {"updated_at": now_utc()}
        )
