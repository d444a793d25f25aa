"""Building KPI formulas (seed 003 §4), exact, in integer minor units.

Conventions (one place, so every caller agrees):

* **Calendar.** Month and year boundaries are those of the building's IANA
  timezone. ``as_of`` is a local calendar date; a period runs from the first day
  of its month (or year) through ``as_of`` inclusive. Money counts on the local
  date, in that timezone, of the instant it moved.
* **Collected** in a period = money actually received in that period, net of money
  returned in it. Every version of a ledger entry reports how much was paid on it
  (``paid_minor``) and refunded from it (``refunded_minor``) so far; the growth of
  each between two versions is a *money movement*:

  - a **payment** of the growth of ``paid_minor``, on the day the provider verified
    it (``payment_verified_at``; else the entry's ``paid_at``; else the version's
    ``changed_at``). Partial payments count when they arrive, whatever the status.
  - a **refund** of minus the growth of ``refunded_minor``, on the day the ledger
    recorded it (``changed_at``, the time of the refund's journal transaction). A
    refund lowers the period it happens in and never rewrites an earlier one.

  For an entry paid in full by one payment this is the seed's formula: its amount
  (what was paid), on its paid date. REFUND child entries move nothing themselves
  (the refund is their parent's ``refunded_minor``), so nothing counts twice.
* **Outstanding** = what is still owed on DUE and PENDING entries:
  Σ (amount - (paid - refunded)). For a charge this is the ledger's own
  ``outstanding_minor`` of the entry (2,000.00 with 500.00 received → 1,500.00); a
  DUE credit (negative ADJUSTMENT) lowers it by its amount. **Overdue** = count of
  DUE entries whose due date is before ``as_of``.
* **EAR** = collected YTD / days so far this year x 365 (365 as the seed states,
  also in leap years; day 1 of the year counts as one day).
* **Run-rate** = collected MTD x 12. **PAR** = Σ monthly base rent x 12 over all units.
* **ADR** and **RevPAU** use the month-to-date: total revenue = collected MTD;
  occupied days = occupied unit-nights recorded in daily snapshots this month;
  RevPAU = revenue / total units / days so far this month.
* **Occupancy rate** = occupied / (total - blocked - maintenance) x 100.
* **Rounding.** Quotients are computed exactly (``Fraction``) and rounded once,
  half to even, to integer minor units (money) or to 0.01 (the percentage).
  A zero denominator gives ``None`` (JSON null), never 0 and never an error.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from folio.registry.domain.occupancy import DailyStatus

DAYS_PER_YEAR_IN_EAR = 365
OUTSTANDING_STATUSES = frozenset({"DUE", "PENDING"})


def round_half_even(value: Fraction) -> int:
    """Exact banker's rounding of a rational to an integer (Python's round on Fraction)."""
    return round(value)


def percent(numerator: int, denominator: int) -> Decimal | None:
    if denominator == 0:
        return None
    exact = Fraction(numerator * 100, denominator)
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_EVEN
    )


def local_date_of(instant: datetime, timezone: str) -> date:
    """The calendar date of an aware instant in ``timezone``."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(ZoneInfo(timezone)).date()


@dataclass(frozen=True)
class KpiCalendar:
    """The month-to-date and year-to-date windows ending on a local ``as_of`` date."""

    as_of: date
    month_start: date
    year_start: date

    @classmethod
    def ending_on(cls, as_of: date) -> "KpiCalendar":
        return cls(as_of=as_of, month_start=as_of.replace(day=1), year_start=date(as_of.year, 1, 1))

    @property
    def days_so_far_in_year(self) -> int:
        return (self.as_of - self.year_start).days + 1

    @property
    def days_so_far_in_month(self) -> int:
        return (self.as_of - self.month_start).days + 1

    def in_month(self, day: date) -> bool:
        return self.month_start <= day <= self.as_of

    def in_year(self, day: date) -> bool:
        return self.year_start <= day <= self.as_of


@dataclass(frozen=True)
class EntryFacts:
    """The slice of a ledger entry version the KPIs read (from the registry's read model)."""

    status: str
    amount_minor: int
    currency: str
    paid_minor: int = 0
    paid_at: datetime | None = None
    due_date: date | None = None
    refunded_minor: int = 0

    @property
    def net_received_minor(self) -> int:
        """Money received on the entry and not returned (the ledger's net paid)."""
        return self.paid_minor - self.refunded_minor

    @property
    def outstanding_minor(self) -> int:
        """What is still owed: amount - net received on DUE/PENDING entries, else 0."""
        if self.status not in OUTSTANDING_STATUSES:
            return 0
        return self.amount_minor - self.net_received_minor


PAYMENT = "PAYMENT"
REFUND = "REFUND"


