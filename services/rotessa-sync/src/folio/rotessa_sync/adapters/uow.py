"""Rotessa-sync's unit of work: the shared outbox/inbox plus its repository."""

from folio.rotessa_sync.adapters.repository import RotessaRepository
from folio.shared.uow import UnitOfWork


class RotessaUnitOfWork(UnitOfWork):
    repo: RotessaRepository

    async def _open(self) -> None:
        self.repo = RotessaRepository(self.session)
