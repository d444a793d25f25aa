import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from folio.devstack.testing import TEST_ROLE_PASSWORD
from folio.shared.db import create_engine, create_sessionmaker
from folio.shared.migrations import ensure_service_role, role_url, upgrade_async
from folio.shared.uow import UnitOfWork

DEMO_MIGRATIONS = Path(__file__).resolve().parents[1] / "demo_migrations"


class DemoSchema:
    """A throw-away service schema (own role) with the messaging tables."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema
        self.engine = create_engine(url, schema, pool_size=5)
        self.sessionmaker = create_sessionmaker(self.engine)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker, producer=self.schema)

    async def scalar(self, sql: str, **params):
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()


@pytest.fixture
async def demo_schema(infra):
    created = []

    async def make(prefix: str) -> DemoSchema:
        schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
        role = f"{schema}_svc"
        await ensure_service_role(infra.admin_database_url, schema, role, TEST_ROLE_PASSWORD)
        url = role_url(infra.admin_database_url, role, TEST_ROLE_PASSWORD)
        await upgrade_async(DEMO_MIGRATIONS, url, schema)
        demo = DemoSchema(url, schema)
        created.append(demo)
        return demo

    yield make
    for demo in created:
        await demo.engine.dispose()
