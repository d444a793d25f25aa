"""Kafka subscribers: thin wiring from topics to the ledger's handlers."""

from collections.abc import Callable

from faststream.kafka import KafkaBroker

from folio.ledger.adapters.uow import LedgerUnitOfWork
from folio.ledger.service import collections, receivables
from folio.ledger.service.receivables import JournalConfig
from folio.ledger.settings import LedgerSettings
from folio.shared.messaging import subscribe
from folio.shared.messaging.consumer import Consumer, PreparedBatchHandler

CONSUMER_GROUP = "ledger"


def build_handlers(journal: JournalConfig):
    """(per-event handlers, batch handlers). Payment volumes are handled set-wise."""

    async def payments_verified(envelopes, uow):
        await receivables.when_payments_verified(envelopes, uow, journal)

    async def payments_collected(prepared, uow):
        await collections.when_payments_collected(prepared, uow, journal)

    async def payment_refunded(envelope, uow):
        await receivables.when_payment_refunded(envelope, uow, journal)

    async def payment_reversed(envelope, uow):
        await collections.when_payment_reversed(envelope, uow, journal)

    handlers = {
        "payment.authorized": receivables.when_payment_authorized,
        "payment.failed": receivables.when_payment_failed,
        "payment.refunded": payment_refunded,
        "payment.reversed": payment_reversed,
        "renewal.requested": receivables.when_renewal_requested,
    }
    batch_handlers = {
        "payment.verified": payments_verified,
        "payment.collected": PreparedBatchHandler(
            collections.prepare_collection, payments_collected
        ),
    }
    return handlers, batch_handlers


def register_consumers(
    broker: KafkaBroker,
    settings: LedgerSettings,
    uow_factory: Callable[[], LedgerUnitOfWork],
    journal: JournalConfig,
) -> Consumer:
    handlers, batch_handlers = build_handlers(journal)
    return subscribe(
        broker,
        group_id=CONSUMER_GROUP,
        uow_factory=uow_factory,
        handlers=handlers,
        batch_handlers=batch_handlers,
        service_name=settings.service_name,
        max_records=settings.consumer_batch_size,
        max_attempts=settings.consumer_max_attempts,
        backoff_seconds=settings.consumer_backoff_seconds,
    )
