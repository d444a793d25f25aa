"""The buildings pages and the unit finance card: the seed's KPIs, the occupancy
breakdown, the collections chart, receivables, local dates. Pure.

Every figure is the registry's (its KPI definitions are the seed's, 003 §4); this
module only decides how a figure is shown: money in the building's currency with
its exponent, dates and instants in the building's timezone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from folio.console.domain.payments import format_money

#: Seed 003 §4 "Building-Level KPIs", in the seed's order: (field of the registry's
#: KPI answer, label, kind, the seed's formula).
KPIS: tuple[tuple[str, str, str, str], ...] = (
    ("occupancy_rate_percent", "Occupancy rate", "percent",
     "occupied / (total - blocked - maintenance) x 100"),
    ("unknown_units", "Unknown units", "count", "units with UNKNOWN occupancy (no fresh Beds24 data)"),
    ("par_minor", "PAR", "money", "Σ monthly base rent x 12 (potential annual rent)"),
    ("collected_mtd_minor", "Collected MTD", "money", "money received this month, net of refunds"),
    ("collected_ytd_minor", "Collected YTD", "money", "money received this year, net of refunds"),
    ("ear_minor", "EAR", "money", "collected YTD / days so far x 365"),
    ("run_rate_minor", "Annualized run-rate", "money", "collected MTD x 12"),
    ("outstanding_minor", "Outstanding balance", "money", "still owed on DUE and PENDING entries"),
    ("overdue_count", "Overdue count", "count", "DUE entries past their due date"),
    ("adr_minor", "ADR", "money", "revenue MTD / occupied unit-days MTD"),
    ("revpau_minor", "RevPAU", "money", "revenue MTD / total units / days so far this month"),
)  # fmt: skip

#: The breakdown's statuses, as the registry names them, and how the page calls them.
OCCUPANCY_STATUSES: tuple[tuple[str, str], ...] = (
    ("OCCUPIED", "Occupied"),
    ("VACANT", "Available"),
    ("BLOCKED", "Blocked"),
    ("MAINTENANCE", "Maintenance"),
    ("UNKNOWN", "Unknown"),
)
#: Daily statuses of a unit that are not a KPI (a snapshot that is missing).
NO_SNAPSHOT = "NONE"


class InputError(ValueError):
    """A form value the page cannot use (shown beside the form; nothing is fetched)."""


def parse_day(value: str | None, name: str = "as_of") -> date | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) != 10:
        raise InputError(f"{name} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{name} is not a date (YYYY-MM-DD)") from None


def zone(timezone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def today_in(timezone: str, now: datetime) -> date:
    """The local date in ``timezone`` at the aware instant ``now``."""
    return now.astimezone(zone(timezone)).date()


def local_time(value: str | datetime | None, timezone: str | None) -> str:
    """An instant of an API answer (ISO 8601, UTC) as local wall time in ``timezone``."""
    if not value:
        return "—"
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if instant.tzinfo is None:  # the services answer aware instants; never guess
        return instant.isoformat()
    return instant.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class KpiCard:
    key: str
    label: str
    value: str
    formula: str
    raw: int | str | None


def show(kind: str, value: Any, currency: str) -> str:
    if value is None:
        return "—"  # the registry's null: a zero denominator, never 0
    if kind == "money":
        return format_money(int(value), currency)
    if kind == "percent":
        return f"{value} %"
    return f"{int(value):,}"


def kpi_cards(kpis: dict[str, Any]) -> list[KpiCard]:
    """The seed's 11 KPIs of one building (or a currency's roll-up), ready to show."""
    currency = kpis["currency"]
    return [
        KpiCard(key, label, show(kind, kpis.get(key), currency), formula, kpis.get(key))
        for key, label, kind, formula in KPIS
    ]


@dataclass(frozen=True)
class Segment:
    status: str
    label: str
    count: int
    #: Horizontal position and width on a bar 1000 units wide (SVG viewBox units).
    x: int
    width: int


def occupancy_segments(counts: dict[str, int]) -> list[Segment]:
    """The breakdown as a stacked bar; widths add up to exactly 1000 when any unit."""
    total = sum(counts.get(status, 0) for status, _ in OCCUPANCY_STATUSES)
    segments, x, shown = [], 0, 0
    for status, label in OCCUPANCY_STATUSES:
        count = counts.get(status, 0)
        shown += count
        # Cumulative rounding: the last edge is exactly 1000, no gap, no overlap.
        edge = round(Fraction(shown * 1000, total)) if total else 0
        segments.append(Segment(status, label, count, x, edge - x))
        x = edge
    return segments


@dataclass(frozen=True)
class Bar:
    month: date
    label: str
    value: str
    amount_minor: int
    x: int
    y: int
    width: int
    height: int

    @property
    def negative(self) -> bool:
        return self.amount_minor < 0


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: int
    height: int
    zero_y: int
    top_label: str
    bottom_label: str | None


CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 960, 220, 24


def collections_chart(months: list[dict[str, Any]], currency: str) -> Chart:
    """Collected per month as SVG bars around a zero line (a refund month can be
    negative). Geometry only: the amounts shown are the registry's, formatted."""
    top = max([m["collected_minor"] for m in months] + [0])
    bottom = min([m["collected_minor"] for m in months] + [0])
    span = (top - bottom) or 1
    plot = CHART_HEIGHT - 2 * CHART_PAD
    zero_y = CHART_PAD + round(Fraction(top * plot, span))
    slot = CHART_WIDTH // max(len(months), 1)
    bars = []
    for index, month in enumerate(months):
        amount = month["collected_minor"]
        height = round(Fraction(abs(amount) * plot, span))
        y = zero_y - height if amount >= 0 else zero_y
        start = (
            date.fromisoformat(month["month"])
            if isinstance(month["month"], str)
            else month["month"]
        )
        bars.append(
            Bar(
                month=start,
                label=start.strftime("%b %Y"),
                value=format_money(amount, currency),
                amount_minor=amount,
                x=index * slot + slot // 6,
                y=y,
                width=slot - slot // 3,
                height=max(height, 1 if amount else 0),
            )
        )
    return Chart(
        bars=bars,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        zero_y=zero_y,
        top_label=format_money(top, currency),
        bottom_label=format_money(bottom, currency) if bottom < 0 else None,
    )


def last_days(today: date, count: int = 30) -> tuple[date, date]:
    """The first and last of the ``count`` days ending with ``today``."""
    return today - timedelta(days=count - 1), today


@dataclass(frozen=True)
class DayCell:
    day: date
    status: str


def snapshot_strip(rows: list[dict[str, Any]], start: date, end: date) -> list[DayCell]:
    """One cell per day from ``start`` to ``end``: the snapshot's status, or NONE."""
    by_day = {str(r["status_date"]): r["status"] for r in rows}
    cells, day = [], start
    while day <= end:
        cells.append(DayCell(day, by_day.get(day.isoformat(), NO_SNAPSHOT)))
        day += timedelta(days=1)
    return cells


def is_overdue(entry: dict[str, Any], today: date) -> bool:
    """The registry's definition: a DUE entry whose due date is before today."""
    due = entry.get("due_date")
    return entry.get("status") == "DUE" and bool(due) and str(due) < today.isoformat()
