"""Kafka subscribers: thin adapters from contract events to the registry's handlers."""

from collections.abc import Callable

from faststream.kafka import KafkaBroker

from folio.registry.service.kpis import when_entry_changed_update_read_model
from folio.registry.service.registry import when_schedule_linked_set_schedule_id
from folio.registry.service.renewals import when_renewal_entry_changed_update_extension
from folio.registry.service.unit_of_work import RegistryUnitOfWork
from folio.shared.contracts import Envelope
from folio.shared.messaging import subscribe

CONSUMER_GROUP = "registry"


async def on_ledger_entry_changed(envelope: Envelope, uow: RegistryUnitOfWork) -> None:
    event = envelope.payload()
    await when_entry_changed_update_read_model(event, uow)
    await when_renewal_entry_changed_update_extension(event, uow)


async def on_schedule_linked(envelope: Envelope, uow: RegistryUnitOfWork) -> None:
    await when_schedule_linked_set_schedule_id(envelope, uow)


HANDLERS = {
    "ledger.entry.changed": on_ledger_entry_changed,
    "schedule.linked": on_schedule_linked,
}


def register_consumers(
    broker: KafkaBroker,
    uow_factory: Callable[[], RegistryUnitOfWork],
    *,
    max_attempts: int = 5,
    backoff_seconds: float = 0.2,
    max_records: int = 500,
):
    return subscribe(
        broker,
        group_id=CONSUMER_GROUP,
        uow_factory=uow_factory,
        handlers=HANDLERS,
        service_name="registry",
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
        max_records=max_records,
    )
