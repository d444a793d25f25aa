"""Fixtures for the ledger's integration tests: a migrated ``ledger`` schema on the
session's real Postgres, the app without Kafka (HTTP tests) and units of work."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from folio.devstack.services import service
from folio.devstack.testing import admin_headers
from folio.ledger.adapters.uow import unit_of_work_factory
from folio.ledger.app import create_app
from folio.ledger.domain.journal import OverdraftPolicy
from folio.ledger.service.receivables import JournalConfig
from folio.ledger.settings import LedgerSettings
from folio.shared.contracts import EventPayload, new_envelope
from folio.shared.db import create_engine, create_sessionmaker
from folio.shared.migrations import upgrade_async


@pytest.fixture(scope="session")
async def ledger_settings(infra) -> LedgerSettings:
    url = await infra.service_database_url("ledger")
    return LedgerSettings(
        database_url=url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        run_messaging=False,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
async def sessionmaker(ledger_settings):
    engine = create_engine(ledger_settings.database_url, ledger_settings.db_schema, pool_size=15)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def uow_factory(sessionmaker):
    """As the service builds them: units of work sharing what they know of the database."""
    return unit_of_work_factory(sessionmaker, producer="ledger")


@pytest.fixture(scope="session")
def journal_config() -> JournalConfig:
    return JournalConfig(ledger="folio", policy=OverdraftPolicy(("rotessa:clearing",)))


@pytest.fixture(scope="session")
async def app(ledger_settings):
    application = create_app(ledger_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="session")
def admin(ledger_settings) -> dict[str, str]:
    return admin_headers(ledger_settings, roles=("admin",))


@pytest.fixture(scope="session")
def viewer(ledger_settings) -> dict[str, str]:
    return admin_headers(ledger_settings, roles=("viewer",), subject="test-viewer")


@pytest.fixture
async def fresh_ledger(infra):
    """A sessionmaker on a ledger schema of its own: never analysed, written only by the
    test (no background sealer, no other test's data)."""
    schema = f"ledger_own_{uuid.uuid4().hex[:8]}"
    await upgrade_async(service("ledger").migrations, infra.admin_database_url, schema)
    engine = create_engine(infra.admin_database_url, schema, pool_size=3)
    yield create_sessionmaker(engine)
    await engine.dispose()


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def envelope(payload: EventPayload):
    return new_envelope(payload, producer="test")


NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
