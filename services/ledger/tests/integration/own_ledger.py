"""The ledger app on a schema of its own: its journal holds only what a test puts there,
so ``verify`` and the invariant checker judge that test's rows alone."""

import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from folio.devstack.services import service
from folio.ledger.app import create_app
from folio.shared.migrations import upgrade_async


@dataclass
class OwnLedger:
    app: object
    client: httpx.AsyncClient
    uow_factory: object


@asynccontextmanager
async def own_ledger(infra, ledger_settings):
    schema = f"ledger_own_{uuid.uuid4().hex[:8]}"
    await upgrade_async(service("ledger").migrations, infra.admin_database_url, schema)
    settings = ledger_settings.model_copy(
        update={"database_url": infra.admin_database_url, "db_schema": schema}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield OwnLedger(app, client, app.state.uow_factory)
