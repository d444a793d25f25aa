"""The gateway as `make run` runs it: Caddy with deploy/Caddyfile in front of the real
services (uvicorn subprocesses on PostgreSQL and the broker). Every route reaches its
service; admin calls and signed provider webhooks go through; a body over the limit is
refused before any service sees it; correlation ids and X-Forwarded-* reach the
services; every access log line is JSON."""

import json
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from folio.devstack.embedded import free_port
from folio.devstack.gateway import caddy_argv, gateway_env
from folio.devstack.services import SERVICES
from folio.devstack.stack import local_token
from folio.devstack.testing import service_processes, started, wait_until
from folio.shared.settings import ServiceSettings
from folio.simulators.payments.scenarios import PaymentProviders
from folio.simulators.payments.standard import StandardWebhooksSender
from folio.simulators.payments.wire import LOCAL_TAMARA_NOTIFICATION_TOKEN

pytestmark = pytest.mark.integration

#: The services behind /api/<name>/ (the console has its own tests).
NAMES = [s.name for s in SERVICES if s.name != "console"]
LIMIT = ServiceSettings.model_fields["max_body_bytes"].default
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Gateway:
    url: str
    host: str
    service_ports: dict[str, int]
    access_log: Path

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


def listening(port: int):
    def check() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    return check


@pytest.fixture(scope="module")
def gateway(infra, tmp_path_factory) -> Gateway:
    logs = tmp_path_factory.mktemp("gateway")
    # The services accept bodies four times the gateway's limit here, so that a body
    # between the two reaching a service would show (it is answered, and counted).
    bigger = {"FOLIO_MAX_BODY_BYTES": str(4 * LIMIT)}
    with service_processes(infra, NAMES, logs, env=bigger) as ports:
        port = free_port()
        upstreams = {**ports, "console": free_port()}  # no console runs here
        access_log = logs / "access.log"
        env = {**os.environ, **gateway_env(port, upstreams, access_log, logs / "caddy")}
        env.pop("FOLIO_MAX_BODY_BYTES", None)  # the gateway keeps the services' default
        with started(caddy_argv(), env, logs / "caddy.log") as caddy:
            wait_until(listening(port), caddy, logs / "caddy.log")
            host = f"127.0.0.1:{port}"
            yield Gateway(f"http://{host}", host, ports, access_log)


@pytest.fixture
def staff() -> dict[str, str]:
    return {"Authorization": f"Bearer {local_token('gateway-test', ['admin'])}"}


def proxied(response: httpx.Response) -> bool:
    """Answered by a service behind the gateway, not by the gateway itself."""
    return "caddy" in response.headers.get("via", "").lower()


