"""Seed 003 §3 rules: transition matrix, admin-vs-webhook permissions, payments, refunds."""

from datetime import UTC, date, datetime
from itertools import product

import pytest

from folio.ledger.domain.receivables import (
    MAX_AMOUNT_MINOR,
    TRANSITIONS,
    Actor,
    AdjustmentOutOfRange,
    CurrencyMismatch,
    Entry,
    EntryImmutable,
    EntryNotPayable,
    EntryStatus,
    EntryType,
    InvalidEntry,
    RefundExceedsPaid,
    TransitionForbidden,
    TransitionNotAllowed,
    apply_refund,
    apply_verified_payment,
    change_status,
    check_charge_total,
    check_editable,
    check_transition,
    child_due_date,
    format_invoice_number,
    initial_child_status,
    parse_invoice_number,
    validate_adjustment,
    validate_new_entry,
)

S = EntryStatus
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

# The seed's matrix, written out independently of the implementation.
SEED_MATRIX = {
    S.DUE: {S.PENDING, S.PAID, S.VOID},
    S.PENDING: {S.PAID, S.FAILED, S.VOID},
    S.PAID: {S.REFUNDED},
    S.FAILED: {S.PENDING, S.DUE, S.VOID},
    S.REFUNDED: set(),
    S.VOID: set(),
}
ADMIN_SETTABLE = {S.DUE, S.PENDING, S.FAILED, S.VOID}


def entry(status=S.DUE, amount=10_000, paid=0, refunded=0, **kw) -> Entry:
    return Entry(
        entry_id="e1",
        invoice_number="INV-2026-000001",
        entry_type=kw.pop("entry_type", EntryType.RENT),
        status=status,
        amount_minor=amount,
        currency=kw.pop("currency", "SAR"),
        paid_minor=paid,
        refunded_minor=refunded,
        **kw,
    )


def test_matrix_is_the_seed_matrix():
    assert {k: set(v) for k, v in TRANSITIONS.items()} == SEED_MATRIX


def test_entry_types_and_statuses_are_the_seed_enums():
    assert [t.value for t in EntryType] == [
        "RENT", "RENEWAL_RENT", "PROTECTION_FEE", "DEPOSIT", "CLEANING", "PENALTY",
        "REFUND", "ADJUSTMENT",
    ]  # fmt: skip
    assert [s.value for s in EntryStatus] == [
        "DUE", "PENDING", "PAID", "FAILED", "REFUNDED", "VOID",
    ]  # fmt: skip


@pytest.mark.parametrize(("current", "target"), list(product(S, S)))
def test_admin_path_every_cell(current, target):
    if target in {S.PAID, S.REFUNDED}:
        with pytest.raises(TransitionForbidden):
            check_transition(current, target, Actor.ADMIN)
    elif current in {S.PAID, S.REFUNDED}:
        with pytest.raises(EntryImmutable):
            check_transition(current, target, Actor.ADMIN)
    elif target in SEED_MATRIX[current]:
        check_transition(current, target, Actor.ADMIN)
        assert target in ADMIN_SETTABLE
    else:
        with pytest.raises(TransitionNotAllowed):
            check_transition(current, target, Actor.ADMIN)


@pytest.mark.parametrize(("current", "target"), list(product(S, S)))
def test_webhook_path_every_cell(current, target):
    allowed = target in SEED_MATRIX[current]
    if allowed:
        check_transition(current, target, Actor.WEBHOOK)
    else:
        with pytest.raises((TransitionNotAllowed, EntryImmutable)):
            check_transition(current, target, Actor.WEBHOOK)


def test_change_status_bumps_version_and_keeps_fields():
    changed = change_status(entry(S.DUE), S.PENDING, Actor.ADMIN)
    assert changed.status is S.PENDING and changed.version == 2
    assert changed.amount_minor == 10_000


def test_paid_and_refunded_entries_refuse_edits():
    check_editable(entry(S.DUE))
    for status in (S.PAID, S.REFUNDED):
        with pytest.raises(EntryImmutable):
            check_editable(entry(status))


# --- verified payment path ----------------------------------------------------


@pytest.mark.parametrize("status", [S.DUE, S.PENDING])
def test_full_payment_marks_paid(status):
    outcome = apply_verified_payment(entry(status), 10_000, "SAR", NOW)
    assert outcome.became_paid and outcome.entry.status is S.PAID
    assert outcome.entry.paid_minor == 10_000 and outcome.entry.paid_at == NOW
    assert outcome.overpaid_minor == 0


