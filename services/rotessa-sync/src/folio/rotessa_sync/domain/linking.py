"""Rules for linking a Rotessa schedule to a mortgage.

One schedule per mortgage and one mortgage per schedule. The database enforces
both with unique constraints; these checks give the admin a precise reason
before the insert is attempted.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from folio.rotessa_sync.domain.model import RotessaSchedule

#: Mortgage statuses (registry's, compared case-insensitively) that cannot take a schedule.
CLOSED_MORTGAGE_STATUSES = frozenset({"CLOSED", "DISCHARGED", "PAID_OFF", "CANCELLED", "ARCHIVED"})


class LinkRefusal(StrEnum):
    MORTGAGE_UNKNOWN = "MORTGAGE_UNKNOWN"
    MORTGAGE_CLOSED = "MORTGAGE_CLOSED"
    MORTGAGE_ALREADY_LINKED = "MORTGAGE_ALREADY_LINKED"
    SCHEDULE_ALREADY_LINKED = "SCHEDULE_ALREADY_LINKED"
    SCHEDULE_UNKNOWN = "SCHEDULE_UNKNOWN"


class LinkRefused(Exception):
    def __init__(self, refusal: LinkRefusal, detail: str) -> None:
        super().__init__(detail)
        self.refusal = refusal
        self.detail = detail

    @property
    def is_conflict(self) -> bool:
        return self.refusal in (
            LinkRefusal.MORTGAGE_ALREADY_LINKED,
            LinkRefusal.SCHEDULE_ALREADY_LINKED,
            LinkRefusal.MORTGAGE_CLOSED,
        )


@dataclass(frozen=True, slots=True)
class MortgageView:
    """The read model's view of a mortgage (from ``mortgage.changed``)."""

    mortgage_id: str
    borrower_name: str
    status: str
    principal_minor: int
    currency: str
    rotessa_schedule_id: int | None = None


def check_link(
    *,
    mortgage: MortgageView | None,
    mortgage_id: str,
    schedule_id: int,
    schedule_of_mortgage: int | None,
    mortgage_of_schedule: str | None,
) -> bool:
    """Refuse a link that breaks a rule; return True when it already exists (idempotent).

    ``schedule_of_mortgage`` / ``mortgage_of_schedule`` are the current links
    (local link table, or the schedule the registry already records on the mortgage).
    """
    if mortgage is None:
        raise LinkRefused(LinkRefusal.MORTGAGE_UNKNOWN, f"mortgage {mortgage_id} is not known")
    if schedule_of_mortgage == schedule_id and mortgage_of_schedule in (None, mortgage_id):
        return True
    if schedule_of_mortgage is not None:
        raise LinkRefused(
            LinkRefusal.MORTGAGE_ALREADY_LINKED,
            f"mortgage {mortgage_id} is already linked to schedule {schedule_of_mortgage}",
        )
    if mortgage_of_schedule is not None:
        raise LinkRefused(
            LinkRefusal.SCHEDULE_ALREADY_LINKED,
            f"schedule {schedule_id} is already linked to mortgage {mortgage_of_schedule}",
        )
    if mortgage.status.upper() in CLOSED_MORTGAGE_STATUSES:
        raise LinkRefused(
            LinkRefusal.MORTGAGE_CLOSED, f"mortgage {mortgage_id} is {mortgage.status}"
        )
    return False


def unlinked_schedules(
    schedules: Iterable[RotessaSchedule], linked_schedule_ids: set[int]
) -> list[RotessaSchedule]:
    """Every customer's schedules minus the linked ones, in a stable order for the admin."""
    return sorted(
        (s for s in schedules if s.schedule_id not in linked_schedule_ids),
        key=lambda s: (s.customer_name.lower(), s.schedule_id),
    )


def mortgages_without_schedule(
    mortgages: Iterable[MortgageView], linked_mortgage_ids: set[str]
) -> list[MortgageView]:
    return sorted(
        (
            m
            for m in mortgages
            if m.rotessa_schedule_id is None
            and m.mortgage_id not in linked_mortgage_ids
            and m.status.upper() not in CLOSED_MORTGAGE_STATUSES
        ),
        key=lambda m: (m.borrower_name.lower(), m.mortgage_id),
    )