def test_every_service_is_healthy_and_ready_through_the_gateway(gateway):
    with gateway.client() as client:
        for name in NAMES:
            assert client.get(f"/api/{name}/healthz").json() == {"status": "ok"}
            ready = client.get(f"/api/{name}/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text


def test_every_documented_route_of_every_service_reaches_it(gateway):
    """Each operation of each service's OpenAPI, sent without a token or body, is
    answered by that service (401, 404, 422 …), never by the gateway."""
    with gateway.client() as client:
        for name in NAMES:
            paths = client.get(f"/api/{name}/openapi.json").json()["paths"]
            assert paths
            for path, operations in paths.items():
                concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
                for method in operations:
                    answer = client.request(method.upper(), concrete)
                    assert proxied(answer), f"{method} {path}: {answer.status_code} {answer.text}"
                    assert answer.status_code < 500, f"{method} {path}: {answer.text}"


def test_admin_calls_of_every_service_through_the_gateway(gateway, staff):
    with gateway.client(headers=staff) as client:
        entry = client.post(
            "/api/ledger/entries",
            json={"entry_type": "RENT", "amount_minor": 100_000, "currency": "SAR"},
        )
        assert entry.status_code == 201, entry.text
        got = client.get(f"/api/ledger/entries/{entry.json()['entry_id']}")
        assert got.json()["invoice_number"] == entry.json()["invoice_number"]

        code = f"GW{uuid.uuid4().hex[:6].upper()}"
        building = client.post("/api/registry/buildings", json={"code": code, "name": "Gateway"})
        assert building.status_code == 201, building.text
        assert client.get("/api/registry/buildings").status_code == 200

        assert isinstance(client.get("/api/rotessa/links").json(), list)
        assert "items" in client.get("/api/webhooks/admin/deliveries").json()
    # and the same calls without the token are refused by the services, through it
    with gateway.client() as client:
        refused = client.get("/api/webhooks/admin/deliveries")
        assert refused.status_code == 401 and proxied(refused)


def send_through(client: httpx.Client, delivery, staff) -> dict:
    """Post a provider's delivery to the gateway as the provider would (plus a
    correlation id and a forged X-Forwarded-For); the delivery as webhooks stored it."""
    correlation_id = str(uuid.uuid4())
    headers = {
        **delivery.headers,
        "X-Correlation-ID": correlation_id,
        "X-Forwarded-For": "203.0.113.9",  # a caller's claim: not trusted
    }
    answer = client.post(
        delivery.path, content=delivery.body, headers=headers, params=delivery.query
    )
    assert answer.status_code == 200 and proxied(answer), answer.text
    assert answer.headers["X-Correlation-ID"] == correlation_id
    delivery_id = answer.json()["delivery_id"]
    stored = client.get(f"/api/webhooks/admin/deliveries/{delivery_id}", headers=staff).json()
    assert stored["headers"]["x-correlation-id"] == correlation_id
    return stored


def test_signed_provider_webhooks_reach_webhooks_and_pay_the_invoices(gateway, staff):
    providers = PaymentProviders()
    with gateway.client() as client:
        entries = {}
        for provider in ("moyasar", "tabby", "tamara"):
            entry = client.post(
                "/api/ledger/entries",
                headers=staff,
                json={"entry_type": "RENT", "amount_minor": 100_000, "currency": "SAR"},
            ).json()
            entries[provider] = entry["entry_id"]
            story = providers.pay(provider, entry["invoice_number"], "1000.00", "SAR")
            deliveries = [*story.deliveries]
            if provider == "moyasar":  # and the generic channel, once
                deliveries.append(
                    StandardWebhooksSender().delivery(
                        "payment.succeeded", {"invoice_number": entry["invoice_number"]}
                    )
                )
            for delivery in deliveries:
                stored = send_through(client, delivery, staff)
                assert stored["channel"] == delivery.provider
                assert stored["state"] != "rejected", stored
                # what reached the service: the caller's address (not its claim), the
                # scheme and host it used
                assert stored["headers"]["x-forwarded-for"] == "127.0.0.1"
                assert stored["headers"]["x-forwarded-proto"] == "http"
                assert stored["headers"]["x-forwarded-host"] == gateway.host
                assert stored["headers"]["host"] == gateway.host

        # and the ledger hears of them over the broker: each invoice turns PAID
        def statuses() -> set[str]:
            return {
                client.get(f"/api/ledger/entries/{entry_id}", headers=staff).json()["status"]
                for entry_id in entries.values()
            }

        deadline = time.monotonic() + 60
        while statuses() != {"PAID"} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert statuses() == {"PAID"}


def entry_posts_seen_by_the_ledger(gateway: Gateway) -> float:
    """POST /api/ledger/entries requests the ledger has counted, whatever their answer."""
    port = gateway.service_ports["ledger"]
    metrics = httpx.get(f"http://127.0.0.1:{port}/api/ledger/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("folio_http_requests_total{")
        and 'method="POST"' in line
        and 'route="/api/ledger/entries"' in line
    )


def test_a_body_over_the_limit_is_refused_by_the_gateway_before_the_service(gateway):
    direct = f"http://127.0.0.1:{gateway.service_ports['ledger']}/api/ledger/entries"
    with gateway.client() as client:
        before = entry_posts_seen_by_the_ledger(gateway)
        refused = client.post("/api/ledger/entries", content=b"x" * (LIMIT + 1))
        assert refused.status_code == 413 and not proxied(refused)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "urn:folio:problem:payload-too-large"
        assert str(LIMIT) in refused.json()["detail"]
        assert entry_posts_seen_by_the_ledger(gateway) == before  # it never got there

        # the ledger (accepting more, in this test) counts the same body sent to it
        # directly: the check above can fail
        assert httpx.post(direct, content=b"x" * (LIMIT + 1)).status_code == 401
        assert entry_posts_seen_by_the_ledger(gateway) == before + 1

        # exactly the limit goes through (and is refused by the ledger: no token)
        at_limit = client.post("/api/ledger/entries", content=b"x" * LIMIT)
        assert at_limit.status_code == 401 and proxied(at_limit)

        # a streamed body without a declared length is cut off at the limit
        def chunks():
            for _ in range(LIMIT // 65_536 + 2):
                yield b"x" * 65_536

        assert client.post("/api/ledger/entries", content=chunks()).status_code == 413


def test_a_valid_correlation_id_is_passed_on_unchanged_and_another_is_replaced(gateway):
    with gateway.client() as client:
        mine = str(uuid.uuid4())
        answer = client.get("/api/registry/healthz", headers={"X-Correlation-ID": mine})
        assert proxied(answer) and answer.headers["X-Correlation-ID"] == mine

        for invalid in ("not-a-uuid", "' OR 1=1 --", mine + "0"):
            answer = client.get("/api/registry/healthz", headers={"X-Correlation-ID": invalid})
            replaced = answer.headers["X-Correlation-ID"]
            assert UUID.match(replaced) and replaced != invalid
            assert logged(gateway, replaced)["correlation_id"] == replaced

        # two ids are no id: replaced, so the service and the log agree on one
        two = [("X-Correlation-ID", mine), ("X-Correlation-ID", "not-a-uuid")]
        replaced = client.get("/api/registry/healthz", headers=two).headers["X-Correlation-ID"]
        assert UUID.match(replaced) and replaced != mine
        assert logged(gateway, replaced)["correlation_id"] == replaced

        answer = client.get("/api/registry/healthz")  # none sent: one is made
        assert UUID.match(answer.headers["X-Correlation-ID"])

        # the gateway's own answers carry the id too
        own = client.get("/api/nothing-here", headers={"X-Correlation-ID": mine})
        assert own.status_code == 404 and own.headers["X-Correlation-ID"] == mine


def logged(gateway: Gateway, correlation_id: str) -> dict:
    lines = [json.loads(line) for line in gateway.access_log.read_text().splitlines()]
    found = [line for line in lines if line.get("correlation_id") == correlation_id]
    assert found, f"no access log line with correlation id {correlation_id}"
    return found[0]


def test_every_access_log_line_is_json_naming_the_request_without_credentials(gateway, staff):
    with gateway.client() as client:
        mine = str(uuid.uuid4())
        client.get("/api/ledger/entries", headers={**staff, "X-Correlation-ID": mine})
        client.post("/api/webhooks/tamara", params={"tamaraToken": LOCAL_TAMARA_NOTIFICATION_TOKEN})
    text = gateway.access_log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # each line parses
    assert lines
    line = logged(gateway, mine)
    assert line["request"]["method"] == "GET"
    assert line["request"]["uri"] == "/api/ledger/entries"
    assert line["status"] == 200 and "duration" in line
    assert staff["Authorization"].split()[1] not in text  # the token is not written down
    # nor Tamara's notification token, which it sends in the query string
    assert LOCAL_TAMARA_NOTIFICATION_TOKEN not in text
    assert "tamaraToken=REDACTED" in text


def test_paths_no_service_serves_and_a_console_that_is_not_running(gateway):
    with gateway.client() as client:
        unknown = client.get("/api/nothing-here/x")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert unknown.json()["type"] == "urn:folio:problem:not-found"
        # a path cannot write into the problem's JSON
        hostile = client.get("/api/nothing-here/%22,%22status%22:200,%22x%22:%22")
        assert hostile.json()["status"] == 404 and "x" not in hostile.json()

        page = client.get("/")  # the console's address, nothing listening behind it
        assert page.status_code == 502
        assert page.headers["content-type"].startswith("text/html")
        assert "console" in page.text and "/api/ledger/docs" in page.text
        assert page.headers["content-security-policy"] == "default-src 'none'"
        assert page.headers["x-content-type-options"] == "nosniff"
        for answer in (unknown, page, client.get("/api/ledger/healthz")):
            assert "server" not in answer.headers  # no banner, like the services

        console_api = client.get("/api/console/anything")
        assert console_api.status_code == 502
        assert console_api.json()["type"] == "urn:folio:problem:service-unavailable"
