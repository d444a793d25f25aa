"""Pure rules: effective time, row classification, backfill status, link rules."""

from datetime import UTC, date, datetime

import pytest

from folio.rotessa_sync.domain.backfill import (
    MAX_RECORDED_ERRORS,
    BackfillMetrics,
    BackfillStatus,
    append_error,
    error_entry,
    report_window,
    status_of,
)
from folio.rotessa_sync.domain.classification import (
    CommandState,
    InvalidTransaction,
    RowOutcome,
    chargeback_reference,
    collected_reference,
    plan_transaction,
)
from folio.rotessa_sync.domain.effective_time import effective_at_for, reversed_at_for
from folio.rotessa_sync.domain.linking import (
    LinkRefusal,
    LinkRefused,
    MortgageView,
    check_link,
    mortgages_without_schedule,
    unlinked_schedules,
)
from folio.rotessa_sync.domain.model import ReportedTransaction, RotessaSchedule, TransactionStatus
from folio.shared.contracts import PaymentCollected, PaymentReversed


def row(status: str, tid: int = 77, **overrides) -> ReportedTransaction:
    values = dict(
        transaction_id=tid,
        schedule_id=5001,
        customer_id=181,
        amount_minor=215_050,
        currency="CAD",
        process_date=date(2024, 3, 7),
        status=TransactionStatus(status),
        status_reason=None,
        updated_at=None,
    )
    values.update(overrides)
    return ReportedTransaction(**values)


# --- effective time -----------------------------------------------------------


@pytest.mark.parametrize(
    ("process_date", "expected"),
    [
        (date(2024, 1, 15), datetime(2024, 1, 15, 5, 0, tzinfo=UTC)),  # EST, UTC-5
        (date(2024, 7, 15), datetime(2024, 7, 15, 4, 0, tzinfo=UTC)),  # EDT, UTC-4
        (date(2024, 3, 10), datetime(2024, 3, 10, 5, 0, tzinfo=UTC)),  # DST starts at 02:00
    ],
)
def test_effective_at_is_toronto_midnight_in_utc(process_date, expected):
    effective_at = effective_at_for(process_date)
    assert effective_at == expected
    assert effective_at.tzinfo is UTC
    assert effective_at.date() == process_date  # same calendar day in UTC and Toronto


def test_effective_timezone_is_configurable():
    assert effective_at_for(date(2024, 1, 15), "UTC") == datetime(2024, 1, 15, tzinfo=UTC)


def test_reversal_never_precedes_the_payment():
    early = datetime(2024, 3, 1, tzinfo=UTC)
    late = datetime(2024, 3, 20, 18, 30, tzinfo=UTC)
    assert reversed_at_for(date(2024, 3, 7), late) == late
    assert reversed_at_for(date(2024, 3, 7), early) == effective_at_for(date(2024, 3, 7))
    assert reversed_at_for(date(2024, 3, 7), None) == effective_at_for(date(2024, 3, 7))


# --- classification -----------------------------------------------------------


def test_approved_becomes_one_backdated_payment_collected():
    plan = plan_transaction(
        row("Approved"), mortgage_id="m-1", known={}, origin="backfill", backfill_id="b-1"
    )
    assert plan.outcome is RowOutcome.COLLECTED
    (event,) = plan.to_publish
    assert isinstance(event, PaymentCollected)
    assert event.reference == "rotessa:txn:77"
    assert event.amount_minor == 215_050 and event.currency == "CAD"
    assert event.effective_at == datetime(2024, 3, 7, 5, 0, tzinfo=UTC)
    assert event.process_date == date(2024, 3, 7)
    assert (event.mortgage_id, event.schedule_id, event.origin, event.backfill_id) == (
        "m-1", 5001, "backfill", "b-1",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("Declined", RowOutcome.DECLINED),
        ("Pending", RowOutcome.PENDING),
        ("Future", RowOutcome.PENDING),
    ],
)
def test_declined_pending_and_future_are_counted_never_posted(status, outcome):
    plan = plan_transaction(row(status), mortgage_id="m-1", known={}, origin="sync")
    assert plan.outcome is outcome
    assert plan.to_publish == () and plan.already_sent == ()


