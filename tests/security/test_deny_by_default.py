"""Every admin route of every service, called anonymously, with a provider's webhook
credential, or with too weak a role, is refused (401/403) — also through HTTP methods
the route does not declare. Routes are enumerated from each service's OpenAPI."""

import re
import uuid

import httpx
import pytest

from folio.devstack.testing import admin_headers
from folio.ledger.app import create_app as ledger_app
from folio.ledger.settings import LedgerSettings
from folio.registry.app import create_app as registry_app
from folio.registry.settings import RegistrySettings
from folio.rotessa_sync.app import create_app as rotessa_app
from folio.rotessa_sync.settings import RotessaSyncSettings
from folio.webhooks.app import create_app as webhooks_app
from folio.webhooks.settings import LOCAL_CREDENTIALS, WebhooksSettings

SERVICES = {
    "ledger": (ledger_app, LedgerSettings),
    "registry": (registry_app, RegistrySettings),
    "rotessa": (rotessa_app, RotessaSyncSettings),
    "webhooks": (webhooks_app, WebhooksSettings),
}

#: Reachable without a token by design: operations, docs and provider intake
#: (authenticated by the provider's own scheme) and the public payment-method list.
PUBLIC = re.compile(
    r"^/api/\w+/(healthz|readyz|metrics|asyncapi\.json|openapi\.json|docs)$"
    r"|^/api/webhooks/(moyasar|tabby|tamara|standard)$"
    r"|^/api/webhooks/payment-methods$"
)
WRITE_METHODS = {"post", "put", "patch", "delete"}
#: POST routes that only read (recompute and report); a viewer may call them. None:
#: ``/api/ledger/journal/verify`` seals what is pending, so it needs a writing role.
READ_ONLY_POSTS: set[str] = set()


def concrete(path: str) -> str:
    values = {"ledger": "folio", "address": "world", "tx_id": "1", "dead_letter_id": "1"}

    def fill(match):
        name = match.group(1)
        return values.get(name, str(uuid.uuid4()) if name.endswith("id") else "x1")

    return re.sub(r"{(\w+)}", fill, path)


@pytest.fixture(scope="module")
async def apps(infra):
    built = {}
    for name, (factory, settings_class) in SERVICES.items():
        settings = settings_class(
            database_url=await infra.service_database_url(name),
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            environment="test", run_messaging=False, log_json=False, log_level="WARNING",
        )
        built[name] = (factory(settings), settings)
    return built


def admin_operations(app):
    for path, item in app.openapi()["paths"].items():
        if PUBLIC.match(path):
            continue
        for method in item:
            yield path, method


async def call(app, method, path, headers=None):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method.upper(), concrete(path), headers=headers or {},
                                    json={} if method in WRITE_METHODS else None)


@pytest.mark.parametrize("service", SERVICES)
async def test_every_admin_route_refuses_anonymous_callers(apps, service):
    app, _ = apps[service]
    operations = list(admin_operations(app))
    assert operations, f"{service} exposes no admin routes?"
    for path, method in operations:
        answer = await call(app, method, path)
        assert answer.status_code == 401, f"{method.upper()} {path} → {answer.status_code}"
        assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("service", SERVICES)
async def test_webhook_credentials_open_no_admin_route(apps, service):
    app, settings = apps[service]
    credentials = [
        {"Authorization": f"Bearer {LOCAL_CREDENTIALS['moyasar_webhook_secret']}"},
        {"Authorization": f"Bearer {LOCAL_CREDENTIALS['tamara_notification_token']}"},
        {"X-Tabby-Webhook-Secret": LOCAL_CREDENTIALS["tabby_webhook_secret"]},
    ]
    for path, method in admin_operations(app):
        for headers in credentials:
            answer = await call(app, method, path, headers)
            assert answer.status_code == 401, f"{method.upper()} {path} → {answer.status_code}"


@pytest.mark.parametrize("service", SERVICES)
async def test_viewers_cannot_change_anything(apps, service):
    app, settings = apps[service]
    viewer = admin_headers(settings, roles=("viewer",), subject="just-looking")
    for path, method in admin_operations(app):
        if method not in WRITE_METHODS or path in READ_ONLY_POSTS:
            continue
        answer = await call(app, method, path, viewer)
        assert answer.status_code == 403, f"{method.upper()} {path} → {answer.status_code}"


@pytest.mark.parametrize("service", SERVICES)
async def test_undeclared_methods_never_reach_a_handler(apps, service):
    app, _ = apps[service]
    for path, item in app.openapi()["paths"].items():
        for method in {"get", "post", "put", "patch", "delete"} - set(item):
            answer = await call(app, method, path)
            assert answer.status_code in {401, 403, 405}, (
                f"{method.upper()} {path} → {answer.status_code}"
            )
