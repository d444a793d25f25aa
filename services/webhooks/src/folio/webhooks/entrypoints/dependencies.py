"""Request-scoped dependencies shared by the routers."""

from datetime import UTC, datetime

from fastapi import Request

from folio.webhooks.adapters.uow import WebhooksUnitOfWork
from folio.webhooks.settings import WebhooksSettings


def get_uow(request: Request) -> WebhooksUnitOfWork:
    return request.app.state.uow_factory()


def get_settings(request: Request) -> WebhooksSettings:
    return request.app.state.settings


def utc_now() -> datetime:
    return datetime.now(UTC)
