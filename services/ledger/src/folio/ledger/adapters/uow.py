"""The ledger's unit of work: one transaction, the shared outbox/inbox, its repositories."""

from collections.abc import Callable

from sqlalchemy.ext.asyncio import async_sessionmaker

from folio.ledger.adapters.entries_repository import EntriesRepository
from folio.ledger.adapters.journal_repository import JournalRepository, KnownFirstUsages
from folio.ledger.adapters.parking_repository import ParkingRepository
from folio.shared.uow import UnitOfWork


class LedgerUnitOfWork(UnitOfWork):
    """The shared unit of work with the ledger's repositories."""

    entries: EntriesRepository
    journal: JournalRepository
    parked: ParkingRepository

    def __init__(
        self,
        sessionmaker: async_sessionmaker,
        *,
        producer: str,
        first_usages: KnownFirstUsages | None = None,
    ) -> None:
        super().__init__(sessionmaker, producer=producer)
        self._first_usages = first_usages if first_usages is not None else KnownFirstUsages()

    async def _open(self) -> None:
        self.entries = EntriesRepository(self.session)
        self.journal = JournalRepository(self.session, self._first_usages, self.after_commit)
        self.parked = ParkingRepository(self.session)


def unit_of_work_factory(
    sessionmaker: async_sessionmaker, *, producer: str
) -> Callable[[], LedgerUnitOfWork]:
    """Units of work on one database that share what they learn of it (accounts'
    first usages), as the service's routes and consumers do."""
    first_usages = KnownFirstUsages()

    def factory() -> LedgerUnitOfWork:
        return LedgerUnitOfWork(sessionmaker, producer=producer, first_usages=first_usages)

    return factory
