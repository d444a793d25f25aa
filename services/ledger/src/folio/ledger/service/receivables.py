"""Receivable use cases: admin commands and reactions to payment/renewal events.

Handlers take a unit of work; routes and subscribers only build commands. The
rules themselves live in ``folio.ledger.domain.receivables``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from folio.ledger.domain import bookkeeping
from folio.ledger.domain.journal import JournalError, OverdraftPolicy
from folio.ledger.domain.receivables import (
    Actor,
    Entry,
    EntryStatus,
    EntryType,
    InvalidEntry,
    ReceivableError,
    RefundExceedsPaid,
    apply_refund,
    apply_verified_payment,
    change_status,
    check_charge_total,
    check_editable,
    child_due_date,
    initial_child_status,
    validate_adjustment,
    validate_new_entry,
)
from folio.ledger.service.journal import (
    NewTransaction,
    ensure_ledger,
    post_transactions,
)
from folio.shared.contracts import (
    Envelope,
    LedgerCommandRejected,
    LedgerEntryChanged,
    PaymentAuthorized,
    PaymentFailed,
    PaymentRefunded,
    PaymentVerified,
    RenewalRequested,
)


class EntryNotFound(ReceivableError):
    code = "ENTRY_NOT_FOUND"


class VersionConflict(ReceivableError):
    code = "VERSION_CONFLICT"


@dataclass(frozen=True)
class JournalConfig:
    ledger: str
    policy: OverdraftPolicy


def entry_changed_event(
    entry: Entry, changed_at: datetime, payment_verified_at: datetime | None = None
) -> LedgerEntryChanged:
    return LedgerEntryChanged(
        entry_id=entry.entry_id,
        invoice_number=entry.invoice_number,
        entry_type=entry.entry_type.value,
        status=entry.status.value,
        amount_minor=entry.amount_minor,
        paid_minor=entry.paid_minor,
        refunded_minor=entry.refunded_minor,
        currency=entry.currency,
        due_date=entry.due_date,
        building_id=entry.building_id,
        unit_id=entry.unit_id,
        booking_id=entry.booking_id,
        extension_id=entry.extension_id,
        parent_entry_id=entry.parent_entry_id,
        paid_at=entry.paid_at,
        payment_verified_at=payment_verified_at,
        version=entry.state_version,
        changed_at=changed_at,
    )


def _rejection(
    envelope: Envelope | None,
    event_type: str,
    code: str,
    reason: str,
    *,
    reference: str | None = None,
    invoice_number: str | None = None,
    duplicate: bool = False,
) -> dict:
    return {
        "source_event_id": envelope.event_id if envelope else None,
        "source_event_type": event_type,
        "reference": reference,
        "invoice_number": invoice_number,
        "code": code,
        "reason": reason,
        "duplicate": duplicate,
        "payload": envelope.data if envelope else {},
    }


async def record_rejections(uow, rejections: list[dict]) -> None:
    """Keep refused commands with their reason and announce them."""
    await uow.entries.insert_rejections(rejections)
    for r in rejections:
        uow.emit(
            LedgerCommandRejected(
                source_event_id=str(r["source_event_id"] or ""),
                source_event_type=r["source_event_type"],
                reference=r["reference"],
                invoice_number=r["invoice_number"],
                code=r["code"],
                reason=r["reason"],
                duplicate=r["duplicate"],
            )
        )


# --- admin commands ------------------------------------------------------------


@dataclass(frozen=True)
class CreateEntry:
    entry_type: EntryType
    amount_minor: int
    currency: str
    due_date: date | None = None
    building_id: str | None = None
    unit_id: str | None = None
    booking_id: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    extension_id: str | None = None


async def create_entry(cmd: CreateEntry, uow, actor: str) -> Entry:
    """A new charge with the next invoice number of the current year, DUE."""
    validate_new_entry(cmd.entry_type, cmd.amount_minor)
    now = await uow.now()
    entry = Entry(
        entry_id=str(uuid.uuid4()),
        invoice_number=await uow.entries.next_invoice_number(now.year),
        entry_type=cmd.entry_type,
        status=EntryStatus.DUE,
        amount_minor=cmd.amount_minor,
        currency=cmd.currency,
        due_date=cmd.due_date,
        building_id=cmd.building_id,
        unit_id=cmd.unit_id,
        booking_id=cmd.booking_id,
        extension_id=cmd.extension_id,
        description=cmd.description,
        metadata=dict(cmd.metadata),
    )
    await uow.entries.insert(entry)
    uow.emit(entry_changed_event(entry, now))
    await uow.audit(actor, "entry.create", "entry", entry.entry_id, _audit_details(entry))
    return entry


def _audit_details(entry: Entry, **extra) -> dict:
    return {
        "invoice_number": entry.invoice_number,
        "status": entry.status.value,
        "amount_minor": entry.amount_minor,
        "currency": entry.currency,
        **extra,
    }


async def _load(uow, entry_id: str) -> Entry:
    entry = await uow.entries.get(entry_id, for_update=True)
    if entry is None:
        raise EntryNotFound(f"no entry {entry_id}")
    return entry


async def _load_with_parent(uow, entry_id: str) -> tuple[Entry, Entry | None]:
    """The entry and, for a child, its parent, both locked parent first (the order every
    writer of a charge's children uses, so two writers cannot deadlock on them)."""
    seen = await uow.entries.get(entry_id)
    if seen is None:
        raise EntryNotFound(f"no entry {entry_id}")
    parent = await _load(uow, seen.parent_entry_id) if seen.parent_entry_id else None
    return await _load(uow, entry_id), parent


async def _check_adjusted_total(
    uow,
    charge: Entry,
    *,
    charge_amount: int | None = None,
    adjustment: Entry | None = None,
    adjustment_amount: int = 0,
) -> None:
    """The charge (locked) and its adjustments, with ``adjustment`` counted at
    ``adjustment_amount`` (0: voided or not yet existing), stay in range."""
    others = await uow.entries.adjustments_total(
        charge.entry_id, excluding=adjustment.entry_id if adjustment else None
    )
    check_charge_total(
        charge.amount_minor if charge_amount is None else charge_amount,
        others + adjustment_amount,
    )


async def set_status_by_admin(
    uow, entry_id: str, target: EntryStatus, actor: str, reason: str | None = None
) -> Entry:
    entry, parent = await _load_with_parent(uow, entry_id)
    updated = change_status(entry, target, Actor.ADMIN)
    if parent is not None and entry.entry_type is EntryType.ADJUSTMENT:
        if target is EntryStatus.VOID and entry.amount_minor > 0:
            # voiding a fee must not leave the credits larger than the charge
            await _check_adjusted_total(uow, parent, adjustment=entry)
    now = await uow.now()
    await uow.entries.save_states([updated], now)
    uow.emit(entry_changed_event(updated, now))
    await uow.audit(
        actor,
        "entry.status",
        "entry",
        entry_id,
        _audit_details(updated, previous_status=entry.status.value, reason=reason),
    )
    return updated


@dataclass(frozen=True)
class EditEntry:
    amount_minor: int | None = None
    due_date: date | None = None
    description: str | None = None
    building_id: str | None = None
    unit_id: str | None = None
    booking_id: str | None = None
    expected_version: int | None = None
    fields_set: frozenset[str] = frozenset()


async def edit_entry(uow, entry_id: str, cmd: EditEntry, actor: str) -> Entry:
    """Edit descriptive fields of an open entry; PAID/REFUNDED entries refuse (409)."""
    entry, parent = await _load_with_parent(uow, entry_id)
    check_editable(entry)
    if cmd.expected_version is not None and cmd.expected_version != entry.version:
        raise VersionConflict(f"entry is at version {entry.version}, not {cmd.expected_version}")
    changes = {name: getattr(cmd, name) for name in cmd.fields_set if name != "expected_version"}
    if "amount_minor" in changes:
        if changes["amount_minor"] is None:
            raise InvalidEntry("amount_minor cannot be null")
        if entry.entry_type is not EntryType.ADJUSTMENT and changes["amount_minor"] <= 0:
            raise InvalidEntry("amount_minor must be positive")
        if entry.net_paid_minor > 0 and changes["amount_minor"] <= entry.net_paid_minor:
            # only a verified payment may settle an entry; an edit must leave it open
            raise InvalidEntry("amount_minor must stay above what was already paid")
        if entry.entry_type is EntryType.ADJUSTMENT:
            if changes["amount_minor"] == 0:
                raise InvalidEntry("an adjustment of zero changes nothing")
            if parent is not None and entry.status is not EntryStatus.VOID:
                await _check_adjusted_total(
                    uow, parent, adjustment=entry, adjustment_amount=changes["amount_minor"]
                )
        elif parent is None:
            await _check_adjusted_total(uow, entry, charge_amount=changes["amount_minor"])
    updated = replace(entry, **changes, version=entry.version + 1)
    now = await uow.now()
    await uow.entries.update_fields(updated, now)
    uow.emit(entry_changed_event(updated, now))
    await uow.audit(
        actor,
        "entry.edit",
        "entry",
        entry_id,
        _audit_details(updated, changes={k: str(v) for k, v in changes.items()}),
    )
    return updated


async def create_adjustment(
    uow,
    parent_id: str,
    amount_minor: int,
    actor: str,
    reason: str | None = None,
    due_date: date | None = None,
) -> Entry:
    """ADJUSTMENT child (seed: corrections are child entries; allowed on PAID parents).
    The charge with all its adjustments is never owed below zero."""
    parent = await _load(uow, parent_id)
    validate_adjustment(parent, amount_minor, parent.currency)
    await _check_adjusted_total(uow, parent, adjustment_amount=amount_minor)
    child = await _new_child(uow, parent, EntryType.ADJUSTMENT, amount_minor, reason, due_date)
    await uow.entries.insert(child)
    now = await uow.now()
    uow.emit(entry_changed_event(child, now))
    await uow.audit(
        actor,
        "entry.adjustment",
        "entry",
        parent_id,
        _audit_details(child, parent_entry_id=parent_id, reason=reason),
    )
    return child


async def _new_child(
    uow,
    parent: Entry,
    entry_type: EntryType,
    amount_minor: int,
    description: str | None,
    due_date: date | None = None,
) -> Entry:
    now = await uow.now()
    return Entry(
        entry_id=str(uuid.uuid4()),
        invoice_number=await uow.entries.next_invoice_number(now.year),
        entry_type=entry_type,
        status=initial_child_status(entry_type, amount_minor),
        amount_minor=amount_minor,
        currency=parent.currency,
        due_date=child_due_date(entry_type, parent.due_date, now.date(), due_date),
        building_id=parent.building_id,
        unit_id=parent.unit_id,
        booking_id=parent.booking_id,
        parent_entry_id=parent.entry_id,
        description=description,
    )


@dataclass(frozen=True)
class RefundResult:
    parent: Entry
    refund: Entry | None
    duplicate: bool = False


async def refund_entry(
    uow,
    parent: Entry,
    amount_minor: int,
    currency: str,
    journal: JournalConfig,
    *,
    external_ref: str,
    description: str | None = None,
    source_event_id: uuid.UUID | None = None,
    due_date: date | None = None,
) -> RefundResult:
    """The one refund path (admin or provider): a REFUND child, the journal movement
    back out of the invoice account, and PAID → REFUNDED when everything is returned.
    ``external_ref`` is unique in the database: a refund id is applied once."""
    if await uow.entries.external_ref_exists(external_ref):
        return RefundResult(parent, None, duplicate=True)
    outcome = apply_refund(parent, amount_minor, currency)
    child = await _new_child(uow, parent, EntryType.REFUND, amount_minor, description, due_date)
    await uow.entries.insert(child, external_ref=external_ref)
    now = await uow.now()
    await ensure_ledger(uow, journal.ledger)
    [posted] = await post_transactions(
        uow,
        journal.ledger,
        [
            NewTransaction(
                postings=bookkeeping.refund_postings(parent.invoice_number, amount_minor, currency),
                reference=external_ref,
                metadata={"invoice_number": parent.invoice_number, "entry_id": child.entry_id},
                source_event_id=source_event_id,
            )
        ],
        journal.policy,
    )
    if isinstance(posted, JournalError):
        raise posted  # the receivable rules already guard this; never half-apply
    updated_parent = outcome.parent
    if outcome.parent_fully_refunded:
        await uow.entries.save_states([updated_parent], now)
    uow.emit(entry_changed_event(child, now))
    uow.emit(entry_changed_event(updated_parent, now))
    return RefundResult(updated_parent, child)


async def refund_by_admin(
    uow,
    parent_id: str,
    amount_minor: int,
    actor: str,
    journal: JournalConfig,
    reason: str | None = None,
    *,
    due_date: date | None = None,
) -> RefundResult:
    parent = await _load(uow, parent_id)
    request_id = str(uuid.uuid4())
    result = await refund_entry(
        uow,
        parent,
        amount_minor,
        parent.currency,
        journal,
        external_ref=bookkeeping.refund_reference("admin", request_id),
        description=reason,
        due_date=due_date,
    )
    await uow.audit(
        actor,
        "entry.refund",
        "entry",
        parent_id,
        _audit_details(
            result.parent,
            refund_entry_id=result.refund.entry_id if result.refund else None,
            refund_amount_minor=amount_minor,
            reason=reason,
        ),
    )
    return result


# --- event reactions --------------------------------------------------------------


async def when_payments_verified(envelopes: list[Envelope], uow, journal: JournalConfig) -> None:
    """Apply a batch of verified payments set-wise (the only path to PAID).

    One lock query for the batch's entries (in invoice order), one insert for the
    payment records, one update for the entries, one journal write.
    """
    events = [(env, env.payload()) for env in envelopes]
    payments: list[tuple[Envelope, PaymentVerified]] = [
        (env, p) for env, p in events if isinstance(p, PaymentVerified)
    ]
    keys = [(p.provider, p.provider_payment_id, p.capture_id or "") for _, p in payments]
    seen = await uow.entries.existing_payment_keys(keys)
    entries = await uow.entries.lock_by_invoice_numbers([p.invoice_number for _, p in payments])
    now = await uow.now()
    payment_rows: list[dict] = []
    rejections: list[dict] = []
    changed: dict[str, Entry] = {}
    received_at: dict[str, datetime] = {}  # entry → latest verified_at applied (KPIs date by it)
    candidates: list[NewTransaction] = []
    for env, p in payments:
        key = (p.provider, p.provider_payment_id, p.capture_id or "")
        if key in seen:
            rejections.append(
                _rejection(
                    env,
                    "payment.verified",
                    "DUPLICATE_PAYMENT",
                    "this provider payment was already recorded",
                    invoice_number=p.invoice_number,
                    duplicate=True,
                )
            )
            continue
        seen.add(key)
        row = {
            "provider": p.provider,
            "provider_payment_id": p.provider_payment_id,
            "capture_key": p.capture_id or "",
            "provider_event_id": p.provider_event_id,
            "source_event_id": env.event_id,
            "invoice_number": p.invoice_number,
            "entry_id": None,
            "amount_minor": p.amount_minor,
            "currency": p.currency,
            "applied": False,
            "overpaid_minor": 0,
            "reason_code": None,
            "reason": None,
            "method": p.method,
            "verified_at": p.verified_at,
        }
        entry = entries.get(p.invoice_number)
        if entry is None:
            code, reason = "UNKNOWN_INVOICE", f"no entry with invoice number {p.invoice_number}"
        else:
            row["entry_id"] = uuid.UUID(entry.entry_id)
            try:
                outcome = apply_verified_payment(entry, p.amount_minor, p.currency, p.verified_at)
            except ReceivableError as exc:
                code, reason = exc.code, exc.message
            else:
                code = reason = None
                entries[p.invoice_number] = outcome.entry
                changed[entry.entry_id] = outcome.entry
                received_at[entry.entry_id] = max(
                    p.verified_at, received_at.get(entry.entry_id, p.verified_at)
                )
                row.update(applied=True, overpaid_minor=outcome.overpaid_minor)
                if outcome.overpaid_minor:
                    row.update(reason_code="OVERPAID", reason="payment exceeds the amount due")
                candidates.append(
                    NewTransaction(
                        postings=bookkeeping.payment_postings(
                            p.invoice_number, p.amount_minor, p.currency
                        ),
                        timestamp=p.verified_at,
                        reference=bookkeeping.payment_reference(
                            p.provider, p.provider_payment_id, p.capture_id
                        ),
                        metadata={
                            "invoice_number": p.invoice_number,
                            "entry_id": entry.entry_id,
                            "provider": p.provider,
                        },
                        source_event_id=env.event_id,
                    )
                )
        if code is not None:
            row.update(reason_code=code, reason=reason)
            rejections.append(
                _rejection(env, "payment.verified", code, reason, invoice_number=p.invoice_number)
            )
        payment_rows.append(row)
    await uow.entries.insert_payments(payment_rows)
    await uow.entries.save_states(list(changed.values()), now)
    if candidates:
        await ensure_ledger(uow, journal.ledger)
        for result in await post_transactions(
            uow, journal.ledger, candidates, journal.policy, with_volumes=False
        ):
            if isinstance(result, JournalError):
                # The payments table already deduplicates; a journal refusal here is a bug.
                raise result
    for entry in changed.values():
        uow.emit(entry_changed_event(entry, now, received_at[entry.entry_id]))
    applied = sorted(
        {(r["provider"], r["provider_payment_id"]) for r in payment_rows if r["applied"]}
    )
    rejections += await _release_parked_refunds(uow, applied, entries, journal)
    await record_rejections(uow, rejections)


async def _release_parked_refunds(
    uow, keys: list[tuple[str, str]], entries: dict[str, Entry], journal: JournalConfig
) -> list[dict]:
    """Apply refunds that arrived before the payments just applied (out-of-order delivery)."""
    rejections: list[dict] = []
    for parked in await uow.entries.release_parked_refunds(keys):
        parent = entries.get(parked.invoice_number)
        if parent is None:
            continue
        try:
            result = await refund_entry(
                uow,
                parent,
                parked.amount_minor,
                parked.currency,
                journal,
                external_ref=bookkeeping.refund_reference(parked.provider, parked.refund_id),
                description=parked.reason,
                source_event_id=parked.source_event_id,
            )
        except ReceivableError as exc:
            rejections.append(
                _rejection(
                    None,
                    "payment.refunded",
                    exc.code,
                    exc.message,
                    reference=bookkeeping.refund_reference(parked.provider, parked.refund_id),
                    invoice_number=parked.invoice_number,
                )
            )
            continue
        entries[parked.invoice_number] = result.parent
    return rejections


async def when_payment_authorized(envelope: Envelope, uow) -> None:
    """A verified provider event says funds are authorized, not yet captured: DUE (or
    FAILED, a new attempt) → PENDING (seed: a webhook may set PENDING).

    ``payment.authorized``, ``payment.verified`` and ``payment.failed`` travel on
    different topics, so they may arrive in any order; each handler locks the entry
    first, so they are applied one after the other, and the outcome is the one of
    the provider's order:

    - the payment was already captured (``payments``): the authorization is stale,
      nothing changes (a PAID entry stays PAID);
    - the payment already failed (``payment_failures``): DUE → PENDING → FAILED, as if
      the failure had come second;
    - the entry is PENDING already: nothing changes;
    - otherwise the matrix decides (PAID/REFUNDED/VOID: kept as a rejection).
    """
    p = envelope.payload()
    assert isinstance(p, PaymentAuthorized)
    entries = await uow.entries.lock_by_invoice_numbers([p.invoice_number])
    entry = entries.get(p.invoice_number)
    if entry is None:
        code, reason = "UNKNOWN_INVOICE", f"no entry with invoice number {p.invoice_number}"
    elif p.currency is not None and entry.currency != p.currency:
        code = "CURRENCY_MISMATCH"
        reason = f"authorization in {p.currency} for an entry in {entry.currency}"
    elif entry.status is EntryStatus.PENDING or await uow.entries.has_payment(
        p.provider, p.provider_payment_id
    ):
        return
    else:
        failed_already = await uow.entries.has_failure(p.provider, p.provider_payment_id)
        if failed_already and entry.status is not EntryStatus.DUE:
            return  # FAILED stays FAILED; the failure was applied or refused before
        try:
            steps = [change_status(entry, EntryStatus.PENDING, Actor.WEBHOOK)]
            if failed_already:
                steps.append(change_status(steps[-1], EntryStatus.FAILED, Actor.WEBHOOK))
        except ReceivableError as exc:
            code, reason = exc.code, exc.message
        else:
            now = await uow.now()
            for step in steps:  # one edge at a time, as the database's guard checks them
                await uow.entries.save_states([step], now)
                uow.emit(entry_changed_event(step, now))
            await uow.audit(
                "event:payment.authorized",
                "entry.status",
                "entry",
                entry.entry_id,
                _audit_details(
                    steps[-1],
                    previous_status=entry.status.value,
                    provider=p.provider,
                    provider_payment_id=p.provider_payment_id,
                ),
            )
            return
    await record_rejections(
        uow,
        [_rejection(envelope, "payment.authorized", code, reason, invoice_number=p.invoice_number)],
    )


async def when_payment_failed(envelope: Envelope, uow) -> None:
    """PENDING → FAILED where the matrix allows; anything else is kept as a rejection.
    The failure is remembered, so its authorization arriving later is known as stale."""
    p = envelope.payload()
    assert isinstance(p, PaymentFailed)
    entries = await uow.entries.lock_by_invoice_numbers([p.invoice_number])
    entry = entries.get(p.invoice_number)
    if entry is not None:
        await uow.entries.record_failure(
            {
                "provider": p.provider,
                "provider_payment_id": p.provider_payment_id,
                "invoice_number": p.invoice_number,
                "source_event_id": envelope.event_id,
                "reason": p.reason,
                "failed_at": p.failed_at,
            }
        )
    if entry is None:
        await record_rejections(
            uow,
            [
                _rejection(
                    envelope,
                    "payment.failed",
                    "UNKNOWN_INVOICE",
                    f"no entry with invoice number {p.invoice_number}",
                    invoice_number=p.invoice_number,
                )
            ],
        )
        return
    try:
        updated = change_status(entry, EntryStatus.FAILED, Actor.WEBHOOK)
    except ReceivableError as exc:
        await record_rejections(
            uow,
            [
                _rejection(
                    envelope,
                    "payment.failed",
                    exc.code,
                    exc.message,
                    invoice_number=p.invoice_number,
                )
            ],
        )
        return
    now = await uow.now()
    await uow.entries.save_states([updated], now)
    uow.emit(entry_changed_event(updated, now))


async def when_payment_refunded(envelope: Envelope, uow, journal: JournalConfig) -> None:
    """A provider refund: REFUND child + journal reversal, each refund id applied once."""
    p = envelope.payload()
    assert isinstance(p, PaymentRefunded)
    entries = await uow.entries.lock_by_invoice_numbers([p.invoice_number])
    parent = entries.get(p.invoice_number)
    external_ref = bookkeeping.refund_reference(p.provider, p.refund_id)
    if parent is None:
        code, reason = "UNKNOWN_INVOICE", f"no entry with invoice number {p.invoice_number}"
    else:
        try:
            result = await refund_entry(
                uow,
                parent,
                p.amount_minor,
                p.currency,
                journal,
                external_ref=external_ref,
                description=p.reason,
                source_event_id=envelope.event_id,
            )
        except RefundExceedsPaid as exc:
            if parent.status is EntryStatus.REFUNDED or await uow.entries.has_payment(
                p.provider, p.provider_payment_id
            ):
                # nothing is left to refund, or the payment is there: a refusal, not a wait
                code, reason = exc.code, exc.message
            else:
                # The refund overtook its payment: keep it until the payment is applied.
                await uow.entries.park_refund(
                    {
                        "provider": p.provider,
                        "provider_payment_id": p.provider_payment_id,
                        "refund_id": p.refund_id,
                        "invoice_number": p.invoice_number,
                        "amount_minor": p.amount_minor,
                        "currency": p.currency,
                        "reason": p.reason,
                        "source_event_id": envelope.event_id,
                    }
                )
                return
        except ReceivableError as exc:
            code, reason = exc.code, exc.message
        else:
            if not result.duplicate:
                return
            code, reason = "DUPLICATE_REFUND", f"refund {p.refund_id} was already applied"
    await record_rejections(
        uow,
        [
            _rejection(
                envelope,
                "payment.refunded",
                code,
                reason,
                reference=external_ref,
                invoice_number=p.invoice_number,
                duplicate=code == "DUPLICATE_REFUND",
            )
        ],
    )


async def when_renewal_requested(envelope: Envelope, uow) -> None:
    """A RENEWAL_RENT invoice (DUE) tied to the extension; one per extension."""
    p = envelope.payload()
    assert isinstance(p, RenewalRequested)
    if await uow.entries.by_extension(p.extension_id) is not None:
        return
    await create_entry(
        CreateEntry(
            entry_type=EntryType.RENEWAL_RENT,
            amount_minor=p.amount_minor,
            currency=p.currency,
            due_date=p.due_date,
            building_id=p.building_id,
            unit_id=p.unit_id,
            booking_id=p.booking_id,
            extension_id=p.extension_id,
            metadata={"new_end_date": p.new_end_date.isoformat()},
        ),
        uow,
        actor="event:renewal.requested",
    )
