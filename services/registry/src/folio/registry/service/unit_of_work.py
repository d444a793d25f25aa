"""The registry's unit of work: one transaction with the registry repository attached."""

from folio.registry.adapters.repository import RegistryRepository
from folio.shared.uow import UnitOfWork


class RegistryUnitOfWork(UnitOfWork):
    repo: RegistryRepository

    async def _open(self) -> None:
        self.repo = RegistryRepository(self.session)
