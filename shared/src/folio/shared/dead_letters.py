"""Admin routes every service mounts: list and redrive its dead letters."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import select, update

from folio.shared.auth import READ_ROLES, WRITE_ROLES, Principal, require_roles
from folio.shared.db import dead_letters
from folio.shared.problems import not_found
from folio.shared.responses import DeadLetterList, Redriven
from folio.shared.uow import UnitOfWork


async def redrive_dead_letter(uow: UnitOfWork, dead_letter_id: int, actor: str) -> dict[str, Any]:
    """Republish a dead letter's original bytes to its original topic, through the outbox."""
    row = (
        await uow.session.execute(
            select(dead_letters).where(dead_letters.c.id == dead_letter_id).with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise not_found("dead letter", dead_letter_id)
    headers = {k: v for k, v in row.headers.items() if not k.startswith("x-")}
    uow.emit_raw(
        topic=row.topic,
        key=row.key.decode(errors="replace") if row.key else None,
        value=row.value or b"",
        headers=headers,
    )
    await uow.session.execute(
        update(dead_letters)
        .where(dead_letters.c.id == dead_letter_id)
        .values(redriven_at=datetime.now(UTC), redrive_count=dead_letters.c.redrive_count + 1)
    )
    await uow.audit(
        actor, "dead_letter.redrive", "dead_letter", str(dead_letter_id), {"topic": row.topic}
    )
    return {"id": dead_letter_id, "topic": row.topic, "redrive_count": row.redrive_count + 1}


def _public(row: Any) -> dict[str, Any]:
    value = row.value or b""
    return {
        "id": row.id,
        "consumer": row.consumer,
        "topic": row.topic,
        "partition": row.partition,
        "offset": row.offset,
        "event_id": str(row.event_id) if row.event_id else None,
        "event_type": row.event_type,
        "error": row.error,
        "attempts": row.attempts,
        "created_at": row.created_at,
        "redriven_at": row.redriven_at,
        "redrive_count": row.redrive_count,
        "value": value.decode(errors="replace"),
    }


def dead_letter_router(prefix: str, uow_dependency) -> APIRouter:
    router = APIRouter(prefix=f"{prefix}/admin/dead-letters", tags=["dead letters"])

    @router.get("", response_model=DeadLetterList)
    async def list_dead_letters(
        principal: Annotated[Principal, Depends(require_roles(*READ_ROLES))],
        uow: Annotated[UnitOfWork, Depends(uow_dependency)],
        open_only: bool = True,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        async with uow:
            stmt = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
            if open_only:
                stmt = stmt.where(dead_letters.c.redriven_at.is_(None))
            rows = (await uow.session.execute(stmt)).all()
        return {"data": [_public(r) for r in rows]}

    @router.post("/{dead_letter_id}/redrive", response_model=Redriven)
    async def redrive(
        # A bigint column: a larger id is a 422, not a database error.
        dead_letter_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        request: Request,
        principal: Annotated[Principal, Depends(require_roles(*WRITE_ROLES))],
        uow: Annotated[UnitOfWork, Depends(uow_dependency)],
    ) -> dict[str, Any]:
        async with uow:
            result = await redrive_dead_letter(uow, dead_letter_id, principal.subject)
            await uow.commit()
        return result

    return router
