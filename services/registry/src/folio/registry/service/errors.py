"""Refusals the registry's use cases raise (problem+json at the HTTP edge)."""

from collections.abc import Awaitable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from folio.shared.problems import Problem, conflict, not_found, unprocessable

T = TypeVar("T")

__all__ = ["Problem", "conflict", "not_found", "unique_or_conflict", "unprocessable"]


async def unique_or_conflict(operation: Awaitable[T], what: str) -> T:
    """Run a write; a unique/foreign-key violation becomes 409 (the DB is the judge)."""
    try:
        return await operation
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
        raise conflict(
            "conflict", f"{what} conflicts with existing data", constraint=constraint
        ) from None
