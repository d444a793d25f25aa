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
    UnitCounts,
    adr_minor,
    collection_totals,
    compute_kpis,
    ear_minor,
    local_date_of,
    percent,
    revpau_minor,
    roll_up,
    round_half_even,
    unit_counts,
)
from folio.registry.domain.occupancy import DailyStatus


def paid(amount: int, at: datetime, currency: str = "SAR") -> EntryFacts:
    return EntryFacts(status="PAID", amount_minor=amount, currency=currency, paid_at=at)


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
    totals = collection_totals(
        ENTRIES, calendar=KpiCalendar.ending_on(AS_OF), timezone="Asia/Riyadh", currency="SAR"
    )
    assert totals == CollectionTotals(
        collected_mtd_minor=100_000 + 30_000,  # A, C
        collected_ytd_minor=100_000 + 50_000 + 30_000 + 70_000,  # A, B, C, E
        outstanding_minor=40_000 + 25_000 + 10_000,  # F, G, H
        overdue_count=1,  # F
    )


def test_same_payments_in_a_utc_building_fall_in_other_months():
    totals = collection_totals(
        ENTRIES, calendar=KpiCalendar.ending_on(AS_OF), timezone="UTC", currency="SAR"
    )
    assert totals.collected_mtd_minor == 30_000 + 20_000  # C, D (A is January in UTC)
    assert totals.collected_ytd_minor == 100_000 + 50_000 + 30_000 + 20_000  # E is 2025 in UTC


def test_local_date_of_a_riyadh_month_boundary_payment():
    assert local_date_of(utc(2026, 1, 31, 22, 0), "Asia/Riyadh") == date(2026, 2, 1)
    assert local_date_of(utc(2026, 1, 31, 22, 0), "UTC") == date(2026, 1, 31)
    with pytest.raises(ValueError):
        local_date_of(datetime(2026, 1, 1), "UTC")  # naive times are refused


def test_paid_minor_is_preferred_over_amount_when_reported():
    entry = EntryFacts("PAID", 10_000, "SAR", paid_minor=9_500, paid_at=utc(2026, 2, 3))
    totals = collection_totals(
        [entry], calendar=KpiCalendar.ending_on(AS_OF), timezone="Asia/Riyadh", currency="SAR"
    )
    assert totals.collected_mtd_minor == 9_500


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
        collections=collection_totals(
            ENTRIES, calendar=cal, timezone="Asia/Riyadh", currency="SAR"
        ),
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


def test_read_model_contributions_match_collection_totals():
    from folio.registry.domain.kpis import NO_DUE_DATE, contribution_of

    cal = KpiCalendar.ending_on(AS_OF)
    mtd = ytd = outstanding = overdue = 0
    for entry in ENTRIES:
        part = contribution_of(entry, "Asia/Riyadh")
        if part.currency != "SAR":
            continue
        if part.collected_on and cal.in_year(part.collected_on):
            ytd += part.collected_minor
            mtd += part.collected_minor if cal.in_month(part.collected_on) else 0
        if part.open_status:
            outstanding += part.open_amount_minor
            overdue += part.open_status == "DUE" and part.open_due_date < AS_OF
    assert CollectionTotals(mtd, ytd, outstanding, overdue) == collection_totals(
        ENTRIES, calendar=cal, timezone="Asia/Riyadh", currency="SAR"
    )
    no_due = contribution_of(EntryFacts("DUE", 5, "SAR"), "UTC")
    assert (no_due.open_due_date, no_due.open_amount_minor) == (NO_DUE_DATE, 5)
