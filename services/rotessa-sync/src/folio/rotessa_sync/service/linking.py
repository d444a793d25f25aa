"""Linking a Rotessa schedule to a mortgage: atomic, unique both ways, audited."""

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError

from folio.rotessa_sync.domain.linking import LinkRefusal, LinkRefused, check_link
from folio.rotessa_sync.domain.model import RotessaSchedule
from folio.rotessa_sync.service.backfill import create_backfill_row
from folio.shared.contracts import ScheduleLinked
from folio.shared.problems import Problem, conflict


@dataclass(frozen=True)
class LinkSchedule:
    mortgage_id: str
    schedule: RotessaSchedule
    linked_by: str
    start_backfill: bool
    today: date


@dataclass(frozen=True)
class LinkResult:
    mortgage_id: str
    schedule_id: int
    created: bool
    backfill_id: uuid.UUID | None


def refusal_problem(exc: LinkRefused) -> Problem:
    if exc.refusal is LinkRefusal.MORTGAGE_UNKNOWN:
        return Problem(404, "mortgage-not-found", "Mortgage not found", exc.detail)
    return conflict(exc.refusal.value.lower().replace("_", "-"), exc.detail)


async def link_schedule(command: LinkSchedule, uow: Any) -> LinkResult:
    """One transaction: the link row, ``schedule.linked``, the audit record and,
    if asked, the backfill. The unique constraints settle concurrent admins."""
    async with uow:
        result = await link_schedule_in(command, uow)
        await uow.commit()
    return result


async def link_schedule_in(command: LinkSchedule, uow: Any) -> LinkResult:
    """``link_schedule`` in a unit of work the caller opened (and commits)."""
    schedule = command.schedule
    mortgage = await uow.repo.get_mortgage(command.mortgage_id)
    link_of_mortgage = await uow.repo.link_of_mortgage(command.mortgage_id)
    link_of_schedule = await uow.repo.link_of_schedule(schedule.schedule_id)
    schedule_of_mortgage = (
        link_of_mortgage.schedule_id
        if link_of_mortgage
        else (mortgage.rotessa_schedule_id if mortgage else None)
    )
    mortgage_of_schedule = (
        link_of_schedule.mortgage_id
        if link_of_schedule
        else await uow.repo.mortgage_claiming_schedule(schedule.schedule_id)
    )
    try:
        exists = check_link(
            mortgage=mortgage,
            mortgage_id=command.mortgage_id,
            schedule_id=schedule.schedule_id,
            schedule_of_mortgage=schedule_of_mortgage,
            mortgage_of_schedule=mortgage_of_schedule,
        )
    except LinkRefused as exc:
        raise refusal_problem(exc) from None
    now = await uow.now()
    if not exists or link_of_mortgage is None:
        values = dict(
            mortgage_id=command.mortgage_id,
            schedule_id=schedule.schedule_id,
            customer_id=schedule.customer_id,
            customer_name=schedule.customer_name,
            amount_minor=schedule.amount_minor,
            currency=schedule.currency,
            frequency=schedule.frequency,
            first_process_date=schedule.process_date,
            source="admin",
            linked_by=command.linked_by,
            linked_at=now,
        )
        try:
            async with uow.session.begin_nested():
                await uow.repo.insert_link(**values)
        except IntegrityError:
            raise conflict(
                "link-conflict",
                f"mortgage {command.mortgage_id} or schedule {schedule.schedule_id}"
                " was linked concurrently",
            ) from None
        uow.emit(
            ScheduleLinked(
                mortgage_id=command.mortgage_id,
                schedule_id=schedule.schedule_id,
                customer_id=schedule.customer_id,
                linked_by=command.linked_by,
                linked_at=now,
            )
        )
        await uow.audit(
            command.linked_by,
            "schedule.linked",
            "mortgage",
            command.mortgage_id,
            {
                "schedule_id": schedule.schedule_id,
                "customer_id": schedule.customer_id,
                "customer_name": schedule.customer_name,
                "amount_minor": schedule.amount_minor,
                "frequency": schedule.frequency,
                "start_backfill": command.start_backfill,
            },
        )
        created = True
    else:
        created = False
    backfill_id = None
    if command.start_backfill:
        link = await uow.repo.link_of_mortgage(command.mortgage_id)
        backfill_id = await create_backfill_row(
            uow,
            link,
            triggered_by=command.linked_by,
            today=command.today,
            now=now,
            retry_rejected=True,  # as any rerun: earlier refusals are sent again
        )
    return LinkResult(command.mortgage_id, schedule.schedule_id, created, backfill_id)


async def fill_in_schedule_details(uow: Any, mortgage_id: str, schedule: RotessaSchedule) -> None:
    """A link learnt from the registry lacks Rotessa's details (first process date,
    customer, amount); record them so a backfill knows where the report starts."""
    async with uow:
        link = await uow.repo.link_of_mortgage(mortgage_id)
        if link is None or link.schedule_id != schedule.schedule_id:
            return
        await uow.repo.update_link_details(
            mortgage_id,
            customer_id=schedule.customer_id,
            customer_name=schedule.customer_name,
            amount_minor=schedule.amount_minor,
            currency=schedule.currency,
            frequency=schedule.frequency,
            first_process_date=schedule.process_date,
        )
        await uow.commit()
