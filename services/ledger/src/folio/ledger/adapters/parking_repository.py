"""Facts that overtook the fact they depend on wait in ``parked_events`` (migration 0008).

A provider refund waits for its payment, a Rotessa reversal for its collection.
The handler of the awaited fact releases (marks) the waiting rows in its own
transaction and applies them there, so a parked fact is applied exactly once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

#: Advisory lock key of the parking of reversals (``hashtextextended`` of a fixed name).
_REVERSAL_PARKING = "ledger.parking:payment.reversed"


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    id: int
    kind: str
    key: str
    awaits: str
    payload: dict[str, Any]
    source_event_id: uuid.UUID | None


def _parked(row: Any) -> ParkedEvent:
    payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
    return ParkedEvent(row.id, row.kind, row.key, row.awaits, payload, row.source_event_id)


class ParkingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # A reversal is parked only after looking for its collection; a collection looks
    # for parked reversals after posting. Under READ COMMITTED the two can miss each
    # other (each sees the other's uncommitted work as absent), so they meet on one
    # advisory lock: every collection batch holds it shared until it commits, a
    # parker takes it exclusively (waiting for the batches in flight), then looks
    # for the collection again. Parking is rare; collection batches never wait on
    # each other.

    async def hold_off_reversal_parking(self) -> None:
        """Shared: no reversal is parked while this transaction may post a collection."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:k, 0))"),
            {"k": _REVERSAL_PARKING},
        )

    async def lock_reversal_parking(self) -> None:
        """Exclusive: the collections in flight have committed (or rolled back)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": _REVERSAL_PARKING},
        )

    async def park(
        self,
        kind: str,
        key: str,
        awaits: str,
        payload: dict[str, Any],
        source_event_id: uuid.UUID | None,
    ) -> bool:
        """Park a fact; False when it was already waiting (its latest sender is kept,
        so the answer when it is applied names the command that is still open)."""
        result = await self.session.execute(
            text(
                "INSERT INTO parked_events (kind, key, awaits, payload, source_event_id) "
                "VALUES (:kind, :key, :awaits, CAST(:payload AS jsonb), :source) "
                "ON CONFLICT (kind, key) DO UPDATE SET source_event_id = EXCLUDED.source_event_id "
                "WHERE parked_events.released_at IS NULL "
                "RETURNING (xmax = 0) AS inserted"
            ),
            {
                "kind": kind,
                "key": key,
                "awaits": awaits,
                "payload": json.dumps(payload, default=str),
                "source": source_event_id,
            },
        )
        row = result.first()
        return bool(row and row.inserted)

    async def release(self, kind: str, awaits: Sequence[str]) -> list[ParkedEvent]:
        """The waiting facts of this kind awaiting any of ``awaits``, marked released
        (one statement for a whole batch), oldest first."""
        if not awaits:
            return []
        result = await self.session.execute(
            text(
                "UPDATE parked_events p SET released_at = now() "
                "WHERE p.kind = :kind AND p.awaits = ANY(CAST(:awaits AS text[])) "
                "AND p.released_at IS NULL RETURNING p.*"
            ),
            {"kind": kind, "awaits": sorted(set(awaits))},
        )
        return sorted((_parked(r) for r in result), key=lambda p: p.id)

    async def waiting(self, kind: str, awaits: Sequence[str]) -> list[ParkedEvent]:
        result = await self.session.execute(
            text(
                "SELECT * FROM parked_events WHERE kind = :kind "
                "AND awaits = ANY(CAST(:awaits AS text[])) AND released_at IS NULL ORDER BY id"
            ),
            {"kind": kind, "awaits": list(awaits)},
        )
        return [_parked(r) for r in result]