def test_chargeback_first_seen_posts_the_collection_then_its_reversal():
    changed = datetime(2024, 3, 25, 14, 0, tzinfo=UTC)
    plan = plan_transaction(
        row("Chargeback", status_reason="NSF", updated_at=changed),
        mortgage_id="m-1", known={}, origin="backfill",
    )  # fmt: skip
    assert plan.outcome is RowOutcome.CHARGED_BACK
    collected, reversed_ = plan.to_publish
    assert isinstance(collected, PaymentCollected) and isinstance(reversed_, PaymentReversed)
    assert reversed_.reference == collected.reference == collected_reference(77)
    assert reversed_.reversal_reference == chargeback_reference(77) == "rotessa:txn:77:chargeback"
    assert reversed_.reason == "NSF"
    assert reversed_.reversed_at == changed
    assert reversed_.amount_minor == collected.amount_minor


def test_chargeback_of_an_already_collected_payment_only_reverses_it():
    plan = plan_transaction(
        row("Chargeback"),
        mortgage_id="m-1",
        known={collected_reference(77): CommandState.CONFIRMED},
        origin="sync",
    )
    assert [type(e) for e in plan.to_publish] == [PaymentReversed]
    assert plan.already_sent == (collected_reference(77),)


def test_anything_already_sent_is_a_duplicate_not_sent_again():
    for state in (CommandState.PUBLISHED, CommandState.CONFIRMED, CommandState.DUPLICATE):
        plan = plan_transaction(
            row("Approved"),
            mortgage_id="m-1",
            known={collected_reference(77): state},
            origin="backfill",
        )
        assert plan.to_publish == ()
        assert plan.already_sent == (collected_reference(77),)


def test_rejected_commands_are_resent_only_when_retrying():
    known = {collected_reference(77): CommandState.REJECTED}
    plain = plan_transaction(row("Approved"), mortgage_id="m-1", known=known, origin="sync")
    retry = plan_transaction(
        row("Approved"), mortgage_id="m-1", known=known, origin="backfill", retry_rejected=True
    )
    assert plain.to_publish == ()
    assert len(retry.to_publish) == 1


def test_zero_amount_approved_row_is_invalid():
    with pytest.raises(InvalidTransaction):
        plan_transaction(
            row("Approved", amount_minor=0), mortgage_id="m-1", known={}, origin="sync"
        )
    # a declined zero row is harmless: it is only counted
    plan_transaction(row("Declined", amount_minor=0), mortgage_id="m-1", known={}, origin="sync")


def test_plans_are_deterministic_for_resumed_runs():
    first = plan_transaction(
        row("Chargeback"), mortgage_id="m", known={}, origin="backfill", backfill_id="b"
    )
    again = plan_transaction(
        row("Chargeback"), mortgage_id="m", known={}, origin="backfill", backfill_id="b"
    )
    assert first == again


# --- backfill metrics and status ----------------------------------------------


def test_metrics_count_every_outcome():
    metrics = BackfillMetrics()
    for status in ("Approved", "Approved", "Declined", "Pending", "Future", "Chargeback"):
        metrics.count_plan(
            plan_transaction(row(status), mortgage_id="m", known={}, origin="backfill")
        )
    metrics.count_plan(
        plan_transaction(
            row("Approved", tid=9), mortgage_id="m",
            known={collected_reference(9): CommandState.CONFIRMED}, origin="backfill",
        )
    )  # fmt: skip
    metrics.count_invalid()
    assert metrics.as_dict() == {
        "fetched": 8, "approved": 4, "chargebacks": 1, "published": 4, "confirmed": 0,
        "duplicates": 1, "rejected": 0, "declined_skipped": 1, "pending_skipped": 2,
        "invalid": 1, "settled": 0,
    }  # fmt: skip
    assert metrics.outstanding == 4


def test_status_follows_reading_and_ledger_answers():
    metrics = BackfillMetrics(published=3)
    assert (
        status_of(report_finished=False, read_failed=False, metrics=metrics)
        is BackfillStatus.RUNNING
    )
    assert (
        status_of(report_finished=True, read_failed=False, metrics=metrics)
        is BackfillStatus.RUNNING
    )
    metrics.count_ledger_answer(committed=True, duplicate=False)
    metrics.count_ledger_answer(committed=False, duplicate=True)
    assert (
        status_of(report_finished=True, read_failed=False, metrics=metrics)
        is BackfillStatus.RUNNING
    )
    metrics.count_ledger_answer(committed=True, duplicate=False)
    assert (
        status_of(report_finished=True, read_failed=False, metrics=metrics)
        is BackfillStatus.COMPLETED
    )
    assert (metrics.confirmed, metrics.duplicates, metrics.settled) == (2, 1, 3)


