"""Receivables: the seed's ``payment_ledger`` entries and their rules (seed 003 §3, §5).

Pure: no I/O. The rules here are the single source of truth for the status
transition matrix, the admin-vs-webhook permission table, payment application,
refunds and adjustments; the database triggers only back up immutability.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum


class EntryType(StrEnum):
    RENT = "RENT"
    RENEWAL_RENT = "RENEWAL_RENT"
    PROTECTION_FEE = "PROTECTION_FEE"
    DEPOSIT = "DEPOSIT"
    CLEANING = "CLEANING"
    PENALTY = "PENALTY"
    REFUND = "REFUND"
    ADJUSTMENT = "ADJUSTMENT"


class EntryStatus(StrEnum):
    DUE = "DUE"
    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"
    VOID = "VOID"


class Actor(StrEnum):
    """Who asks for a status change: the admin UI/API or a verified provider event."""

    ADMIN = "admin"
    WEBHOOK = "webhook"


S = EntryStatus

#: Seed 003 §3 "Status Transition Matrix", exactly.
TRANSITIONS: dict[EntryStatus, frozenset[EntryStatus]] = {
    S.DUE: frozenset({S.PENDING, S.PAID, S.VOID}),
    S.PENDING: frozenset({S.PAID, S.FAILED, S.VOID}),
    S.PAID: frozenset({S.REFUNDED}),
    S.FAILED: frozenset({S.PENDING, S.DUE, S.VOID}),
    S.REFUNDED: frozenset(),
    S.VOID: frozenset(),
}

#: Seed 003 §3 "Admin vs Webhook Permissions": targets each actor may set.
ALLOWED_TARGETS: dict[Actor, frozenset[EntryStatus]] = {
    Actor.ADMIN: frozenset({S.DUE, S.PENDING, S.FAILED, S.VOID}),
    Actor.WEBHOOK: frozenset({S.DUE, S.PENDING, S.FAILED, S.VOID, S.PAID, S.REFUNDED}),
}

#: Entries in these states accept no field edits and no status change except PAID→REFUNDED.
IMMUTABLE_STATUSES: frozenset[EntryStatus] = frozenset({S.PAID, S.REFUNDED})

#: Payments may be applied to entries in these states (the matrix's sources of PAID).
PAYABLE_STATUSES: frozenset[EntryStatus] = frozenset(
    s for s, t in TRANSITIONS.items() if S.PAID in t
)

CHILD_TYPES: frozenset[EntryType] = frozenset({EntryType.REFUND, EntryType.ADJUSTMENT})

#: The largest amount one entry, or one charge with all its adjustments, may carry:
#: far inside ``bigint`` so sums of entries never overflow a column.
MAX_AMOUNT_MINOR = 10**15

INVOICE_NUMBER_RE = re.compile(r"^INV-(\d{4})-(\d{6})$")


class ReceivableError(Exception):
    """Base of rule violations; ``code`` is stable and used in problem types and events."""

    code = "RECEIVABLE_RULE"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransitionForbidden(ReceivableError):
    """The actor may not set this status at all (seed: admin cannot set PAID/REFUNDED) → 403."""

    code = "TRANSITION_FORBIDDEN"


class TransitionNotAllowed(ReceivableError):
    """The matrix has no such edge from the current status → 409."""

    code = "TRANSITION_NOT_ALLOWED"


class EntryImmutable(ReceivableError):
    """The entry is PAID or REFUNDED and cannot be edited → 409."""

    code = "ENTRY_IMMUTABLE"


class InvalidEntry(ReceivableError):
    """Input that breaks an entry invariant (amounts, types, parent links) → 422."""

    code = "INVALID_ENTRY"


class CurrencyMismatch(ReceivableError):
    code = "CURRENCY_MISMATCH"


class EntryNotPayable(ReceivableError):
    code = "ENTRY_NOT_PAYABLE"


class RefundExceedsPaid(ReceivableError):
    code = "REFUND_EXCEEDS_PAID"


class AdjustmentOutOfRange(ReceivableError):
    """The charge with its adjustments would be owed below zero or above the maximum."""

    code = "ADJUSTMENT_OUT_OF_RANGE"


def check_transition(current: EntryStatus, target: EntryStatus, actor: Actor) -> None:
    """Raise unless ``actor`` may move an entry from ``current`` to ``target``.

    Permission is checked first (an admin asking for PAID is refused as forbidden
    whatever the current status), then immutability, then the matrix edge.
    """
    if target not in ALLOWED_TARGETS[actor]:
        raise TransitionForbidden(
            f"{actor.value} may not set status {target.value}"
            + (" (use a refund child entry)" if target is S.REFUNDED else "")
        )
    if current is S.PAID and target is S.REFUNDED:
        return  # the only change a PAID entry accepts, via the refund path
    if current in IMMUTABLE_STATUSES:
        raise EntryImmutable(f"entry is {current.value} and immutable")
    if target not in TRANSITIONS[current]:
        raise TransitionNotAllowed(f"transition {current.value} → {target.value} is not allowed")


def format_invoice_number(year: int, sequence: int) -> str:
    """``INV-<year>-<6 digits>``; the per-year sequence starts at 1."""
    if not 1 <= sequence <= 999_999:
        raise ValueError(f"invoice sequence {sequence} outside 1..999999")
    if not 1000 <= year <= 9999:
        raise ValueError(f"invoice year {year} is not four digits")
    return f"INV-{year:04d}-{sequence:06d}"


def parse_invoice_number(invoice_number: str) -> tuple[int, int]:
    """(year, sequence) of a well-formed invoice number, else ValueError."""
    match = INVOICE_NUMBER_RE.fullmatch(invoice_number)
    if not match or int(match.group(2)) == 0:
        raise ValueError(f"not an invoice number: {invoice_number!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class Entry:
    """A receivable entry's state. ``paid_minor`` accumulates applied payments;
    ``refunded_minor`` is the sum of REFUND children (derived, not edited on the parent)."""

    entry_id: str
    invoice_number: str
    entry_type: EntryType
    status: EntryStatus
    amount_minor: int
    currency: str
    due_date: date | None = None
    building_id: str | None = None
    unit_id: str | None = None
    booking_id: str | None = None
    extension_id: str | None = None
    parent_entry_id: str | None = None
    description: str | None = None
    paid_minor: int = 0
    refunded_minor: int = 0
    overpaid_minor: int = 0
    paid_at: datetime | None = None
    version: int = 1
    metadata: dict[str, str] = field(default_factory=dict)
    refund_count: int = 0

    @property
    def state_version(self) -> int:
        """Grows with every change, including refunds recorded as children of a PAID
        entry whose own row (and row version) is immutable."""
        return self.version + self.refund_count

    @property
    def is_immutable(self) -> bool:
        return self.status in IMMUTABLE_STATUSES

    @property
    def net_paid_minor(self) -> int:
        return self.paid_minor - self.refunded_minor

    @property
    def outstanding_minor(self) -> int:
        """What is still owed — one definition with the registry's KPIs and the console:
        amount - net paid on DUE and PENDING entries, 0 on every other status (a PAID,
        VOID, FAILED or REFUNDED entry is not owed). A DUE credit (negative ADJUSTMENT)
        is negative: it lowers what its parent's tenant owes."""
        if self.status not in (EntryStatus.DUE, EntryStatus.PENDING):
            return 0
        return self.amount_minor - self.net_paid_minor

    @property
    def refundable_minor(self) -> int:
        return self.paid_minor - self.refunded_minor

    def is_overdue(self, today: date) -> bool:
        """Seed KPI "Overdue Count": DUE entries past their due date."""
        return self.status is S.DUE and self.due_date is not None and self.due_date < today


