"""What the journal remembers of accounts' first usages, to leave known accounts out of
the batch's account upsert."""

from datetime import UTC, datetime, timedelta

from folio.ledger.adapters.journal_repository import KnownFirstUsages

DAY = datetime(2024, 3, 1, tzinfo=UTC)


def test_unknown_accounts_and_earlier_usages_need_the_upsert():
    known = KnownFirstUsages()
    batch = {"world": DAY, "mortgages:1": DAY}
    assert known.unknown("folio", batch) == batch
    known.remember("folio", batch)
    # at or after the remembered time: nothing to change; earlier: the row moves
    later = {"world": DAY + timedelta(days=1), "mortgages:1": DAY}
    assert known.unknown("folio", later) == {}
    earlier = {"world": DAY - timedelta(seconds=1), "mortgages:2": DAY}
    assert known.unknown("folio", earlier) == earlier
    # another ledger's accounts are other accounts
    assert known.unknown("other", later) == later


def test_remembering_keeps_the_earliest_time():
    known = KnownFirstUsages()
    known.remember("folio", {"world": DAY})
    known.remember("folio", {"world": DAY + timedelta(days=3)})
    assert known.unknown("folio", {"world": DAY + timedelta(days=1)}) == {}


def test_the_memory_is_bounded():
    known = KnownFirstUsages(limit=3)
    known.remember("folio", {"a": DAY, "b": DAY})
    known.remember("folio", {"c": DAY, "d": DAY})  # over the limit: starts over
    assert known.unknown("folio", {"a": DAY}) == {"a": DAY}
    assert known.unknown("folio", {"c": DAY}) == {}
