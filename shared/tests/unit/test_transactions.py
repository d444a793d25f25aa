"""retry_transient: a lost race is retried with backoff, then answers 409; other errors pass."""

import asyncio

import pytest
from sqlalchemy import exc as sa_exc

from folio.shared.transactions import ConcurrentUpdate, is_transient, retry_transient


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _db_error(sqlstate: str) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("UPDATE entries", {}, _DriverError(sqlstate))


def test_deadlock_and_serialization_failure_are_transient_others_are_not():
    assert is_transient(_db_error("40P01"))
    assert is_transient(_db_error("40001"))
    assert not is_transient(_db_error("23505"))
    assert not is_transient(ValueError("x"))


def test_a_lost_race_is_run_again_until_it_succeeds():
    calls = []

    async def work():
        calls.append(1)
        if len(calls) < 3:
            raise _db_error("40P01")
        return "done"

    assert asyncio.run(retry_transient(work, base_delay=0.001)) == "done"
    assert len(calls) == 3


def test_a_race_lost_every_time_answers_409():
    calls = []

    async def work():
        calls.append(1)
        raise _db_error("40001")

    with pytest.raises(ConcurrentUpdate) as caught:
        asyncio.run(retry_transient(work, attempts=4, base_delay=0.001))
    assert caught.value.status == 409 and len(calls) == 4


def test_any_other_error_is_not_retried():
    calls = []

    async def work():
        calls.append(1)
        raise _db_error("23505")

    with pytest.raises(sa_exc.DBAPIError):
        asyncio.run(retry_transient(work, base_delay=0.001))
    assert len(calls) == 1
