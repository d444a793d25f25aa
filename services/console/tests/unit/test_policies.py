"""Sessions, the sign-in throttle, roles and the payments page's rules (pure domain)."""

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from folio.console.domain.payments import (
    CSV_COLUMNS,
    FilterError,
    PaymentFilters,
    can_adjust,
    can_refund,
    csv_row,
    format_money,
    parse_money,
    status_targets,
)
from folio.console.domain.sessions import Session, SessionPolicy
from folio.console.domain.throttle import Allow, Refuse, ThrottlePolicy
from folio.console.domain.users import (
    InvalidEmail,
    Role,
    WeakPassword,
    check_password,
    normalize_email,
)

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
POLICY = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))


def session(**overrides) -> Session:
    values = dict(
        token_hash="h", user_id=uuid4(), csrf_token="c", created_at=T0, last_seen_at=T0,
        expires_at=POLICY.expires_at(T0), ended_at=None,
    )  # fmt: skip
    values.update(overrides)
    return Session(**values)


def test_a_session_lives_until_idle_or_absolute_expiry_or_sign_out():
    assert POLICY.is_live(session(), T0 + timedelta(minutes=29))
    assert not POLICY.is_live(session(), T0 + timedelta(minutes=30))  # idle
    busy = session(last_seen_at=T0 + timedelta(hours=11, minutes=59))
    assert POLICY.is_live(busy, T0 + timedelta(hours=11, minutes=59, seconds=30))
    assert not POLICY.is_live(busy, T0 + timedelta(hours=12))  # absolute, however busy
    assert not POLICY.is_live(session(ended_at=T0), T0 + timedelta(seconds=1))


THROTTLE = ThrottlePolicy(
    window_seconds=900, slow_after=3, delay_seconds=0.5, max_delay_seconds=4, refuse_after=9,
    address_factor=5,
)  # fmt: skip


def test_failed_sign_ins_are_first_free_then_slowed_then_refused():
    assert THROTTLE.decide(0, 0) == Allow(0.0)
    assert THROTTLE.decide(2, 0) == Allow(0.0)
    assert THROTTLE.decide(3, 0) == Allow(0.5)
    assert THROTTLE.decide(4, 0) == Allow(1.0)
    assert THROTTLE.decide(8, 0) == Allow(4.0)  # capped
    assert THROTTLE.decide(9, 0) == Refuse(900)  # the tenth attempt


def test_one_address_trying_many_e_mails_is_refused_too_with_more_room():
    assert THROTTLE.decide(0, 44) == Allow(4.0)
    assert THROTTLE.decide(0, 45) == Refuse(900)


def test_emails_are_normalized_and_passwords_need_length():
    assert normalize_email("  Ana@Example.COM ") == "ana@example.com"
    with pytest.raises(InvalidEmail):
        normalize_email("not-an-email")
    with pytest.raises(WeakPassword):
        check_password("short")
    check_password("twelve chars")


def test_status_targets_follow_the_seed_matrix_and_the_role():
    assert status_targets("DUE", Role.FINANCE) == ["PENDING", "VOID"]  # never PAID
    assert status_targets("PENDING", Role.ADMIN) == ["FAILED", "VOID"]
    assert status_targets("FAILED", Role.ADMIN) == ["DUE", "PENDING", "VOID"]
    assert status_targets("PAID", Role.ADMIN) == []  # REFUNDED only through a refund
    assert status_targets("VOID", Role.ADMIN) == []
    assert status_targets("DUE", Role.VIEWER) == []


def test_adjustments_and_refunds_only_where_they_make_sense():
    due = {"entry_type": "RENT", "status": "DUE", "paid_minor": 0, "refunded_minor": 0}
    paid = {**due, "status": "PAID", "paid_minor": 100}
    assert can_adjust(due, Role.FINANCE) and not can_refund(due, Role.FINANCE)
    assert can_refund(paid, Role.ADMIN)
    assert not can_adjust(due, Role.VIEWER) and not can_refund(paid, Role.VIEWER)
    assert not can_adjust({**due, "entry_type": "ADJUSTMENT"}, Role.ADMIN)
    assert not can_refund({**paid, "refunded_minor": 100}, Role.ADMIN)


def test_filters_become_the_ledger_query_and_bad_ones_are_refused():
    filters = PaymentFilters.parse(
        {"invoice_number": "inv-2026-000001", "status": "DUE", "due_from": "2026-01-01",
         "due_to": "2026-03-31", "overdue": "true", "building_id": " b1 ", "unit_id": ""}
    )  # fmt: skip
    assert filters.ledger_params() == {
        "invoice_number": "INV-2026-000001", "status": "DUE", "building_id": "b1",
        "due_from": "2026-01-01", "due_to": "2026-03-31", "overdue": "true",
    }  # fmt: skip
    assert filters.due_from == date(2026, 1, 1)
    for bad in ({"status": "PAYED"}, {"due_from": "yesterday"}, {"overdue": "maybe"},
                {"invoice_number": "12"}, {"due_from": "2026-02-01", "due_to": "2026-01-01"},
                {"building_id": "x" * 201}):  # fmt: skip
        with pytest.raises(FilterError):
            PaymentFilters.parse(bad)


def test_money_in_the_currency_exponent():
    assert format_money(1234567, "SAR") == "12,345.67 SAR"
    assert format_money(-5, "KWD") == "-0.005 KWD"
    assert parse_money("12.5", "SAR") == 1250
    assert parse_money("-0.005", "KWD", allow_negative=True) == -5
    for bad in ("1.234", "abc", "0", "-1"):
        with pytest.raises(ValueError):
            parse_money(bad, "SAR")


def test_csv_rows_keep_numbers_and_defuse_formulas():
    row = dict.fromkeys(CSV_COLUMNS)
    row.update(amount_minor=-500, description="=HYPERLINK(1)", overdue=True)
    cells = dict(zip(CSV_COLUMNS, csv_row(row), strict=True))
    assert cells["amount_minor"] == "-500"
    assert cells["description"] == "'=HYPERLINK(1)"
    assert cells["overdue"] == "true" and cells["due_date"] == ""


def test_free_text_and_order_are_the_ledgers_parameters():
    filters = PaymentFilters.parse({"q": "  fatima ", "building_id": "b1"})
    assert filters.ledger_params() == {"building_id": "b1", "q": "fatima"}
    assert filters.filter_params() == filters.ledger_params()  # totals: the same set
    down = PaymentFilters.parse({"q": "bk-7", "sort": "due_date", "dir": "desc"})
    assert down.ledger_params() == {"q": "bk-7", "sort": "due_date", "order": "desc"}
    assert down.filter_params() == {"q": "bk-7"}  # totals do not depend on the order
    assert down.query() == {"q": "bk-7", "sort": "due_date", "dir": "desc"}


def test_sort_headers_flip_and_only_the_ledgers_columns_sort():
    up = PaymentFilters.parse({"sort": "due_date"})
    down = PaymentFilters.parse({"sort": "due_date", "dir": "desc"})
    assert up.sorted_by("due_date")["dir"] == "desc" and down.sorted_by("due_date")["dir"] == "asc"
    assert up.sorted_by("amount_minor") == {"sort": "amount_minor", "dir": "asc"}
    with pytest.raises(FilterError):
        PaymentFilters.parse({"sort": "outstanding_minor"})  # depends on refunds: not indexed
    for bad in ({"sort": "entry_id; drop"}, {"sort": "due_date", "dir": "sideways"}):
        with pytest.raises(FilterError):
            PaymentFilters.parse(bad)
