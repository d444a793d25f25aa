"""Occupancy source truth table, exactly as seed 003 §2 (revised): no LOCAL fallback."""

from datetime import UTC, date, datetime, timedelta

import pytest

from folio.registry.domain.occupancy import (
    Beds24Observation,
    DailyStatus,
    LocalStay,
    OccupancyReading,
    OccupancyState,
    daily_status,
    select_occupancy,
)
from folio.registry.domain.units import BookingStatus, SourceOfTruth, UnitStatus

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
NIGHT = date(2026, 3, 10)
MAX_AGE = timedelta(hours=6)
LOCAL_OCCUPIED = [LocalStay(date(2026, 3, 1), date(2026, 4, 1))]
LOCAL_VACANT: list[LocalStay] = []


def fresh(occupied: bool) -> Beds24Observation:
    return Beds24Observation(NIGHT, occupied, NOW - timedelta(hours=1))


STALE_OCCUPIED = Beds24Observation(NIGHT, True, NOW - timedelta(hours=7))
WRONG_NIGHT = Beds24Observation(date(2026, 3, 9), True, NOW)


@pytest.mark.parametrize(
    ("source", "observation", "local", "expected"),
    [
        # BEDS24 with fresh data → Beds24's answer, whatever local bookings say.
        (SourceOfTruth.BEDS24, fresh(True), LOCAL_VACANT, ("BEDS24", "OCCUPIED")),
        (SourceOfTruth.BEDS24, fresh(False), LOCAL_OCCUPIED, ("BEDS24", "VACANT")),
        # BEDS24 without (fresh) data → UNKNOWN, never the local bookings.
        (SourceOfTruth.BEDS24, None, LOCAL_OCCUPIED, ("BEDS24", "UNKNOWN")),
        (SourceOfTruth.BEDS24, None, LOCAL_VACANT, ("BEDS24", "UNKNOWN")),
        (SourceOfTruth.BEDS24, STALE_OCCUPIED, LOCAL_OCCUPIED, ("BEDS24", "UNKNOWN")),
        (SourceOfTruth.BEDS24, WRONG_NIGHT, LOCAL_OCCUPIED, ("BEDS24", "UNKNOWN")),
        # LOCAL mapping → local bookings, Beds24 data ignored.
        (SourceOfTruth.LOCAL, fresh(False), LOCAL_OCCUPIED, ("LOCAL", "OCCUPIED")),
        (SourceOfTruth.LOCAL, fresh(True), LOCAL_VACANT, ("LOCAL", "VACANT")),
        # No mapping → local bookings.
        (None, None, LOCAL_OCCUPIED, ("LOCAL", "OCCUPIED")),
        (None, fresh(True), LOCAL_VACANT, ("LOCAL", "VACANT")),
    ],
)
def test_source_selection_truth_table(source, observation, local, expected):
    reading = select_occupancy(
        source_of_truth=source,
        night=NIGHT,
        beds24_observation=observation,
        local_stays=local,
        now=NOW,
        max_age=MAX_AGE,
    )
    assert (reading.source.value, reading.state.value) == expected


def test_observation_exactly_max_age_old_is_still_fresh():
    edge = Beds24Observation(NIGHT, True, NOW - MAX_AGE)
    reading = select_occupancy(
        source_of_truth=SourceOfTruth.BEDS24,
        night=NIGHT,
        beds24_observation=edge,
        local_stays=[],
        now=NOW,
        max_age=MAX_AGE,
    )
    assert reading.state == OccupancyState.OCCUPIED
    older = Beds24Observation(NIGHT, True, NOW - MAX_AGE - timedelta(seconds=1))
    reading = select_occupancy(
        source_of_truth=SourceOfTruth.BEDS24,
        night=NIGHT,
        beds24_observation=older,
        local_stays=[],
        now=NOW,
        max_age=MAX_AGE,
    )
    assert reading.state == OccupancyState.UNKNOWN


def test_local_stay_occupies_from_start_night_until_the_night_before_checkout():
    stay = LocalStay(date(2026, 3, 1), date(2026, 3, 10))
    assert stay.occupies(date(2026, 3, 1))
    assert stay.occupies(date(2026, 3, 9))
    assert not stay.occupies(date(2026, 3, 10))  # check-out day is free
    assert not stay.occupies(date(2026, 2, 28))


