"""Bootstrap of the webhooks intake service (port 8104, prefix /api/webhooks)."""

import asyncio

import structlog
from fastapi import FastAPI

from folio.shared.app import Runtime, create_service_app
from folio.shared.contracts import (
    PaymentAuthorized,
    PaymentFailed,
    PaymentRefunded,
    PaymentVerified,
)
from folio.webhooks.adapters.direct import DirectConnections, DirectIntakeUnitOfWork
from folio.webhooks.adapters.uow import WebhooksUnitOfWork
from folio.webhooks.entrypoints import admin, intake
from folio.webhooks.service.batching import IntakeBatcher
from folio.webhooks.settings import WebhooksSettings

log = structlog.get_logger(__name__)


class IntakeRuntime(Runtime):
    """Serves HTTP at once, even when the broker is down.

    Intake has no consumers: the broker is only needed by the outbox relay,
    which retries on its own. Starting the FastStream broker in the background
    keeps a restart during a broker outage from delaying webhook answers.
    The group-commit batcher runs for the process lifetime either way.
    """

    batcher: IntakeBatcher | None = None
    direct: DirectConnections | None = None

    async def start(self) -> None:
        # (the cyclic collector is tuned once per process by Runtime.create)
        if self.batcher is not None:
            self._tasks.append(asyncio.create_task(self.batcher.run(), name="intake-batcher"))
        if not self.settings.run_messaging:
            return
        self.relay.start()
        self._tasks.append(asyncio.create_task(self._start_broker_when_reachable()))

    async def stop(self) -> None:
        await super().stop()
        if self.direct is not None:
            await self.direct.close()

    async def _start_broker_when_reachable(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.start()
                return
            except Exception as exc:
                log.warning("broker.unreachable", error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


#: What intake publishes (through the outbox), documented in its AsyncAPI spec.
PUBLISHED_TOPICS = {
    "payment.verified": (PaymentVerified, "A provider confirmed money received for an invoice"),
    "payment.authorized": (PaymentAuthorized, "Funds authorized, not yet captured"),
    "payment.failed": (PaymentFailed, "A payment attempt for an invoice failed"),
    "payment.refunded": (PaymentRefunded, "A provider refunded (part of) a payment"),
}


def create_app(settings: WebhooksSettings | None = None) -> FastAPI:
    settings = settings or WebhooksSettings()
    runtime = IntakeRuntime.create(settings)
    for topic, (payload_model, description) in PUBLISHED_TOPICS.items():
        # Documentation only: events leave through the outbox relay, keyed by invoice
        # number, as the envelope of DESIGN.md §2 whose ``data`` is this payload.
        runtime.broker.publisher(topic, title=topic, description=description, schema=payload_model)

    def uow_factory() -> WebhooksUnitOfWork:
        return WebhooksUnitOfWork(runtime.sessionmaker, producer="webhooks")

    # Deliveries are written by the group-commit batcher on its own asyncpg pool
    # (adapters/direct.py); everything else uses the shared engine's sessions.
    runtime.direct = DirectConnections(
        settings.database_url, settings.db_schema, max_size=settings.intake_writers + 2
    )
    direct = runtime.direct
    runtime.batcher = IntakeBatcher(
        lambda: DirectIntakeUnitOfWork(direct, producer="webhooks"),  # type: ignore[arg-type,return-value]
        max_batch=settings.intake_max_batch,
        writers=settings.intake_writers,
    )

    return create_service_app(
        runtime=runtime,
        title="Folio webhooks intake",
        description="Moyasar, Tabby, Tamara and Standard Webhooks intake; payment methods.",
        routers=[intake.router, admin.router],
        extra_state={
            "uow_factory": uow_factory,
            "intake_batcher": runtime.batcher,
            "webhook_credentials": settings.credentials(),
        },
    )