def test_rejections_or_invalid_rows_make_it_partial_and_read_failure_failed():
    rejected = BackfillMetrics(published=1)
    rejected.count_ledger_answer(committed=False, duplicate=False)
    assert (
        status_of(report_finished=True, read_failed=False, metrics=rejected)
        is BackfillStatus.PARTIAL
    )
    invalid = BackfillMetrics(invalid=1)
    assert (
        status_of(report_finished=True, read_failed=False, metrics=invalid)
        is BackfillStatus.PARTIAL
    )
    assert (
        status_of(report_finished=False, read_failed=True, metrics=invalid) is BackfillStatus.FAILED
    )


def test_metrics_round_trip_and_ignore_unknown_keys():
    metrics = BackfillMetrics(fetched=5, confirmed=2)
    assert BackfillMetrics.from_dict({**metrics.as_dict(), "future_field": 9}) == metrics
    assert BackfillMetrics.from_dict(None) == BackfillMetrics()


def test_report_window_runs_from_first_process_date_to_today():
    assert report_window(date(2020, 5, 1), date(2026, 11, 21)) == (
        date(2020, 5, 1),
        date(2026, 11, 21),
    )
    assert report_window(None, date(2026, 11, 21)) == (date(2026, 11, 21), date(2026, 11, 21))
    assert report_window(date(2027, 1, 1), date(2026, 11, 21))[0] == date(2026, 11, 21)


def test_errors_are_bounded():
    errors: list = []
    for i in range(MAX_RECORDED_ERRORS + 10):
        errors = append_error(errors, error_entry("invalid_row", "x" * 1000, transaction_id=i))
    assert len(errors) == MAX_RECORDED_ERRORS
    assert len(errors[0]["message"]) == 500 and errors[0]["transaction_id"] == 0


# --- linking ------------------------------------------------------------------

MORTGAGE = MortgageView("m-1", "Amira Haddad", "ACTIVE", 50_000_000, "CAD")


def test_link_allowed_when_both_sides_free():
    assert check_link(
        mortgage=MORTGAGE, mortgage_id="m-1", schedule_id=5001,
        schedule_of_mortgage=None, mortgage_of_schedule=None,
    ) is False  # fmt: skip


def test_same_link_again_is_idempotent():
    assert check_link(
        mortgage=MORTGAGE, mortgage_id="m-1", schedule_id=5001,
        schedule_of_mortgage=5001, mortgage_of_schedule="m-1",
    ) is True  # fmt: skip


@pytest.mark.parametrize(
    ("mortgage", "schedule_of_mortgage", "mortgage_of_schedule", "refusal"),
    [
        (None, None, None, LinkRefusal.MORTGAGE_UNKNOWN),
        (MORTGAGE, 5002, None, LinkRefusal.MORTGAGE_ALREADY_LINKED),
        (MORTGAGE, None, "m-2", LinkRefusal.SCHEDULE_ALREADY_LINKED),
        (MORTGAGE, 5001, "m-2", LinkRefusal.MORTGAGE_ALREADY_LINKED),
        (MortgageView("m-1", "X", "closed", 0, "CAD"), None, None, LinkRefusal.MORTGAGE_CLOSED),
    ],
)
def test_link_refusals(mortgage, schedule_of_mortgage, mortgage_of_schedule, refusal):
    with pytest.raises(LinkRefused) as caught:
        check_link(
            mortgage=mortgage, mortgage_id="m-1", schedule_id=5001,
            schedule_of_mortgage=schedule_of_mortgage, mortgage_of_schedule=mortgage_of_schedule,
        )  # fmt: skip
    assert caught.value.refusal is refusal
    assert caught.value.is_conflict is (refusal is not LinkRefusal.MORTGAGE_UNKNOWN)


def test_unlinked_schedules_and_mortgages_without_schedule():
    schedules = [
        RotessaSchedule(s, 1, name, 1000, "CAD", "Monthly", None, None)
        for s, name in ((1, "zoe"), (2, "Adam"), (3, "bob"))
    ]
    assert [s.schedule_id for s in unlinked_schedules(schedules, {3})] == [2, 1]
    mortgages = [
        MortgageView("a", "Beth", "ACTIVE", 1, "CAD"),
        MortgageView("b", "Al", "ACTIVE", 1, "CAD", rotessa_schedule_id=9),  # linked in registry
        MortgageView("c", "Cy", "ACTIVE", 1, "CAD"),  # linked here
        MortgageView("d", "Di", "CLOSED", 1, "CAD"),
        MortgageView("e", "aaron", "ACTIVE", 1, "CAD"),
    ]
    assert [m.mortgage_id for m in mortgages_without_schedule(mortgages, {"c"})] == ["e", "a"]
