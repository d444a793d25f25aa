"""Date helpers for Rotessa frequencies and Rotessa's loose date strings."""

import calendar
import re
from datetime import date, timedelta

FREQUENCIES = (
    "Once",
    "Weekly",
    "Every Other Week",
    "Monthly",
    "Every Other Month",
    "Quarterly",
    "Semi-Annually",
    "Yearly",
)
_MONTHS = {"Monthly": 1, "Every Other Month": 2, "Quarterly": 3, "Semi-Annually": 6, "Yearly": 12}
_DAYS = {"Weekly": 7, "Every Other Week": 14}
_LOOSE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def add_months(anchor: date, months: int) -> date:
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def occurrence(anchor: date, frequency: str, n: int) -> date | None:
    """The n-th process date (0-based) of a schedule, computed from its anchor to avoid drift."""
    if frequency == "Once":
        return anchor if n == 0 else None
    if frequency in _DAYS:
        return anchor + timedelta(days=_DAYS[frequency] * n)
    if frequency in _MONTHS:
        return add_months(anchor, _MONTHS[frequency] * n)
    raise ValueError(f"unknown frequency {frequency!r}")


def parse_loose_date(value: str) -> date:
    match = _LOOSE.match(value)
    if not match:
        raise ValueError(f"invalid date {value!r}")
    year, month, day = (int(part) for part in match.groups())
    return date(year, month, day)


def unpadded(value: date) -> str:
    """Rotessa sometimes renders days without padding: 2019-03-7."""
    return f"{value.year}-{value.month:02d}-{value.day}"
