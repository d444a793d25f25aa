"""Bounds of what the journal stores: UTC years 1-9999, amounts and volumes within
bigint; rows the chain cannot read are reported by id."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from folio.ledger.domain.journal import (
    GENESIS_HASH,
    MAX_AMOUNT,
    MAX_VOLUME,
    InvalidPosting,
    InvalidTimestamp,
    OverdraftPolicy,
    Posting,
    SealRecord,
    Transaction,
    VolumeOverflow,
    Volumes,
    apply_postings,
    chain_hash,
    check_timestamp,
    content_hash,
    verify_chain,
)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(1, 1, 1, 0, 0, 0, 0, tzinfo=timezone(timedelta(microseconds=1))),
        datetime(2024, 1, 1),  # naive
        "2024-01-01T00:00:00Z",  # not a datetime
    ],
)
def test_times_outside_utc_years_are_refused(moment):
    with pytest.raises(InvalidTimestamp):
        check_timestamp(moment)


@pytest.mark.parametrize(
    "moment",
    [
        datetime.max.replace(tzinfo=UTC),
        datetime.min.replace(tzinfo=UTC),
        datetime(1, 1, 1, 5, 0, tzinfo=timezone(timedelta(hours=5))),
        datetime(9999, 12, 31, 12, tzinfo=timezone(timedelta(hours=-11, minutes=-59))),
    ],
)
def test_times_inside_are_returned_in_utc(moment):
    utc = check_timestamp(moment)
    assert utc == moment and utc.utcoffset() == timedelta(0)


def test_amount_beyond_bigint_is_refused():
    Posting("world", "a", MAX_AMOUNT, "USD/2").validate()
    with pytest.raises(InvalidPosting):
        Posting("world", "a", MAX_AMOUNT + 1, "USD/2").validate()


def test_volumes_pass_bigint_and_stop_only_at_the_numeric_column():
    policy = OverdraftPolicy()
    summed = apply_postings(
        {}, [Posting("world", "a", MAX_AMOUNT, "X"), Posting("world", "a", 1, "X")], policy
    )
    assert summed[("world", "X")].output == MAX_AMOUNT + 1
    near = {("world", "X"): Volumes(0, MAX_VOLUME - 1)}
    after = apply_postings(near, [Posting("world", "b", 1, "X")], policy)
    assert after[("world", "X")].output == MAX_VOLUME
    with pytest.raises(VolumeOverflow):  # on top of stored volumes
        apply_postings(after, [Posting("world", "b", 1, "X")], policy)
    assert near == {("world", "X"): Volumes(0, MAX_VOLUME - 1)}  # untouched


def _tx(tx_id: int, timestamp) -> Transaction:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Transaction("L", tx_id, (Posting("world", "a", 1, "X"),), timestamp, at)


def test_a_stored_time_python_cannot_hold_hashes_by_its_database_rendering():
    late = "10000-01-01T11:59:59.000000Z AD"
    assert content_hash(_tx(1, late)) == content_hash(_tx(1, late))
    assert content_hash(_tx(1, late)) != content_hash(_tx(1, "10000-01-01T11:59:58.000000Z AD"))


def test_unreadable_rows_are_problems_with_their_ids():
    h1 = content_hash(_tx(1, datetime(2026, 1, 1, tzinfo=UTC)))
    seals = [SealRecord(1, 1, h1, chain_hash(GENESIS_HASH, h1))]
    problems = verify_chain(seals, {}, {1: "TypeError: x", 2: "KeyError: y"})
    assert [(p.seal_seq, p.transaction_id, p.problem) for p in problems] == [
        (1, 1, "row unreadable: TypeError: x"),
        (None, 2, "row unreadable, not sealed: KeyError: y"),
    ]
    assert verify_chain(seals, {1: h1}) == []
