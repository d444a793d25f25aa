"""The ledger's unit of work: one transaction, the shared outbox/inbox, its repositories."""

import json
import uuid

from sqlalchemy import text

from folio.ledger.adapters.entries_repository import EntriesRepository
from folio.ledger.adapters.journal_repository import JournalRepository
from folio.shared.uow import UnitOfWork


class LedgerUnitOfWork(UnitOfWork):
    """Same semantics as the shared unit of work; the inbox and outbox writes are
    single ``unnest`` statements because the ledger consumes in batches of hundreds
    (a compiled multi-VALUES statement per batch cost more than the journal write)."""

    entries: EntriesRepository
    journal: JournalRepository

    async def _open(self) -> None:
        self.entries = EntriesRepository(self.session)
        self.journal = JournalRepository(self.session)

    async def first_deliveries(self, consumer: str, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        if not event_ids:
            return set()
        result = await self.session.execute(
            text(
                "INSERT INTO processed_messages (consumer, event_id, processed_at) "
                "SELECT :consumer, e, now() FROM unnest(CAST(:ids AS uuid[])) AS e "
                "ON CONFLICT DO NOTHING RETURNING event_id"
            ),
            {"consumer": consumer, "ids": list(event_ids)},
        )
        return set(result.scalars().all())

    async def commit(self) -> None:
        rows = self._outbox_rows
        if rows:
            await self.session.execute(
                text(
                    # WITH ORDINALITY + ORDER BY: outbox ids follow emit order, which the
                    # relay relies on for per-key ordering.
                    "INSERT INTO outbox (event_id, topic, key, value, headers, created_at) "
                    "SELECT e, t, k, v, CAST(h AS jsonb), c FROM unnest(CAST(:e AS uuid[]), "
                    "CAST(:t AS text[]), CAST(:k AS text[]), CAST(:v AS bytea[]), "
                    "CAST(:h AS text[]), CAST(:c AS timestamptz[])) WITH ORDINALITY "
                    "AS r(e, t, k, v, h, c, n) ORDER BY n"
                ),
                {
                    "e": [r["event_id"] for r in rows],
                    "t": [r["topic"] for r in rows],
                    "k": [r["key"] for r in rows],
                    "v": [r["value"] for r in rows],
                    "h": [json.dumps(r["headers"]) for r in rows],
                    "c": [r["created_at"] for r in rows],
                },
            )
            self._outbox_rows = []
        await super().commit()