@pytest.mark.parametrize("status", [S.FAILED, S.VOID, S.PAID, S.REFUNDED])
def test_payment_path_refused_where_matrix_has_no_paid_edge(status):
    with pytest.raises(EntryNotPayable):
        apply_verified_payment(entry(status), 10_000, "SAR", NOW)


def test_partial_payments_accumulate_and_entry_stays_open():
    first = apply_verified_payment(entry(S.DUE), 4_000, "SAR", NOW)
    assert not first.became_paid
    assert first.entry.status is S.DUE and first.entry.paid_minor == 4_000
    assert first.entry.outstanding_minor == 6_000
    second = apply_verified_payment(first.entry, 6_000, "SAR", NOW)
    assert second.became_paid and second.entry.status is S.PAID
    assert second.entry.paid_minor == 10_000


def test_overpayment_is_recorded_and_flagged():
    outcome = apply_verified_payment(entry(S.DUE, paid=9_000), 5_000, "SAR", NOW)
    assert outcome.became_paid
    assert outcome.overpaid_minor == 4_000 and outcome.entry.overpaid_minor == 4_000
    assert outcome.entry.paid_minor == 14_000


def test_wrong_currency_is_not_applied():
    with pytest.raises(CurrencyMismatch):
        apply_verified_payment(entry(S.DUE), 10_000, "AED", NOW)


def test_payment_against_a_credit_or_refund_is_refused():
    with pytest.raises(EntryNotPayable):
        apply_verified_payment(
            entry(S.DUE, amount=-500, entry_type=EntryType.ADJUSTMENT), 500, "SAR", NOW
        )


# --- refunds and adjustments ----------------------------------------------------


def test_partial_refund_keeps_parent_paid():
    outcome = apply_refund(entry(S.PAID, paid=10_000), 3_000, "SAR")
    assert not outcome.parent_fully_refunded
    assert outcome.parent.status is S.PAID and outcome.parent.refunded_minor == 3_000


def test_refunds_grow_the_state_version_even_on_an_immutable_parent():
    parent = entry(S.PAID, paid=10_000)
    partial = apply_refund(parent, 3_000, "SAR").parent
    assert partial.version == parent.version  # the PAID row itself is not edited
    assert partial.state_version == parent.state_version + 1
    full = apply_refund(partial, 7_000, "SAR").parent
    assert full.state_version > partial.state_version


def test_full_refund_moves_parent_to_refunded():
    outcome = apply_refund(entry(S.PAID, paid=10_000, refunded=3_000), 7_000, "SAR")
    assert outcome.parent_fully_refunded and outcome.parent.status is S.REFUNDED


def test_refund_never_exceeds_paid():
    with pytest.raises(RefundExceedsPaid):
        apply_refund(entry(S.PAID, paid=10_000, refunded=3_000), 7_001, "SAR")
    with pytest.raises(RefundExceedsPaid):
        apply_refund(entry(S.DUE, paid=0), 1, "SAR")


def test_refund_of_overpaid_entry_can_return_the_excess():
    paid = apply_verified_payment(entry(S.DUE), 12_000, "SAR", NOW).entry
    outcome = apply_refund(paid, 2_000, "SAR")
    assert outcome.parent.status is S.PAID and outcome.parent.refundable_minor == 10_000


def test_refund_of_a_partial_payment_keeps_entry_open():
    open_entry = apply_verified_payment(entry(S.DUE), 4_000, "SAR", NOW).entry
    outcome = apply_refund(open_entry, 4_000, "SAR")
    assert outcome.parent.status is S.DUE and outcome.parent.outstanding_minor == 10_000


def test_refund_of_refunded_entry_and_wrong_currency_refused():
    # nothing left to refund: the same reason as any refund above what is left
    with pytest.raises(RefundExceedsPaid):
        apply_refund(entry(S.REFUNDED, paid=10_000, refunded=10_000), 1, "SAR")
    with pytest.raises(CurrencyMismatch):
        apply_refund(entry(S.PAID, paid=10_000), 1, "USD")
    with pytest.raises(InvalidEntry):
        apply_refund(entry(S.PAID, paid=10_000), 0, "SAR")


