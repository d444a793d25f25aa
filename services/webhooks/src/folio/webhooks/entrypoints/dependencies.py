"""Request-scoped dependencies shared by the routers."""

from datetime import UTC, datetime

from fastapi import Request

from folio.webhooks.adapters.uow import WebhooksUnitOfWork
from folio.webhooks.settings import WebhooksSettings

# Async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool,
# a thread hop per request for what is an attribute lookup.


async def get_uow(request: Request) -> WebhooksUnitOfWork:
    return request.app.state.uow_factory()


async def get_uow_factory(request: Request):
    """For routes that may run their unit of work more than once (retried races)."""
    return request.app.state.uow_factory


async def get_settings(request: Request) -> WebhooksSettings:
    return request.app.state.settings


def utc_now() -> datetime:
    return datetime.now(UTC)
