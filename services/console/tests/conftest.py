"""Fixtures for the console's tests: the real ledger and registry (uvicorn on free
ports) on the session's embedded PostgreSQL, and the console pointed straight at them.

The payment pipeline (a ledger worker with messaging, webhook intake, the payment
simulator) starts only for the tests that ask for ``payment_simulator``: an invoice
paid through the simulator turns PAID in the ledger and reaches the registry's KPIs
through the session's real broker, as in production.

The servers are package-scoped: they stop after the console's last test. Left running
for the whole session, they consumed the shared broker beside other services' tests
(a real ledger answering rotessa-sync's test commands), and their threads' use of the
global random module during a hypothesis draw made hypothesis format the repr of a
huge recursive strategy for a deprecation note, again and again: 23 GB, OOM-killed."""

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


@pytest.fixture(scope="package")
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
async def registry_database_url(infra) -> str:
    return await infra.service_database_url("registry")


@pytest.fixture(scope="package")
def registry_server(registry_database_url, infra) -> Iterator[ServerThread]:
    """The registry, consuming ledger.entry.changed (its KPI read model) from the broker."""
    from folio.registry.app import create_app as create_registry
    from folio.registry.settings import RegistrySettings

    settings = RegistrySettings(
        database_url=registry_database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        run_jobs=False,
        log_json=False,
        log_level="WARNING",
    )
    with ServerThread(create_registry(settings)) as server:
        yield server


@pytest.fixture(scope="package")
def ledger_worker(ledger_database_url, infra) -> Iterator[ServerThread]:
    """A second ledger process on the same database with messaging: it relays the
    ledger's outbox (ledger.entry.changed) and applies the webhook intake's payments."""
    from folio.ledger.app import create_app as create_ledger
    from folio.ledger.settings import LedgerSettings

    settings = LedgerSettings(
        database_url=ledger_database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    with ServerThread(create_ledger(settings)) as server:
        yield server


@pytest.fixture(scope="session")
async def webhooks_database_url(infra) -> str:
    return await infra.service_database_url("webhooks")


@pytest.fixture(scope="package")
def webhooks_server(webhooks_database_url, infra) -> Iterator[ServerThread]:
    from folio.webhooks.app import create_app as create_webhooks
    from folio.webhooks.settings import WebhooksSettings

    settings = WebhooksSettings(
        database_url=webhooks_database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )
    with ServerThread(create_webhooks(settings)) as server:
        yield server


@pytest.fixture(scope="package")
def payment_simulator(webhooks_server, ledger_worker, registry_server) -> Iterator[ServerThread]:
    """The payment simulator's HTTP app (POST /pay), posting to the webhook intake."""
    from folio.simulators.payments.app import create_app as create_simulator
    from folio.simulators.payments.config import SimulatorSettings

    settings = SimulatorSettings(intake_url=webhooks_server.url, backoff_seconds=0.1)
    with ServerThread(create_simulator(settings)) as server:
        yield server


@pytest.fixture(scope="package")
def console_settings(
    console_database_url, ledger_server, registry_server, infra
) -> ConsoleSettings:
    return ConsoleSettings(
        database_url=console_database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        environment="test",
        log_json=False,
        ledger_url=ledger_server.url,
        registry_url=registry_server.url,
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