def test_adjustments_attach_to_charges_even_paid_ones():
    validate_adjustment(entry(S.PAID, paid=10_000), -2_000, "SAR")
    validate_adjustment(entry(S.DUE), 500, "SAR")
    with pytest.raises(InvalidEntry):
        validate_adjustment(entry(S.DUE), 0, "SAR")
    with pytest.raises(InvalidEntry):
        validate_adjustment(entry(S.DUE, entry_type=EntryType.ADJUSTMENT), 5, "SAR")
    with pytest.raises(CurrencyMismatch):
        validate_adjustment(entry(S.DUE), 5, "KWD")


def test_new_entry_invariants():
    validate_new_entry(EntryType.RENT, 1)
    with pytest.raises(InvalidEntry):
        validate_new_entry(EntryType.RENT, 0)
    with pytest.raises(InvalidEntry):
        validate_new_entry(EntryType.ADJUSTMENT, 10)  # no parent
    with pytest.raises(InvalidEntry):
        validate_new_entry(EntryType.RENT, 10, parent=entry())
    validate_new_entry(EntryType.ADJUSTMENT, -10, parent=entry())
    with pytest.raises(InvalidEntry):
        validate_new_entry(EntryType.REFUND, -10, parent=entry())
    assert initial_child_status(EntryType.REFUND, 5) is S.REFUNDED
    assert initial_child_status(EntryType.ADJUSTMENT, 5) is S.DUE


def test_overdue_is_due_past_due_date():
    today = date(2026, 11, 21)
    assert entry(S.DUE, due_date=date(2026, 11, 20)).is_overdue(today)
    assert not entry(S.DUE, due_date=today).is_overdue(today)
    assert not entry(S.PENDING, due_date=date(2026, 1, 1)).is_overdue(today)


def test_invoice_number_format():
    assert format_invoice_number(2026, 123) == "INV-2026-000123"
    assert parse_invoice_number("INV-2026-000123") == (2026, 123)
    for bad in ("INV-2026-123", "INV-26-000123", "inv-2026-000123", "INV-2026-000000"):
        with pytest.raises(ValueError):
            parse_invoice_number(bad)
    with pytest.raises(ValueError):
        format_invoice_number(2026, 1_000_000)
    with pytest.raises(ValueError):
        format_invoice_number(2026, 0)


def test_adjustments_keep_the_charge_owed_between_zero_and_the_maximum():
    check_charge_total(600, -600)  # a credit may waive the whole charge
    check_charge_total(600, 400)
    check_charge_total(0, MAX_AMOUNT_MINOR)
    with pytest.raises(AdjustmentOutOfRange, match="to -1"):
        check_charge_total(600, -601)
    with pytest.raises(AdjustmentOutOfRange):
        check_charge_total(600, -(10**15))
    with pytest.raises(AdjustmentOutOfRange):
        check_charge_total(600, MAX_AMOUNT_MINOR)


def test_child_due_dates():
    today, past, future, asked = (
        date(2026, 11, 21),
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2026, 11, 30),
    )
    adjustment, refund = EntryType.ADJUSTMENT, EntryType.REFUND
    assert child_due_date(adjustment, past, today, None) == today  # never born overdue
    assert child_due_date(adjustment, future, today, None) == future
    assert child_due_date(adjustment, None, today, None) is None
    assert child_due_date(adjustment, past, today, asked) == asked
    assert child_due_date(refund, past, today, None) == past
    assert child_due_date(refund, past, today, asked) == asked


@pytest.mark.parametrize(
    ("status", "amount", "paid", "refunded", "outstanding"),
    [
        ("DUE", 200_000, 50_000, 0, 150_000),  # the 2,000.00 with 500.00 received
        ("PENDING", 200_000, 0, 0, 200_000),
        ("DUE", 200_000, 50_000, 20_000, 170_000),  # a refund makes it owed again
        ("DUE", -5_000, 0, 0, -5_000),  # a credit lowers what is owed
        ("PAID", 200_000, 200_000, 0, 0),
        ("VOID", 200_000, 0, 0, 0),
        ("FAILED", 200_000, 0, 0, 0),
        ("REFUNDED", 200_000, 200_000, 200_000, 0),
    ],
)
def test_outstanding_is_what_is_still_owed_on_due_and_pending_entries(
    status, amount, paid, refunded, outstanding
):
    owed = entry(S(status), amount=amount, paid=paid, refunded=refunded)
    assert owed.outstanding_minor == outstanding
