"""The webhooks unit of work: one transaction for deliveries, facts, outbox and audit."""

from folio.shared.uow import UnitOfWork
from folio.webhooks.adapters.repositories import DeliveriesRepository, PaymentMethodsRepository


class WebhooksUnitOfWork(UnitOfWork):
    deliveries: DeliveriesRepository
    payment_methods: PaymentMethodsRepository

    async def _open(self) -> None:
        self.deliveries = DeliveriesRepository(self.session)
        self.payment_methods = PaymentMethodsRepository(self.session)
