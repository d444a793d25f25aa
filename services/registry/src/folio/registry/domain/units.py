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
