"""Kafka subscribers: thin wiring of topics to handlers (inbox, batching, DLQ in shared)."""

from collections.abc import Callable

from faststream.kafka import KafkaBroker

from folio.rotessa_sync.service.handlers import (
    when_ledger_committed_confirm_commands,
    when_ledger_rejected_settle_commands,
    when_mortgage_changed_update_read_model,
)
from folio.rotessa_sync.settings import RotessaSyncSettings
from folio.shared.messaging import subscribe


def register_consumers(broker: KafkaBroker, settings: RotessaSyncSettings, uow_factory: Callable):
    return subscribe(
        broker,
        group_id="rotessa-sync",
        uow_factory=uow_factory,
        batch_handlers={
            "mortgage.changed": when_mortgage_changed_update_read_model,
            "ledger.transaction.committed": when_ledger_committed_confirm_commands,
            "ledger.command.rejected": when_ledger_rejected_settle_commands,
        },
        service_name=settings.service_name,
        max_records=settings.consumer_batch_size,
        max_attempts=settings.consumer_max_attempts,
        backoff_seconds=settings.consumer_backoff_seconds,
    )
