"""Fixtures for the console's tests: the real ledger (uvicorn on a free port) on the
session's embedded PostgreSQL, and the console pointed straight at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from folio.console.adapters.uow import ConsoleUnitOfWork
from folio.console.app import create_app
from folio.console.domain.users import Role
from folio.console.service import accounts
from folio.console.settings import ConsoleSettings
from folio.console.testing import PASSWORD, ServerThread
from folio.shared.db import create_engine, create_sessionmaker


@pytest.fixture(scope="session")
async def ledger_database_url(infra) -> str:
    return await infra.service_database_url("ledger")


@pytest.fixture(scope="session")
async def console_database_url(infra) -> str:
    return await infra.service_database_url("console")


@pytest.fixture(scope="session")
def ledger_server(ledger_database_url, infra) -> Iterator[ServerThread]:
    from folio.ledger.app import create_app as create_ledger
    from folio.ledger.settings import LedgerSettings

    settings = LedgerSettings(
        database_url=ledger_database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        run_messaging=False,
        log_json=False,
    )
    with ServerThread(create_ledger(settings)) as server:
        yield server


@pytest.fixture(scope="session")
def console_settings(console_database_url, ledger_server, infra) -> ConsoleSettings:
    return ConsoleSettings(
        database_url=console_database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        ledger_url=ledger_server.url,
        # The throttle's slowing is exercised, but briefly.
        throttle_delay_seconds=0.01,
        throttle_max_delay_seconds=0.02,
    )


@pytest.fixture(scope="session")
async def uow_factory(console_database_url):
    engine = create_engine(console_database_url, "console", pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    yield lambda: ConsoleUnitOfWork(sessionmaker, producer="console")
    await engine.dispose()


@pytest.fixture
def make_user(uow_factory):
    """A new user of the given role (unique e-mail), password :data:`PASSWORD`."""

    async def make(role: Role = Role.FINANCE, password: str = PASSWORD):
        email = f"{role.value}-{uuid.uuid4().hex[:10]}@example.com"
        return await accounts.create_user(uow_factory, "test", email, password, role)

    return make


@pytest.fixture
def console_app(console_settings):  # one per test: its lifespan closes its clients
    return create_app(console_settings)
