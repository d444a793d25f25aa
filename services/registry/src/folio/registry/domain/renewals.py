"""Renewal eligibility and the booking-extension state machine (seed 003 §2).

Beds24-controlled unit: the extension starts PENDING_APPROVAL with
``requires_beds24_update``; an admin approves it only with a non-empty
``beds24_change_note`` saying what they changed in Beds24 by hand. Folio never
writes to Beds24.

LOCAL unit: the extension starts PAYMENT_PENDING, the ledger issues a
RENEWAL_RENT invoice, and the extension becomes ACTIVE when that entry is PAID.
"""

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from folio.registry.domain.units import BookingStatus


class ExtensionStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PAYMENT_PENDING = "PAYMENT_PENDING"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


OPEN_EXTENSION_STATUSES = frozenset(
    {ExtensionStatus.PENDING_APPROVAL, ExtensionStatus.PAYMENT_PENDING}
)
TERMINAL_EXTENSION_STATUSES = frozenset(
    {ExtensionStatus.ACTIVE, ExtensionStatus.REJECTED, ExtensionStatus.CANCELLED}
)


class ExtensionError(Exception):
    """A transition the state machine forbids (mapped to 409) ..."""

    code = "EXTENSION_TRANSITION_FORBIDDEN"


class ChangeNoteRequired(ExtensionError):
    """... or a Beds24 approval without a change note (mapped to 422)."""

    code = "BEDS24_CHANGE_NOTE_REQUIRED"


@dataclass(frozen=True)
class BookingTerms:
    """What eligibility needs to know about a booking."""

    status: BookingStatus
    end_date: date
    renewals_used: int
    max_renewals: int
    renewal_window_days: int


class IneligibilityReason(StrEnum):
    BOOKING_NOT_CONFIRMED = "BOOKING_NOT_CONFIRMED"
    NO_RENEWALS_LEFT = "NO_RENEWALS_LEFT"
    BEFORE_RENEWAL_WINDOW = "BEFORE_RENEWAL_WINDOW"
    BOOKING_ENDED = "BOOKING_ENDED"
    EXTENSION_ALREADY_OPEN = "EXTENSION_ALREADY_OPEN"


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reasons: tuple[IneligibilityReason, ...]
    window_opens_on: date


def renewal_window_opens_on(terms: BookingTerms) -> date:
    return terms.end_date - timedelta(days=terms.renewal_window_days)


def renewal_eligibility(
    terms: BookingTerms, *, today: date, has_open_extension: bool = False
) -> Eligibility:
    """Eligible when renewals used < max and ``opens_on <= today < end_date``.

    ``today`` is the local date in the building's timezone. The window is
    ``renewal_window_days`` long and closes when the booking ends (its end date
    is the check-out day, so on that day it is too late to renew).
    """
    reasons: list[IneligibilityReason] = []
    opens_on = renewal_window_opens_on(terms)
    if terms.status != BookingStatus.CONFIRMED:
        reasons.append(IneligibilityReason.BOOKING_NOT_CONFIRMED)
    if terms.renewals_used >= terms.max_renewals:
        reasons.append(IneligibilityReason.NO_RENEWALS_LEFT)
    if today < opens_on:
        reasons.append(IneligibilityReason.BEFORE_RENEWAL_WINDOW)
    if today >= terms.end_date:
        reasons.append(IneligibilityReason.BOOKING_ENDED)
    if has_open_extension:
        reasons.append(IneligibilityReason.EXTENSION_ALREADY_OPEN)
    return Eligibility(not reasons, tuple(reasons), opens_on)


def add_months(start: date, months: int) -> date:
    """Calendar months later, clamped to the month's last day (Jan 31 + 1 → Feb 28/29)."""
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


@dataclass(frozen=True)
class Extension:
    """A booking extension; transitions return a new value or raise ExtensionError."""

    status: ExtensionStatus
    requires_beds24_update: bool
    previous_end_date: date
    new_end_date: date
    amount_minor: int
    ledger_entry_id: str | None = None
    beds24_change_note: str | None = None
    decision_reason: str | None = None

    @classmethod
    def open(
        cls,
        *,
        beds24_controlled: bool,
        previous_end_date: date,
        new_end_date: date,
        amount_minor: int,
    ) -> "Extension":
        if new_end_date <= previous_end_date:
            raise ExtensionError("an extension must move the end date later")
        if amount_minor < 0:
            raise ExtensionError("amount must not be negative")
        if not beds24_controlled and amount_minor == 0:
            raise ExtensionError("a LOCAL renewal needs a positive amount to invoice")
        status = (
            ExtensionStatus.PENDING_APPROVAL
            if beds24_controlled
            else ExtensionStatus.PAYMENT_PENDING
        )
        return cls(
            status=status,
            requires_beds24_update=beds24_controlled,
            previous_end_date=previous_end_date,
            new_end_date=new_end_date,
            amount_minor=amount_minor,
        )

    def approve(self, beds24_change_note: str | None) -> "Extension":
        """Admin approval of a Beds24 extension; the note documents the manual Beds24 change."""
        if self.status != ExtensionStatus.PENDING_APPROVAL:
            raise ExtensionError(f"cannot approve an extension that is {self.status}")
        note = (beds24_change_note or "").strip()
        if not note:
            raise ChangeNoteRequired("approving a Beds24 extension needs a beds24_change_note")
        return replace(self, status=ExtensionStatus.ACTIVE, beds24_change_note=note)

    def reject(self, reason: str | None = None) -> "Extension":
        if self.status != ExtensionStatus.PENDING_APPROVAL:
            raise ExtensionError(f"cannot reject an extension that is {self.status}")
        return replace(self, status=ExtensionStatus.REJECTED, decision_reason=reason)

    def cancel(self, reason: str | None = None) -> "Extension":
        if self.status not in OPEN_EXTENSION_STATUSES:
            raise ExtensionError(f"cannot cancel an extension that is {self.status}")
        return replace(self, status=ExtensionStatus.CANCELLED, decision_reason=reason)

    def attach_invoice(self, ledger_entry_id: str) -> "Extension":
        """Record the RENEWAL_RENT entry the ledger created; idempotent for the same id."""
        if self.requires_beds24_update:
            raise ExtensionError("Beds24 extensions are not invoiced by Folio")
        if self.ledger_entry_id not in (None, ledger_entry_id):
            raise ExtensionError("extension already has a different renewal invoice")
        return replace(self, ledger_entry_id=ledger_entry_id)

    def activate_on_payment(self, ledger_entry_id: str) -> "Extension":
        """The RENEWAL_RENT entry turned PAID. Already ACTIVE with that entry → unchanged."""
        if self.status == ExtensionStatus.ACTIVE and self.ledger_entry_id == ledger_entry_id:
            return self
        if self.status != ExtensionStatus.PAYMENT_PENDING:
            raise ExtensionError(f"cannot activate an extension that is {self.status}")
        attached = self.attach_invoice(ledger_entry_id)
        return replace(attached, status=ExtensionStatus.ACTIVE)