@dataclass(frozen=True)
class MoneyMovement:
    """Money that moved on one entry at one instant: + received, - refunded."""

    kind: str
    amount_minor: int
    at: datetime
    currency: str


def money_movements(
    old: EntryFacts | None,
    new: EntryFacts,
    *,
    changed_at: datetime,
    payment_verified_at: datetime | None = None,
) -> list[MoneyMovement]:
    """The money an entry's new version moved since the version before (``old``; None
    for the first version seen), dated as the module docstring says."""
    moves = []
    paid = new.paid_minor - (old.paid_minor if old else 0)
    if paid:
        at = payment_verified_at or (new.paid_at if paid > 0 else None) or changed_at
        moves.append(MoneyMovement(PAYMENT, paid, at, new.currency))
    refunded = new.refunded_minor - (old.refunded_minor if old else 0)
    if refunded:
        moves.append(MoneyMovement(REFUND, -refunded, changed_at, new.currency))
    return moves


@dataclass(frozen=True)
class CollectionTotals:
    collected_mtd_minor: int
    collected_ytd_minor: int
    outstanding_minor: int
    overdue_count: int


def collection_totals(
    entries: Iterable[EntryFacts],
    movements: Iterable[MoneyMovement],
    *,
    calendar: KpiCalendar,
    timezone: str,
    currency: str,
) -> CollectionTotals:
    """Collections from raw facts (the definition the read model's aggregates follow):
    collected from the money movements, outstanding and overdue from the entries'
    current versions. Another currency is never summed."""
    mtd = ytd = outstanding = overdue = 0
    for move in movements:
        if move.currency != currency:
            continue
        moved_on = local_date_of(move.at, timezone)
        if calendar.in_year(moved_on):
            ytd += move.amount_minor
            if calendar.in_month(moved_on):
                mtd += move.amount_minor
    for entry in entries:
        if entry.currency != currency:
            continue
        outstanding += entry.outstanding_minor
        if entry.status == "DUE" and entry.due_date is not None and entry.due_date < calendar.as_of:
            overdue += 1
    return CollectionTotals(mtd, ytd, outstanding, overdue)


@dataclass(frozen=True)
class UnitCounts:
    total: int
    blocked: int
    maintenance: int
    occupied: int
    unknown: int

    @property
    def rentable(self) -> int:
        """Occupancy denominator: BLOCKED and MAINTENANCE units are left out."""
        return self.total - self.blocked - self.maintenance


def unit_counts(statuses: Iterable[DailyStatus]) -> UnitCounts:
    """Count one resolved daily status per unit."""
    listed = list(statuses)
    return UnitCounts(
        total=len(listed),
        blocked=sum(1 for s in listed if s == DailyStatus.BLOCKED),
        maintenance=sum(1 for s in listed if s == DailyStatus.MAINTENANCE),
        occupied=sum(1 for s in listed if s == DailyStatus.OCCUPIED),
        unknown=sum(1 for s in listed if s == DailyStatus.UNKNOWN),
    )


@dataclass(frozen=True)
class KpiInputs:
    currency: str
    calendar: KpiCalendar
    units: UnitCounts
    monthly_rent_sum_minor: int
    collections: CollectionTotals
    occupied_unit_days_mtd: int


@dataclass(frozen=True)
class BuildingKpis:
    currency: str
    as_of: date
    total_units: int
    rentable_units: int
    occupied_units: int
    unknown_units: int
    blocked_units: int
    maintenance_units: int
    occupancy_rate_percent: Decimal | None
    par_minor: int
    collected_mtd_minor: int
    collected_ytd_minor: int
    ear_minor: int
    run_rate_minor: int
    outstanding_minor: int
    overdue_count: int
    occupied_unit_days_mtd: int
    days_so_far_in_month: int
    days_so_far_in_year: int
    adr_minor: int | None
    revpau_minor: int | None


def ear_minor(collected_ytd_minor: int, days_so_far: int) -> int:
    if days_so_far <= 0:
        raise ValueError("days so far must be at least 1")
    return round_half_even(Fraction(collected_ytd_minor * DAYS_PER_YEAR_IN_EAR, days_so_far))


def adr_minor(total_revenue_minor: int, occupied_days: int) -> int | None:
    if occupied_days == 0:
        return None
    return round_half_even(Fraction(total_revenue_minor, occupied_days))


def revpau_minor(total_revenue_minor: int, total_units: int, days: int) -> int | None:
    if total_units == 0 or days == 0:
        return None
    return round_half_even(Fraction(total_revenue_minor, total_units * days))