def validate_new_entry(
    entry_type: EntryType, amount_minor: int, parent: Entry | None = None
) -> None:
    """Invariants of a new entry: positive amounts for charges, children need a parent."""
    if entry_type in CHILD_TYPES:
        if parent is None:
            raise InvalidEntry(f"{entry_type.value} entries need a parent entry")
        if entry_type is EntryType.ADJUSTMENT and amount_minor == 0:
            raise InvalidEntry("an adjustment of zero changes nothing")
        if entry_type is EntryType.REFUND and amount_minor <= 0:
            raise InvalidEntry("a refund amount must be positive")
    else:
        if parent is not None:
            raise InvalidEntry(f"{entry_type.value} entries cannot have a parent")
        if amount_minor <= 0:
            raise InvalidEntry("amount_minor must be positive")


def change_status(entry: Entry, target: EntryStatus, actor: Actor) -> Entry:
    """The entry with its status changed, if the matrix and permissions allow it."""
    check_transition(entry.status, target, actor)
    return replace(entry, status=target, version=entry.version + 1)


def check_editable(entry: Entry) -> None:
    """Field edits are refused on PAID/REFUNDED entries (seed: "Edit PAID entry fields")."""
    if entry.is_immutable:
        raise EntryImmutable(f"entry {entry.invoice_number} is {entry.status.value} and immutable")


@dataclass(frozen=True)
class PaymentOutcome:
    entry: Entry
    applied_minor: int
    became_paid: bool
    overpaid_minor: int


