"""Retrying a unit of work that lost a race inside PostgreSQL.

A deadlock (40P01) or a serialization failure (40001) means the database rolled the
transaction back and nothing of it was kept: running the same work again is safe.
Every service's routes run their unit of work through ``retry_transient`` so a
lost race is retried with backoff and, if it keeps losing, answers 409 with a
stable problem type instead of a 500.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from folio.shared.problems import Problem

T = TypeVar("T")

TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE behind a SQLAlchemy or asyncpg error, if any."""
    for candidate in (exc, getattr(exc, "orig", None)):
        while candidate is not None:
            state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
            if state:
                return state
            candidate = candidate.__cause__
    return None


def is_transient(exc: BaseException) -> bool:
    """True for an error after which PostgreSQL kept nothing and a rerun may succeed."""
    return sqlstate_of(exc) in TRANSIENT_SQLSTATES


class ConcurrentUpdate(Problem):
    """The work kept losing races after every retry."""

    def __init__(self) -> None:
        super().__init__(
            409,
            "concurrent-update",
            "Conflict",
            "the change collided with concurrent changes; try again",
        )


async def retry_transient(
    work: Callable[[], Awaitable[T]],
    *,
    attempts: int = 6,
    base_delay: float = 0.01,
    max_delay: float = 0.5,
) -> T:
    """Run ``work()`` (which opens, runs and commits its own unit of work) and run it
    again after a deadlock or serialization failure, with jittered exponential
    backoff. After the last attempt a transient failure answers ``ConcurrentUpdate``
    (409); any other error propagates unchanged."""
    for attempt in range(attempts):
        try:
            return await work()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts - 1:
                raise ConcurrentUpdate() from exc
            delay = min(max_delay, base_delay * 2**attempt)
            await asyncio.sleep(random.uniform(delay / 2, delay))  # noqa: S311 (jitter, not a secret)
    raise AssertionError("unreachable")