def compute_kpis(inputs: KpiInputs) -> BuildingKpis:
    cal = inputs.calendar
    units = inputs.units
    col = inputs.collections
    return BuildingKpis(
        currency=inputs.currency,
        as_of=cal.as_of,
        total_units=units.total,
        rentable_units=units.rentable,
        occupied_units=units.occupied,
        unknown_units=units.unknown,
        blocked_units=units.blocked,
        maintenance_units=units.maintenance,
        occupancy_rate_percent=percent(units.occupied, units.rentable),
        par_minor=inputs.monthly_rent_sum_minor * 12,
        collected_mtd_minor=col.collected_mtd_minor,
        collected_ytd_minor=col.collected_ytd_minor,
        ear_minor=ear_minor(col.collected_ytd_minor, cal.days_so_far_in_year),
        run_rate_minor=col.collected_mtd_minor * 12,
        outstanding_minor=col.outstanding_minor,
        overdue_count=col.overdue_count,
        occupied_unit_days_mtd=inputs.occupied_unit_days_mtd,
        days_so_far_in_month=cal.days_so_far_in_month,
        days_so_far_in_year=cal.days_so_far_in_year,
        adr_minor=adr_minor(col.collected_mtd_minor, inputs.occupied_unit_days_mtd),
        revpau_minor=revpau_minor(col.collected_mtd_minor, units.total, cal.days_so_far_in_month),
    )


@dataclass(frozen=True)
class PortfolioKpis:
    """Roll-up of buildings sharing one currency: sums, with rates recomputed from parts."""

    currency: str
    building_count: int
    total_units: int
    rentable_units: int
    occupied_units: int
    unknown_units: int
    occupancy_rate_percent: Decimal | None
    par_minor: int
    collected_mtd_minor: int
    collected_ytd_minor: int
    ear_minor: int
    run_rate_minor: int
    outstanding_minor: int
    overdue_count: int
    adr_minor: int | None
    revpau_minor: int | None


def roll_up(currency: str, buildings: Iterable[BuildingKpis]) -> PortfolioKpis:
    """Sum building KPIs of one currency; ADR and RevPAU are ratios of the summed parts.

    EAR is the sum of the buildings' EARs (each building annualises over its own
    local calendar), so the portfolio EAR equals what the buildings report.
    """
    items = [b for b in buildings if b.currency == currency]
    occupied = sum(b.occupied_units for b in items)
    rentable = sum(b.rentable_units for b in items)
    mtd = sum(b.collected_mtd_minor for b in items)
    occupied_days = sum(b.occupied_unit_days_mtd for b in items)
    unit_days = sum(b.total_units * b.days_so_far_in_month for b in items)
    return PortfolioKpis(
        currency=currency,
        building_count=len(items),
        total_units=sum(b.total_units for b in items),
        rentable_units=rentable,
        occupied_units=occupied,
        unknown_units=sum(b.unknown_units for b in items),
        occupancy_rate_percent=percent(occupied, rentable),
        par_minor=sum(b.par_minor for b in items),
        collected_mtd_minor=mtd,
        collected_ytd_minor=sum(b.collected_ytd_minor for b in items),
        ear_minor=sum(b.ear_minor for b in items),
        run_rate_minor=sum(b.run_rate_minor for b in items),
        outstanding_minor=sum(b.outstanding_minor for b in items),
        overdue_count=sum(b.overdue_count for b in items),
        adr_minor=adr_minor(mtd, occupied_days),
        revpau_minor=None if unit_days == 0 else round_half_even(Fraction(mtd, unit_days)),
    )


#: Open receivables without a due date are aggregated under this sentinel date,
#: which is never before any ``as_of`` (so they are outstanding, never overdue).
NO_DUE_DATE = date(9999, 12, 31)


@dataclass(frozen=True)
class OpenReceivable:
    """What one entry version adds to the pre-aggregated open receivables."""

    currency: str
    status: str
    due_date: date
    outstanding_minor: int


def open_receivable_of(entry: EntryFacts) -> OpenReceivable | None:
    """The open-receivables row an entry counts in (None unless DUE/PENDING)."""
    if entry.status not in OUTSTANDING_STATUSES:
        return None
    return OpenReceivable(
        currency=entry.currency,
        status=entry.status,
        due_date=entry.due_date or NO_DUE_DATE,
        outstanding_minor=entry.outstanding_minor,
    )


#: How many months a collections chart may ask for (a bounded scan of daily rows).
MAX_COLLECTION_MONTHS = 24


def months_ending(as_of: date, count: int) -> list[date]:
    """The first days of the ``count`` local months ending with ``as_of``'s, oldest first."""
    if not 1 <= count <= MAX_COLLECTION_MONTHS:
        raise ValueError(f"months must be 1 to {MAX_COLLECTION_MONTHS}")
    index = as_of.year * 12 + as_of.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - count + 1, index + 1)]
