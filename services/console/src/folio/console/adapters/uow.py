"""The console unit of work: users, sessions, throttle and the audit log in one transaction."""

from folio.console.adapters.repositories import (
    SessionsRepository,
    ThrottleRepository,
    UsersRepository,
)
from folio.shared.uow import UnitOfWork


class ConsoleUnitOfWork(UnitOfWork):
    users: UsersRepository
    sessions: SessionsRepository
    throttle: ThrottleRepository

    async def _open(self) -> None:
        self.users = UsersRepository(self.session)
        self.sessions = SessionsRepository(self.session)
        self.throttle = ThrottleRepository(self.session)