def apply_verified_payment(
    entry: Entry, amount_minor: int, currency: str, verified_at: datetime
) -> PaymentOutcome:
    """Apply a verified provider payment (the only path to PAID).

    Partial payments accumulate and leave the entry open; the payment that covers
    the outstanding amount moves it to PAID; any excess is recorded as overpaid
    and flagged rather than silently dropped.
    """
    if amount_minor <= 0:
        raise InvalidEntry("payment amount must be positive")
    if currency != entry.currency:
        raise CurrencyMismatch(
            f"payment in {currency} for an entry in {entry.currency}: not applied"
        )
    if entry.amount_minor <= 0 or entry.entry_type is EntryType.REFUND:
        raise EntryNotPayable(f"entry {entry.invoice_number} is a credit, not payable")
    if entry.status not in PAYABLE_STATUSES:
        raise EntryNotPayable(
            f"entry {entry.invoice_number} is {entry.status.value}; "
            f"a payment cannot move it to PAID"
        )
    paid = entry.paid_minor + amount_minor
    covered = paid - entry.refunded_minor >= entry.amount_minor
    if not covered:
        updated = replace(entry, paid_minor=paid, version=entry.version + 1)
        return PaymentOutcome(updated, amount_minor, False, 0)
    check_transition(entry.status, S.PAID, Actor.WEBHOOK)
    overpaid = paid - entry.refunded_minor - entry.amount_minor
    updated = replace(
        entry,
        paid_minor=paid,
        overpaid_minor=overpaid,
        status=S.PAID,
        paid_at=verified_at,
        version=entry.version + 1,
    )
    return PaymentOutcome(updated, amount_minor, True, overpaid)


@dataclass(frozen=True)
class RefundOutcome:
    parent: Entry
    refund_amount_minor: int
    parent_fully_refunded: bool


def apply_refund(parent: Entry, amount_minor: int, currency: str) -> RefundOutcome:
    """Record a refund against ``parent`` (as a REFUND child created by the caller).

    A refund never exceeds what was paid and not yet refunded; a refund that
    returns everything paid on a PAID entry moves it to REFUNDED (PAID → REFUNDED
    is the one change a PAID entry accepts).
    """
    if parent.entry_type in CHILD_TYPES:
        raise InvalidEntry("refunds attach to a charge entry, not to a child entry")
    if amount_minor <= 0:
        raise InvalidEntry("a refund amount must be positive")
    if currency != parent.currency:
        raise CurrencyMismatch(f"refund in {currency} for an entry in {parent.currency}")
    if parent.status is S.REFUNDED:
        # the same reason as any refund above what is left, so concurrent refunds that
        # lose the race to the last one all answer alike
        raise RefundExceedsPaid(
            f"entry {parent.invoice_number} is already fully refunded: nothing left to refund"
        )
    if amount_minor > parent.refundable_minor:
        raise RefundExceedsPaid(
            f"refund of {amount_minor} exceeds the refundable {parent.refundable_minor}"
        )
    refunded = parent.refunded_minor + amount_minor
    full = parent.status is S.PAID and refunded == parent.paid_minor
    if full:
        check_transition(parent.status, S.REFUNDED, Actor.WEBHOOK)
        updated = replace(
            parent,
            refunded_minor=refunded,
            refund_count=parent.refund_count + 1,
            status=S.REFUNDED,
            version=parent.version + 1,
        )
    else:
        updated = replace(parent, refunded_minor=refunded, refund_count=parent.refund_count + 1)
    return RefundOutcome(updated, amount_minor, full)


def validate_adjustment(parent: Entry, amount_minor: int, currency: str) -> None:
    """An ADJUSTMENT child corrects any charge entry, PAID ones included (seed §3 rule 4)."""
    if parent.entry_type in CHILD_TYPES:
        raise InvalidEntry("adjustments attach to a charge entry, not to a child entry")
    if currency != parent.currency:
        raise CurrencyMismatch(f"adjustment in {currency} for an entry in {parent.currency}")
    if amount_minor == 0:
        raise InvalidEntry("an adjustment of zero changes nothing")


def check_charge_total(charge_amount_minor: int, adjustments_minor: int) -> None:
    """What a charge and its (not voided) ADJUSTMENT children ask for together stays in
    0..``MAX_AMOUNT_MINOR``: a credit may waive a charge, never owe the payer money
    (that is a refund), and no total outgrows the columns that sum it."""
    total = charge_amount_minor + adjustments_minor
    if total < 0:
        raise AdjustmentOutOfRange(
            f"the adjustments would bring the amount owed to {total}; "
            f"a credit can bring it to 0 at most (charge {charge_amount_minor}, "
            f"adjustments {adjustments_minor})"
        )
    if total > MAX_AMOUNT_MINOR:
        raise AdjustmentOutOfRange(
            f"the adjustments would bring the amount owed to {total}, above {MAX_AMOUNT_MINOR}"
        )


def child_due_date(
    entry_type: EntryType, parent_due: date | None, today: date, requested: date | None
) -> date | None:
    """The due date of a new child: the one asked for; else a REFUND keeps its parent's;
    an ADJUSTMENT is due with its parent but never before today, so a fee added to an
    invoice already past due is not overdue the moment it exists."""
    if requested is not None:
        return requested
    if entry_type is EntryType.ADJUSTMENT and parent_due is not None:
        return max(parent_due, today)
    return parent_due


def initial_child_status(entry_type: EntryType, amount_minor: int) -> EntryStatus:
    """REFUND children record money already returned (terminal REFUNDED); adjustments
    are open charges or credits (DUE) that follow the normal matrix."""
    if entry_type is EntryType.REFUND:
        return S.REFUNDED
    return S.DUE
