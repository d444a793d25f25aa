"""The ledger's unit of work: one transaction, the shared outbox/inbox, its repositories."""

from folio.ledger.adapters.entries_repository import EntriesRepository
from folio.ledger.adapters.journal_repository import JournalRepository
from folio.shared.uow import UnitOfWork


class LedgerUnitOfWork(UnitOfWork):
    """The shared unit of work with the ledger's repositories."""

    entries: EntriesRepository
    journal: JournalRepository

    async def _open(self) -> None:
        self.entries = EntriesRepository(self.session)
        self.journal = JournalRepository(self.session)
