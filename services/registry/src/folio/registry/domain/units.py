"""Unit and mapping vocabulary (seed 003 §5 enum values)."""

from enum import StrEnum


class UnitStatus(StrEnum):
    """What an admin sets on a unit. Occupancy is computed, never stored here."""

    AVAILABLE = "AVAILABLE"
    BLOCKED = "BLOCKED"
    MAINTENANCE = "MAINTENANCE"


class SourceOfTruth(StrEnum):
    """Which system a unit's occupancy is read from (``beds24_map.source_of_truth``)."""

    BEDS24 = "BEDS24"
    LOCAL = "LOCAL"


class BookingStatus(StrEnum):
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class MortgageStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PAID_OFF = "PAID_OFF"
    DEFAULTED = "DEFAULTED"
    CLOSED = "CLOSED"


DEFAULT_TIMEZONE = "Asia/Riyadh"

#: Seed §5: a unit's status is AVAILABLE, BLOCKED or MAINTENANCE, and BLOCKED and
#: MAINTENANCE units are taken out of the rentable stock (occupancy denominator).
#: A unit that is not rentable cannot take a booking.
BOOKABLE_STATUSES = frozenset({UnitStatus.AVAILABLE})


def booking_refusal(unit_status: str) -> str | None:
    """Why a unit in ``unit_status`` cannot take a new booking, or None when it can."""
    if unit_status in BOOKABLE_STATUSES:
        return None
    return (
        f"the unit is {unit_status}: it is not rentable and cannot take a booking "
        "until it is AVAILABLE again"
    )
