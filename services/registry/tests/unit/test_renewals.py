"""Renewal eligibility and the extension state machine (seed 003 §2)."""

from datetime import date

import pytest

from folio.registry.domain.renewals import (
    BookingTerms,
    ChangeNoteRequired,
    Extension,
    ExtensionError,
    ExtensionStatus,
    IneligibilityReason,
    add_months,
    renewal_eligibility,
)
from folio.registry.domain.units import BookingStatus

TERMS = BookingTerms(
    status=BookingStatus.CONFIRMED,
    end_date=date(2026, 4, 1),
    renewals_used=0,
    max_renewals=2,
    renewal_window_days=14,
)


def test_window_opens_window_days_before_end_and_closes_on_end_date():
    # 2026-04-01 minus 14 days = 2026-03-18.
    assert not renewal_eligibility(TERMS, today=date(2026, 3, 17)).eligible
    assert renewal_eligibility(TERMS, today=date(2026, 3, 18)).eligible
    assert renewal_eligibility(TERMS, today=date(2026, 3, 31)).eligible
    ended = renewal_eligibility(TERMS, today=date(2026, 4, 1))
    assert not ended.eligible
    assert ended.reasons == (IneligibilityReason.BOOKING_ENDED,)
    early = renewal_eligibility(TERMS, today=date(2026, 3, 1))
    assert early.reasons == (IneligibilityReason.BEFORE_RENEWAL_WINDOW,)
    assert early.window_opens_on == date(2026, 3, 18)


def test_renewals_used_must_be_below_max():
    one_left = TERMS.__class__(**{**TERMS.__dict__, "renewals_used": 1})
    none_left = TERMS.__class__(**{**TERMS.__dict__, "renewals_used": 2})
    assert renewal_eligibility(one_left, today=date(2026, 3, 20)).eligible
    result = renewal_eligibility(none_left, today=date(2026, 3, 20))
    assert result.reasons == (IneligibilityReason.NO_RENEWALS_LEFT,)


def test_zero_max_renewals_never_eligible_and_reasons_accumulate():
    terms = BookingTerms(BookingStatus.CANCELLED, date(2026, 4, 1), 0, 0, 14)
    result = renewal_eligibility(terms, today=date(2026, 3, 1), has_open_extension=True)
    assert set(result.reasons) == {
        IneligibilityReason.BOOKING_NOT_CONFIRMED,
        IneligibilityReason.NO_RENEWALS_LEFT,
        IneligibilityReason.BEFORE_RENEWAL_WINDOW,
        IneligibilityReason.EXTENSION_ALREADY_OPEN,
    }


def test_add_months_clamps_to_month_end_including_leap_february():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert add_months(date(2026, 12, 1), 12) == date(2027, 12, 1)


def beds24_extension() -> Extension:
    return Extension.open(
        beds24_controlled=True,
        previous_end_date=date(2026, 4, 1),
        new_end_date=date(2026, 5, 1),
        amount_minor=0,
    )


def local_extension() -> Extension:
    return Extension.open(
        beds24_controlled=False,
        previous_end_date=date(2026, 4, 1),
        new_end_date=date(2026, 5, 1),
        amount_minor=450000,
    )


def test_beds24_extension_starts_pending_approval_and_requires_beds24_update():
    ext = beds24_extension()
    assert ext.status == ExtensionStatus.PENDING_APPROVAL
    assert ext.requires_beds24_update is True


@pytest.mark.parametrize("note", [None, "", "   \n\t"])
def test_beds24_approval_without_a_note_is_refused(note):
    with pytest.raises(ChangeNoteRequired):
        beds24_extension().approve(note)


def test_beds24_approval_with_note_activates_and_keeps_the_note():
    ext = beds24_extension().approve("  extended booking 123 in Beds24 to 2026-05-01 ")
    assert ext.status == ExtensionStatus.ACTIVE
    assert ext.beds24_change_note == "extended booking 123 in Beds24 to 2026-05-01"
    with pytest.raises(ExtensionError):
        ext.approve("again")


def test_local_extension_waits_for_payment_then_activates_idempotently():
    ext = local_extension()
    assert ext.status == ExtensionStatus.PAYMENT_PENDING
    assert ext.requires_beds24_update is False
    with pytest.raises(ExtensionError):
        ext.approve("a note does not apply to LOCAL units")
    invoiced = ext.attach_invoice("entry-1")
    assert invoiced.attach_invoice("entry-1") == invoiced
    with pytest.raises(ExtensionError):
        invoiced.attach_invoice("entry-2")
    active = invoiced.activate_on_payment("entry-1")
    assert active.status == ExtensionStatus.ACTIVE
    assert active.activate_on_payment("entry-1") == active  # redelivery: no change
    with pytest.raises(ExtensionError):
        active.activate_on_payment("entry-2")


def test_payment_without_prior_invoice_event_still_activates():
    active = local_extension().activate_on_payment("entry-9")
    assert (active.status, active.ledger_entry_id) == (ExtensionStatus.ACTIVE, "entry-9")


def test_rejection_and_cancellation_rules():
    rejected = beds24_extension().reject("tenant leaving")
    assert rejected.status == ExtensionStatus.REJECTED
    with pytest.raises(ExtensionError):
        rejected.approve("note")
    with pytest.raises(ExtensionError):
        local_extension().reject()  # only approvals can be rejected
    cancelled = local_extension().cancel("tenant changed mind")
    assert cancelled.status == ExtensionStatus.CANCELLED
    with pytest.raises(ExtensionError):
        cancelled.activate_on_payment("entry-1")
    with pytest.raises(ExtensionError):
        beds24_extension().approve("n").cancel()


def test_extension_must_move_end_later_and_local_needs_an_amount():
    with pytest.raises(ExtensionError):
        Extension.open(
            beds24_controlled=False,
            previous_end_date=date(2026, 4, 1),
            new_end_date=date(2026, 4, 1),
            amount_minor=100,
        )
    with pytest.raises(ExtensionError):
        Extension.open(
            beds24_controlled=False,
            previous_end_date=date(2026, 4, 1),
            new_end_date=date(2026, 5, 1),
            amount_minor=0,
        )
