"""Ledger service bootstrap: ``folio.ledger.app:create_app`` (port 8101 in the dev stack)."""

import asyncio
import re

import structlog
from fastapi import FastAPI

from folio.ledger.adapters.uow import LedgerUnitOfWork, unit_of_work_factory
from folio.ledger.domain.journal import OverdraftPolicy
from folio.ledger.entrypoints import api, formance_api
from folio.ledger.entrypoints.consumers import register_consumers
from folio.ledger.service.journal import seal_pending
from folio.ledger.service.receivables import JournalConfig
from folio.ledger.settings import LedgerSettings
from folio.shared.app import Runtime, create_service_app
from folio.shared.dead_letters import dead_letter_router

log = structlog.get_logger(__name__)


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    settings = settings or LedgerSettings()
    runtime = Runtime.create(settings)

    uow_factory = unit_of_work_factory(runtime.sessionmaker, producer=settings.service_name)

    def uow_dependency() -> LedgerUnitOfWork:
        return uow_factory()

    journal = JournalConfig(
        ledger=settings.default_ledger,
        policy=OverdraftPolicy(tuple(settings.overdraft_accounts)),
    )
    consumer = register_consumers(runtime.broker, settings, uow_factory, journal)

    async def sealer() -> None:
        """Extend the tamper-evidence chain shortly after commits (never blocks writers)."""
        while True:
            try:
                async with uow_factory() as uow:
                    await seal_pending(uow)
                    await uow.commit()  # the seals, and the frontier when it moved
            except Exception as exc:  # keep sealing after transient database trouble
                log.warning("journal.seal_failed", error=repr(exc))
            await asyncio.sleep(settings.seal_interval_seconds)

    runtime.add_background(sealer)
    app = create_service_app(
        runtime=runtime,
        title="Folio ledger",
        description="Receivables (invoices) and a double-entry journal with a "
        "Formance Ledger v2 compatible API",
        routers=[
            api.router,
            formance_api.router,
            dead_letter_router(f"/api/{settings.service_name}", uow_dependency),
        ],
        publishes=(
            "ledger.entry.changed",
            "ledger.transaction.committed",
            "ledger.command.rejected",
            "ledger.metadata.changed",
        ),
        body_limits=[
            (re.compile(r"/api/ledger/v2/[^/]+/(_bulk|logs/import)"), settings.bulk_max_body_bytes)
        ],
        extra_state={"uow_factory": uow_factory, "journal_config": journal, "consumer": consumer},
    )
    formance_api.install_formance_errors(app)
    return app
