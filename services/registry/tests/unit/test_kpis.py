"""Every KPI formula of seed 003 §4, with hand-computed expected values."""

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from folio.registry.domain.kpis import (
    CollectionTotals,
    EntryFacts,
    KpiCalendar,
    KpiInputs,
    MoneyMovement,
    UnitCounts,
    adr_minor,
    collection_totals,
    compute_kpis,
    ear_minor,
    local_date_of,
    money_movements,
    open_receivable_of,
    percent,
    revpau_minor,
    roll_up,
    round_half_even,
    unit_counts,
)
from folio.registry.domain.occupancy import DailyStatus


def paid(amount: int, at: datetime, currency: str = "SAR") -> EntryFacts:
    """An entry paid in full by one payment (the seed's case)."""
    return EntryFacts(
        status="PAID", amount_minor=amount, currency=currency, paid_minor=amount, paid_at=at
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


ENTRIES = [
    # A: 2026-01-31 22:00Z is 2026-02-01 01:00 in Riyadh (UTC+3) but still January in UTC.
    paid(100_000, utc(2026, 1, 31, 22, 0)),
    # B: mid-January everywhere.
    paid(50_000, utc(2026, 1, 15, 10, 0)),
    # C: 2026-02-10 23:30 in Riyadh: the as_of day itself.
    paid(30_000, utc(2026, 2, 10, 20, 30)),
    # D: 2026-02-11 00:30 in Riyadh, after as_of there; 2026-02-10 in UTC.
    paid(20_000, utc(2026, 2, 10, 21, 30)),
    # E: 2026-01-01 00:00 in Riyadh (this year); 2025-12-31 in UTC (last year).
    paid(70_000, utc(2025, 12, 31, 21, 0)),
    # F, G, H: outstanding; only F is overdue (DUE and due before as_of).
    EntryFacts("DUE", 40_000, "SAR", due_date=date(2026, 2, 9)),
    EntryFacts("DUE", 25_000, "SAR", due_date=date(2026, 2, 10)),
    EntryFacts("PENDING", 10_000, "SAR", due_date=date(2026, 1, 1)),
    # Not collected, not outstanding.
    EntryFacts("FAILED", 99_999, "SAR", due_date=date(2026, 1, 1)),
    EntryFacts("VOID", 88_888, "SAR", due_date=date(2026, 1, 1)),
    EntryFacts("REFUNDED", 60_000, "SAR", paid_at=utc(2026, 2, 2)),
    # Another currency is never summed into SAR.
    paid(12_345, utc(2026, 2, 5), currency="USD"),
]
AS_OF = date(2026, 2, 10)


def totals_of(entries, *, timezone: str, as_of: date = AS_OF, currency: str = "SAR"):
    """Collections of entries each seen once, in their current version."""
    moves = [
        m
        for e in entries
        for m in money_movements(None, e, changed_at=e.paid_at or utc(2030, 1, 1))
    ]
    return collection_totals(
        entries, moves, calendar=KpiCalendar.ending_on(as_of), timezone=timezone, currency=currency
    )


def test_calendar_counts_days_including_as_of():
    cal = KpiCalendar.ending_on(AS_OF)
    assert (cal.month_start, cal.year_start) == (date(2026, 2, 1), date(2026, 1, 1))
    assert cal.days_so_far_in_year == 41  # 31 January days + 10
    assert cal.days_so_far_in_month == 10
    assert KpiCalendar.ending_on(date(2026, 1, 1)).days_so_far_in_year == 1


def test_leap_year_day_counts():
    assert KpiCalendar.ending_on(date(2028, 3, 1)).days_so_far_in_year == 61  # 31 + 29 + 1
    assert KpiCalendar.ending_on(date(2026, 3, 1)).days_so_far_in_year == 60  # 31 + 28 + 1
    assert KpiCalendar.ending_on(date(2028, 12, 31)).days_so_far_in_year == 366
    assert KpiCalendar.ending_on(date(2028, 2, 29)).days_so_far_in_month == 29


def test_collections_in_riyadh():
    totals = totals_of(ENTRIES, timezone="Asia/Riyadh")
    assert totals == CollectionTotals(
        collected_mtd_minor=100_000 + 30_000,  # A, C
        collected_ytd_minor=100_000 + 50_000 + 30_000 + 70_000,  # A, B, C, E
        outstanding_minor=40_000 + 25_000 + 10_000,  # F, G, H
        overdue_count=1,  # F
    )


def test_same_payments_in_a_utc_building_fall_in_other_months():
    totals = totals_of(ENTRIES, timezone="UTC")
    assert totals.collected_mtd_minor == 30_000 + 20_000  # C, D (A is January in UTC)
    assert totals.collected_ytd_minor == 100_000 + 50_000 + 30_000 + 20_000  # E is 2025 in UTC


def test_local_date_of_a_riyadh_month_boundary_payment():
    assert local_date_of(utc(2026, 1, 31, 22, 0), "Asia/Riyadh") == date(2026, 2, 1)
    assert local_date_of(utc(2026, 1, 31, 22, 0), "UTC") == date(2026, 1, 31)
    with pytest.raises(ValueError):
        local_date_of(datetime(2026, 1, 1), "UTC")  # naive times are refused


def test_collected_is_what_was_paid_including_an_overpayment():
    entry = EntryFacts("PAID", 10_000, "SAR", paid_minor=10_500, paid_at=utc(2026, 2, 3))
    assert totals_of([entry], timezone="Asia/Riyadh").collected_mtd_minor == 10_500


def building_inputs() -> KpiInputs:
    statuses = (
        [DailyStatus.BLOCKED] * 2
        + [DailyStatus.MAINTENANCE]
        + [DailyStatus.OCCUPIED] * 4
        + [DailyStatus.UNKNOWN]
        + [DailyStatus.VACANT] * 2
    )
    cal = KpiCalendar.ending_on(AS_OF)
    return KpiInputs(
        currency="SAR",
        calendar=cal,
        units=unit_counts(statuses),
        monthly_rent_sum_minor=10 * 500_000,
        collections=totals_of(ENTRIES, timezone="Asia/Riyadh"),
        occupied_unit_days_mtd=37,
    )


def test_building_kpis_hand_computed():
    kpis = compute_kpis(building_inputs())
    assert (kpis.total_units, kpis.rentable_units, kpis.occupied_units) == (10, 7, 4)
    assert (kpis.unknown_units, kpis.blocked_units, kpis.maintenance_units) == (1, 2, 1)
    assert kpis.occupancy_rate_percent == Decimal("57.14")  # 4 / (10 - 2 - 1) = 57.142857 %
    assert kpis.par_minor == 60_000_000  # 10 x 5,000.00 SAR x 12
    assert kpis.collected_mtd_minor == 130_000
    assert kpis.collected_ytd_minor == 250_000
    # 250,000 x 365 / 41 = 2,225,609.756… → 2,225,610
    assert kpis.ear_minor == 2_225_610
    assert kpis.run_rate_minor == 1_560_000  # 130,000 x 12
    assert kpis.outstanding_minor == 75_000
    assert kpis.overdue_count == 1
    assert kpis.adr_minor == 3_514  # 130,000 / 37 = 3,513.51…
    assert kpis.revpau_minor == 1_300  # 130,000 / 10 units / 10 days


def test_ear_in_a_leap_year_uses_365_over_366_days():
    assert ear_minor(366_000, KpiCalendar.ending_on(date(2028, 12, 31)).days_so_far_in_year) == (
        365_000
    )
    # 61,000 collected by 2028-03-01 (61 days) annualises to exactly 365,000.
    assert ear_minor(61_000, 61) == 365_000
    # Same amount by 2026-03-01 (60 days): 61,000 x 365 / 60 = 371,083.33… → 371,083.
    assert ear_minor(61_000, 60) == 371_083
    # First day of the year: collected x 365.
    assert ear_minor(1_000, 1) == 365_000


def test_zero_denominators_give_none_not_errors():
    assert percent(0, 0) is None
    assert adr_minor(130_000, 0) is None
    assert revpau_minor(130_000, 0, 10) is None
    all_blocked = KpiInputs(
        currency="SAR",
        calendar=KpiCalendar.ending_on(AS_OF),
        units=UnitCounts(total=3, blocked=2, maintenance=1, occupied=0, unknown=0),
        monthly_rent_sum_minor=0,
        collections=CollectionTotals(0, 0, 0, 0),
        occupied_unit_days_mtd=0,
    )
    kpis = compute_kpis(all_blocked)
    assert kpis.occupancy_rate_percent is None
    assert (kpis.adr_minor, kpis.revpau_minor, kpis.ear_minor) == (None, 0, 0)
    empty = compute_kpis(
        KpiInputs(
            "SAR",
            KpiCalendar.ending_on(AS_OF),
            UnitCounts(0, 0, 0, 0, 0),
            0,
            CollectionTotals(0, 0, 0, 0),
            0,
        )
    )
    assert (empty.occupancy_rate_percent, empty.revpau_minor, empty.par_minor) == (None, None, 0)


def test_rounding_is_half_to_even_and_exact():
    assert round_half_even(Fraction(5, 2)) == 2
    assert round_half_even(Fraction(7, 2)) == 4
    assert round_half_even(Fraction(-5, 2)) == -2
    assert adr_minor(5, 2) == 2
    assert adr_minor(7, 2) == 4
    assert percent(1, 32) == Decimal("3.12")  # 3.125 → 3.12
    assert percent(3, 32) == Decimal("9.38")  # 9.375 → 9.38
    assert percent(2, 3) == Decimal("66.67")
    # Large values stay exact (no float): 10^15 minor units x 365 / 7.
    assert ear_minor(10**15, 7) == 52_142_857_142_857_143


def test_unknown_units_stay_in_the_denominator_as_not_occupied():
    counts = unit_counts([DailyStatus.OCCUPIED, DailyStatus.UNKNOWN])
    assert (counts.rentable, counts.occupied, counts.unknown) == (2, 1, 1)
    assert percent(counts.occupied, counts.rentable) == Decimal("50.00")


def test_portfolio_roll_up_recomputes_ratios_from_parts():
    first = compute_kpis(building_inputs())
    second = compute_kpis(
        KpiInputs(
            "SAR",
            KpiCalendar.ending_on(AS_OF),
            UnitCounts(2, 0, 0, 2, 0),
            300_000,
            CollectionTotals(70_000, 70_000, 5_000, 2),
            20,
        )
    )
    other_currency = compute_kpis(
        KpiInputs(
            "USD",
            KpiCalendar.ending_on(AS_OF),
            UnitCounts(1, 0, 0, 1, 0),
            100,
            CollectionTotals(1, 1, 1, 1),
            1,
        )
    )
    portfolio = roll_up("SAR", [first, second, other_currency])
    assert portfolio.building_count == 2
    assert (portfolio.total_units, portfolio.rentable_units, portfolio.occupied_units) == (12, 9, 6)
    assert portfolio.occupancy_rate_percent == Decimal("66.67")  # 6 / 9, not the mean of rates
    assert portfolio.par_minor == 60_000_000 + 3_600_000
    assert portfolio.collected_mtd_minor == 200_000
    assert portfolio.outstanding_minor == 80_000
    assert portfolio.overdue_count == 3
    assert portfolio.adr_minor == 3_509  # 200,000 / 57 = 3,508.77…
    assert portfolio.revpau_minor == 1_667  # 200,000 / (12 units x 10 days) = 1,666.67
    assert portfolio.ear_minor == first.ear_minor + second.ear_minor


def test_open_receivables_hold_what_is_still_owed():
    from folio.registry.domain.kpis import NO_DUE_DATE

    partly = EntryFacts("DUE", 200_000, "SAR", paid_minor=50_000, due_date=date(2026, 2, 1))
    part = open_receivable_of(partly)
    assert (part.status, part.due_date, part.outstanding_minor) == (
        "DUE",
        date(2026, 2, 1),
        150_000,
    )
    no_due = open_receivable_of(EntryFacts("PENDING", 5, "SAR"))
    assert (no_due.due_date, no_due.outstanding_minor) == (NO_DUE_DATE, 5)
    assert open_receivable_of(EntryFacts("PAID", 5, "SAR", paid_minor=5)) is None
    # A refund on an open entry makes that much owed again.
    refunded = EntryFacts("DUE", 80_000, "SAR", paid_minor=30_000, refunded_minor=10_000)
    assert open_receivable_of(refunded).outstanding_minor == 60_000


# --- partial payments and refunds across month boundaries, by hand ----------------
#
# Riyadh is UTC+3 all year. Entry X: 2,000.00 due 2026-01-25; Y: 1,000.00 due 2026-02-20.
#   X v2  500.00 received, verified 2026-01-31 21:30Z = 02-01 00:30 Riyadh  → February
#   Y v2  400.00 received, verified 2026-01-10 09:00Z                       → January
#   X v3 1,500.00 received, verified 2026-02-05 10:00Z, X PAID               → February
#   Y v3  100.00 refunded, recorded 2026-02-15 12:00Z                       → February
#   X v4  300.00 refunded, recorded 2026-02-28 22:00Z = 03-01 01:00 Riyadh  → March
RIYADH = "Asia/Riyadh"
X = [
    EntryFacts("DUE", 200_000, "SAR", due_date=date(2026, 1, 25)),
    EntryFacts("DUE", 200_000, "SAR", paid_minor=50_000, due_date=date(2026, 1, 25)),
    EntryFacts("PAID", 200_000, "SAR", 200_000, utc(2026, 2, 5, 10), date(2026, 1, 25)),
    EntryFacts("PAID", 200_000, "SAR", 200_000, utc(2026, 2, 5, 10), date(2026, 1, 25), 30_000),
]
X_TIMES = [  # (changed_at, payment_verified_at) of each version
    (utc(2026, 1, 2), None),
    (utc(2026, 1, 31, 21, 31), utc(2026, 1, 31, 21, 30)),
    (utc(2026, 2, 5, 10, 1), utc(2026, 2, 5, 10)),
    (utc(2026, 2, 28, 22), None),
]
Y = [
    EntryFacts("DUE", 100_000, "SAR", due_date=date(2026, 2, 20)),
    EntryFacts("DUE", 100_000, "SAR", paid_minor=40_000, due_date=date(2026, 2, 20)),
    EntryFacts("DUE", 100_000, "SAR", 40_000, None, date(2026, 2, 20), 10_000),
]
Y_TIMES = [
    (utc(2026, 1, 3), None),
    # No payment_verified_at (an older ledger): the version's own time dates it.
    (utc(2026, 1, 10, 9), None),
    (utc(2026, 2, 15, 12), None),
]


def history_movements(versions, times) -> list[MoneyMovement]:
    moves, previous = [], None
    for facts, (changed_at, verified_at) in zip(versions, times, strict=True):
        moves += money_movements(
            previous, facts, changed_at=changed_at, payment_verified_at=verified_at
        )
        previous = facts
    return moves


def test_movements_of_a_partly_paid_then_refunded_entry():
    assert history_movements(X, X_TIMES) == [
        MoneyMovement("PAYMENT", 50_000, utc(2026, 1, 31, 21, 30), "SAR"),
        MoneyMovement("PAYMENT", 150_000, utc(2026, 2, 5, 10), "SAR"),
        MoneyMovement("REFUND", -30_000, utc(2026, 2, 28, 22), "SAR"),
    ]
    # A first sight of an entry already paid and partly refunded moves both at once.
    assert money_movements(None, X[3], changed_at=utc(2026, 3, 2)) == [
        MoneyMovement("PAYMENT", 200_000, utc(2026, 2, 5, 10), "SAR"),
        MoneyMovement("REFUND", -30_000, utc(2026, 3, 2), "SAR"),
    ]
    assert money_movements(X[3], X[3], changed_at=utc(2026, 3, 2)) == []


@pytest.mark.parametrize(
    ("as_of", "mtd", "ytd"),
    [
        (date(2026, 1, 31), 40_000, 40_000),  # Y's 400.00; X's 500.00 is February here
        (date(2026, 2, 28), 50_000 + 150_000 - 10_000, 230_000),
        (date(2026, 3, 1), -30_000, 200_000),  # X's refund lowers March, not February
    ],
)
def test_partial_payments_and_refunds_in_riyadh_by_hand(as_of, mtd, ytd):
    moves = history_movements(X, X_TIMES) + history_movements(Y, Y_TIMES)
    totals = collection_totals(
        [X[-1], Y[-1]],
        moves,
        calendar=KpiCalendar.ending_on(as_of),
        timezone=RIYADH,
        currency="SAR",
    )
    # Outstanding: X is PAID (0); Y owes 1,000.00 - (400.00 - 100.00) = 700.00.
    assert totals == CollectionTotals(mtd, ytd, 70_000, int(as_of > date(2026, 2, 20)))


def test_the_same_history_in_utc_moves_the_boundary_payments():
    moves = history_movements(X, X_TIMES) + history_movements(Y, Y_TIMES)
    for as_of, mtd in ((date(2026, 1, 31), 90_000), (date(2026, 2, 28), 110_000)):
        totals = collection_totals(
            [], moves, calendar=KpiCalendar.ending_on(as_of), timezone="UTC", currency="SAR"
        )
        assert totals.collected_mtd_minor == mtd  # 400 + 500 in January; 1,500 - 100 - 300 in Feb


def test_a_fully_paid_entry_still_follows_the_seed_formula():
    """Seed §4: Collected MTD = Σ PAID amounts this month, by paid date."""
    entry = paid(70_000, utc(2026, 2, 9, 22))  # 02-10 01:00 Riyadh
    before = EntryFacts("DUE", 70_000, "SAR")
    moves = money_movements(
        before, entry, changed_at=utc(2026, 2, 9, 22, 1), payment_verified_at=entry.paid_at
    )
    totals = collection_totals(
        [entry], moves, calendar=KpiCalendar.ending_on(AS_OF), timezone=RIYADH, currency="SAR"
    )
    assert (totals.collected_mtd_minor, totals.outstanding_minor) == (70_000, 0)


def test_months_ending_counts_back_across_a_year():
    from folio.registry.domain.kpis import months_ending

    assert months_ending(date(2026, 2, 10), 3) == [
        date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1),
    ]  # fmt: skip
    assert months_ending(date(2026, 12, 31), 1) == [date(2026, 12, 1)]
    assert len(set(months_ending(date(2026, 3, 31), 24))) == 24
    assert months_ending(date(2026, 3, 31), 24)[0] == date(2024, 4, 1)
    for bad in (0, 25):
        with pytest.raises(ValueError):
            months_ending(date(2026, 1, 1), bad)
