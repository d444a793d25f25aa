"""Registry integration fixtures: a migrated ``registry`` schema on the session's real
Postgres, the app without Kafka for HTTP tests, and units of work for handlers."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from folio.devstack.testing import admin_headers
from folio.registry.app import create_app
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.registry.settings import RegistrySettings
from folio.shared.db import create_engine, create_sessionmaker


@pytest.fixture(scope="session")
async def registry_settings(infra) -> RegistrySettings:
    url = await infra.service_database_url("registry")
    return RegistrySettings(
        database_url=url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        run_messaging=False,
        run_jobs=False,
        environment="test",
        log_json=False,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
async def registry_sessionmaker(registry_settings):
    engine = create_engine(registry_settings.database_url, registry_settings.db_schema, pool_size=5)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def uow_factory(registry_sessionmaker):
    return lambda: RegistryUnitOfWork(registry_sessionmaker, producer="registry")


class Clock:
    """The app's notion of now, settable per test (KPIs and occupancy read it)."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


@pytest.fixture(scope="session")
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _reset_clock(clock):
    clock.now = None
    yield
    clock.now = None


@pytest.fixture(scope="session")
async def registry_app(registry_settings, clock):
    application = create_app(registry_settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(registry_app):
    transport = httpx.ASGITransport(app=registry_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="session")
def admin(registry_settings) -> dict[str, str]:
    return admin_headers(registry_settings, roles=("admin",))


@pytest.fixture(scope="session")
def viewer(registry_settings) -> dict[str, str]:
    return admin_headers(registry_settings, roles=("viewer",), subject="test-viewer")


def unique_code() -> str:
    """A unique building code (tests share one database)."""
    return "T-" + uuid.uuid4().hex[:10].upper()


@pytest.fixture
def make_building(client, admin):
    async def make(**overrides) -> dict:
        body = {"code": unique_code(), "name": "Test Tower"} | overrides
        response = await client.post("/api/registry/buildings", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def make_unit(client, admin):
    async def make(building: dict, **overrides) -> dict:
        body = {
            "building_id": building["id"],
            "code": "U-" + uuid.uuid4().hex[:6],
            "monthly_base_rent_minor": 500_000,
            "currency": building["currency"],
        } | overrides
        response = await client.post("/api/registry/units", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()

    return make
