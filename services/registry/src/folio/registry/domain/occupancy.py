"""Occupancy source selection (seed 003 §2, revised) and daily status resolution.

The rule, exactly as the seed states it:

* unit mapped with ``source_of_truth = BEDS24``: fresh Beds24 data → use it;
  no fresh Beds24 data → ``UNKNOWN``. Never fall back to local bookings, because
  stale or conflicting local data must not be treated as authoritative.
* unit mapped with ``source_of_truth = LOCAL`` → local bookings.
* unit without a mapping → local bookings.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from folio.registry.domain.units import BookingStatus, SourceOfTruth, UnitStatus

#: How old a Beds24 observation may be and still count as "available" data.
DEFAULT_BEDS24_MAX_AGE = timedelta(hours=6)


class OccupancyState(StrEnum):
    OCCUPIED = "OCCUPIED"
    VACANT = "VACANT"
    UNKNOWN = "UNKNOWN"


class DailyStatus(StrEnum):
    """What one ``unit_daily_status`` row records for a unit on a date."""

    OCCUPIED = "OCCUPIED"
    VACANT = "VACANT"
    UNKNOWN = "UNKNOWN"
    BLOCKED = "BLOCKED"
    MAINTENANCE = "MAINTENANCE"


@dataclass(frozen=True)
class Beds24Observation:
    """What Beds24 said about one unit on one night, and when we asked."""

    stay_date: date
    occupied: bool
    observed_at: datetime


@dataclass(frozen=True)
class LocalStay:
    """A local booking's span: occupies nights ``start_date <= d < end_date``."""

    start_date: date
    end_date: date
    status: BookingStatus = BookingStatus.CONFIRMED

    def occupies(self, night: date) -> bool:
        return self.status == BookingStatus.CONFIRMED and self.start_date <= night < self.end_date


@dataclass(frozen=True)
class OccupancyReading:
    """The computed occupancy of a unit on a night and the source it came from."""

    source: SourceOfTruth
    state: OccupancyState


def is_fresh(observation: Beds24Observation, *, now: datetime, max_age: timedelta) -> bool:
    """An observation counts only if it was taken within ``max_age`` of ``now``.

    An observation from the future (clock skew) is treated as fresh; its age is 0.
    """
    return now - observation.observed_at <= max_age


def select_occupancy(
    *,
    source_of_truth: SourceOfTruth | None,
    night: date,
    beds24_observation: Beds24Observation | None,
    local_stays: Iterable[LocalStay],
    now: datetime,
    max_age: timedelta = DEFAULT_BEDS24_MAX_AGE,
) -> OccupancyReading:
    """Occupancy of one unit on ``night``; ``source_of_truth`` is None when unmapped."""
    fresh_observation = (
        beds24_observation is not None
        and beds24_observation.stay_date == night
        and is_fresh(beds24_observation, now=now, max_age=max_age)
    )
    return select_occupancy_from_facts(
        source_of_truth=source_of_truth,
        beds24_occupied=beds24_observation.occupied
        if fresh_observation and beds24_observation
        else None,
        local_occupied=any(stay.occupies(night) for stay in local_stays),
    )


def select_occupancy_from_facts(
    *,
    source_of_truth: SourceOfTruth | None,
    beds24_occupied: bool | None,
    local_occupied: bool,
) -> OccupancyReading:
    """The seed's rule on already-gathered facts.

    ``beds24_occupied`` is None when there is no fresh Beds24 observation for the
    night. Used set-wise by queries that group units by these facts.
    """
    if source_of_truth == SourceOfTruth.BEDS24:
        if beds24_occupied is None:
            return OccupancyReading(SourceOfTruth.BEDS24, OccupancyState.UNKNOWN)
        state = OccupancyState.OCCUPIED if beds24_occupied else OccupancyState.VACANT
        return OccupancyReading(SourceOfTruth.BEDS24, state)
    return OccupancyReading(
        SourceOfTruth.LOCAL, OccupancyState.OCCUPIED if local_occupied else OccupancyState.VACANT
    )


def freshness_reference(night: date, timezone: str, now: datetime) -> datetime:
    """The moment an observation of ``night`` must be fresh at.

    For tonight it is ``now``; for a past night it is the end of that local day,
    so a snapshot job that runs after midnight still accepts observations taken
    during the day it records (and any taken later).
    """
    end_of_night_day = datetime.combine(night + timedelta(days=1), time.min, ZoneInfo(timezone))
    return min(now, end_of_night_day)


@dataclass(frozen=True)
class Beds24FetchState:
    """What the registry knows of the last Beds24 fetches of one unit's property."""

    property_id: int
    room_id: int
    unit_number: str
    last_fetched_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None


def unknown_reason_of(
    state: Beds24FetchState | None, night: date, *, now: datetime, max_age: timedelta
) -> str:
    """Why a Beds24 unit has no fresh data for ``night`` (it is UNKNOWN, never LOCAL);
    ``state`` is None when the unit has no Beds24 mapping."""
    if state is None:
        return "no Beds24 mapping"
    failure = ""
    if state.last_error and state.last_attempt_at is not None:
        failure = f"; the last attempt at {state.last_attempt_at.isoformat()} failed"
    fetched = state.last_fetched_at
    if fetched is None:
        return f"Beds24 property {state.property_id} has not been fetched yet{failure}"
    if fetched < now - max_age:
        return (
            f"Beds24 property {state.property_id} is stale: last fetched at "
            f"{fetched.isoformat()}, more than {int(max_age.total_seconds())} s ago{failure}"
        )
    return (
        f"Beds24 property {state.property_id} (fetched at {fetched.isoformat()}) gave no fresh "
        f"count for room {state.room_id} unit {state.unit_number} on {night.isoformat()}"
    )


def daily_status(unit_status: UnitStatus, reading: OccupancyReading) -> DailyStatus:
    """A BLOCKED or MAINTENANCE unit is recorded as such; others by their occupancy.

    This keeps the KPI numerator (occupied) inside its denominator (units not
    blocked and not in maintenance).
    """
    if unit_status == UnitStatus.BLOCKED:
        return DailyStatus.BLOCKED
    if unit_status == UnitStatus.MAINTENANCE:
        return DailyStatus.MAINTENANCE
    return DailyStatus(reading.state.value)