def test_cancelled_local_booking_does_not_occupy():
    cancelled = [LocalStay(date(2026, 3, 1), date(2026, 4, 1), BookingStatus.CANCELLED)]
    reading = select_occupancy(
        source_of_truth=SourceOfTruth.LOCAL,
        night=NIGHT,
        beds24_observation=None,
        local_stays=cancelled,
        now=NOW,
    )
    assert reading.state == OccupancyState.VACANT


@pytest.mark.parametrize(
    ("unit_status", "state", "expected"),
    [
        (UnitStatus.AVAILABLE, OccupancyState.OCCUPIED, DailyStatus.OCCUPIED),
        (UnitStatus.AVAILABLE, OccupancyState.VACANT, DailyStatus.VACANT),
        (UnitStatus.AVAILABLE, OccupancyState.UNKNOWN, DailyStatus.UNKNOWN),
        (UnitStatus.BLOCKED, OccupancyState.OCCUPIED, DailyStatus.BLOCKED),
        (UnitStatus.MAINTENANCE, OccupancyState.UNKNOWN, DailyStatus.MAINTENANCE),
    ],
)
def test_daily_status_records_admin_status_before_occupancy(unit_status, state, expected):
    assert daily_status(unit_status, OccupancyReading(SourceOfTruth.LOCAL, state)) == expected


def test_unit_status_enum_has_exactly_the_seed_values_and_no_occupied():
    assert {s.value for s in UnitStatus} == {"AVAILABLE", "BLOCKED", "MAINTENANCE"}
    with pytest.raises(ValueError):
        UnitStatus("OCCUPIED")


def test_freshness_reference_is_now_for_tonight_and_end_of_day_for_past_nights():
    from folio.registry.domain.occupancy import freshness_reference

    now = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
    assert freshness_reference(date(2026, 3, 12), "Asia/Riyadh", now) == now
    # 2026-03-11 ends at 2026-03-12 00:00 Riyadh = 2026-03-11 21:00 UTC.
    assert freshness_reference(date(2026, 3, 11), "Asia/Riyadh", now) == datetime(
        2026, 3, 11, 21, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("source", "beds24_occupied", "local_occupied", "expected"),
    [
        (SourceOfTruth.BEDS24, True, False, OccupancyState.OCCUPIED),
        (SourceOfTruth.BEDS24, False, True, OccupancyState.VACANT),
        (SourceOfTruth.BEDS24, None, True, OccupancyState.UNKNOWN),
        (SourceOfTruth.LOCAL, None, True, OccupancyState.OCCUPIED),
        (None, True, False, OccupancyState.VACANT),
    ],
)
def test_selection_from_grouped_facts(source, beds24_occupied, local_occupied, expected):
    from folio.registry.domain.occupancy import select_occupancy_from_facts

    reading = select_occupancy_from_facts(
        source_of_truth=source, beds24_occupied=beds24_occupied, local_occupied=local_occupied
    )
    assert reading.state == expected


def test_unknown_reason_of_says_why_there_is_no_fresh_beds24_data():
    from folio.registry.domain.occupancy import Beds24FetchState, unknown_reason_of

    now = datetime(2026, 2, 10, 12, tzinfo=UTC)
    night = date(2026, 2, 10)
    age = timedelta(hours=6)

    def state(fetched, error=None):
        return Beds24FetchState(7, 1, "2", fetched, now - timedelta(minutes=1), error)

    assert unknown_reason_of(None, night, now=now, max_age=age) == "no Beds24 mapping"
    assert "has not been fetched yet" in unknown_reason_of(state(None), night, now=now, max_age=age)
    stale = unknown_reason_of(state(now - timedelta(hours=7), "502"), night, now=now, max_age=age)
    assert "is stale" in stale and "failed" in stale
    fresh = unknown_reason_of(state(now - timedelta(hours=1)), night, now=now, max_age=age)
    assert "gave no fresh count for room 1 unit 2 on 2026-02-10" in fresh
