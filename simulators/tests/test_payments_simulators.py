"""The payment simulators speak the real wire formats and can misbehave on purpose."""

import json
import socket
import threading
import time
from decimal import Decimal

import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI, Request

from folio.simulators.payments import create_app
from folio.simulators.payments.__main__ import main as cli_main
from folio.simulators.payments.config import SimulatorSettings
from folio.simulators.payments.scenarios import PaymentProviders, arrange, deliver
from folio.simulators.payments.wire import (
    LOCAL_TAMARA_NOTIFICATION_TOKEN,
    Delivery,
    dumps_with_exact_numbers,
    to_minor,
)


def recording_intake(status_codes: list[int] | None = None) -> tuple[FastAPI, list[dict]]:
    """A stand-in for Folio's intake that records what it received."""
    received: list[dict] = []
    scripted = list(status_codes or [])
    app = FastAPI()

    @app.post("/api/webhooks/{provider}")
    async def intake(provider: str, request: Request):
        received.append(
            {
                "provider": provider,
                "body": json.loads(await request.body()),
                "headers": dict(request.headers),
                "query": dict(request.query_params),
            }
        )
        from fastapi.responses import JSONResponse

        return JSONResponse({}, status_code=scripted.pop(0) if scripted else 200)

    return app, received


def test_exact_numbers_are_written_without_float():
    body = dumps_with_exact_numbers({"a": Decimal("0.10"), "b": [Decimal("12.345")], "c": "x"})
    assert body == b'{"a":0.10,"b":[12.345],"c":"x"}'
    assert to_minor("12.345", "KWD") == 12345
    with pytest.raises(ValueError):
        to_minor("1.001", "SAR")
    with pytest.raises(TypeError):
        to_minor(1.5, "SAR")  # type: ignore[arg-type]


def test_moyasar_body_has_the_documented_fields_and_secret():
    providers = PaymentProviders()
    story = providers.pay("moyasar", "INV-2026-000001", "100.00", "SAR", "apple_pay")
    body = json.loads(story.deliveries[0].body)
    assert set(body) == {"id", "type", "created_at", "secret_token", "account_name", "live", "data"}
    assert body["type"] == "payment_paid"
    assert body["data"]["amount"] == 10000 and isinstance(body["data"]["amount"], int)
    assert body["data"]["metadata"] == {"invoice_number": "INV-2026-000001"}
    assert body["data"]["source"]["type"] == "applepay"
    assert body["secret_token"] == providers.moyasar.secret_token


def test_moyasar_refunds_are_cumulative():
    providers = PaymentProviders()
    story = providers.pay("moyasar", "INV-2026-000002", "100.00")
    providers.refund("moyasar", story.payment_id, "30.00")
    second = providers.refund("moyasar", story.payment_id, "20.00")
    assert json.loads(second.deliveries[0].body)["data"]["refunded"] == 5000


def test_tabby_snapshots_use_lowercase_status_and_kwd_three_decimals():
    providers = PaymentProviders()
    story = providers.pay("tabby", "INV-2026-000003", "12.345", "KWD")
    authorized, captured = (json.loads(d.body) for d in story.deliveries)
    assert authorized["status"] == "authorized" and authorized["captures"] == []
    assert captured["status"] == "closed"
    assert captured["captures"][0]["amount"] == "12.345"
    assert captured["order"]["reference_id"] == "INV-2026-000003"
    assert providers.tabby.header_name in story.deliveries[0].headers


def test_tamara_token_is_in_query_and_bearer_and_verifies_with_the_notification_token():
    providers = PaymentProviders()
    story = providers.pay("tamara", "INV-2026-000004", "50.00")
    events = [json.loads(d.body)["event_type"] for d in story.deliveries]
    assert events == ["order_approved", "order_authorised", "order_captured"]
    assert json.loads(story.deliveries[0].body)["data"] == []
    delivery = story.deliveries[-1]
    token = delivery.query["tamaraToken"]
    assert delivery.headers["Authorization"] == f"Bearer {token}"
    claims = jwt.decode(
        token, LOCAL_TAMARA_NOTIFICATION_TOKEN, algorithms=["HS256"], issuer="Tamara"
    )
    assert claims["exp"] - claims["iat"] == 900
    assert b'"amount":50.00' in delivery.body


@pytest.mark.parametrize("provider", ["moyasar", "tabby", "tamara"])
def test_wrong_and_missing_credentials_differ_from_valid(provider):
    providers = PaymentProviders()
    delivery = providers.pay(provider, "INV-2026-000005", "10.00").deliveries[-1]
    wrong = providers.with_auth(delivery, "wrong")
    missing = providers.with_auth(delivery, "missing")
    assert (wrong.body, wrong.headers, wrong.query) != (
        delivery.body,
        delivery.headers,
        delivery.query,
    )
    assert providers.tabby.header_value not in str(missing.headers)
    assert "tamaraToken" not in missing.query and "Authorization" not in missing.headers
    if provider == "moyasar":
        assert "secret_token" not in json.loads(missing.body)


def test_one_byte_change_keeps_length_and_changes_content():
    delivery = Delivery("moyasar", "/x", b'{"amount":10000}')
    changed = delivery.with_one_byte_changed()
    assert len(changed.body) == len(delivery.body) and changed.body != delivery.body
    assert sum(a != b for a, b in zip(changed.body, delivery.body, strict=True)) == 1


def test_arrange_duplicates_and_reorders_deterministically():
    deliveries = [Delivery("tabby", "/x", str(i).encode()) for i in range(5)]
    doubled = arrange(deliveries, duplicate=2)
    assert [d.body for d in doubled] == [str(i).encode() for i in range(5) for _ in range(2)]
    shuffled = arrange(deliveries, reorder_seed=7)
    assert shuffled == arrange(deliveries, reorder_seed=7)
    assert sorted(d.body for d in shuffled) == sorted(d.body for d in deliveries)
    assert shuffled != deliveries


async def test_deliver_retries_5xx_and_stops_on_success_or_4xx():
    intake, received = recording_intake([503, 500, 200])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=intake)) as client:
        delivery = PaymentProviders().pay("moyasar", "INV-2026-000006", "1.00").deliveries[0]
        result = await deliver(client, "http://intake", delivery, backoff_seconds=0)
    assert result.status_codes == (503, 500, 200) and result.delivered
    assert len(received) == 3 and received[0]["body"] == received[2]["body"]  # same event id

    intake, received = recording_intake([401])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=intake)) as client:
        result = await deliver(client, "http://intake", delivery, backoff_seconds=0)
    assert result.status_codes == (401,) and not result.delivered


async def test_app_pays_an_invoice_by_posting_to_the_intake():
    intake, received = recording_intake()
    settings = SimulatorSettings(intake_url="http://intake", backoff_seconds=0)
    app = create_app(settings, transport=httpx.ASGITransport(app=intake))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as c:
        paid = await c.post(
            "/pay",
            json={
                "provider": "tabby",
                "invoice_number": "INV-2026-000007",
                "amount": "75.50",
                "duplicate": 2,
            },
        )
        assert paid.status_code == 200
        assert [d["status_codes"] for d in paid.json()["deliveries"]] == [[200]] * 4
        refunded = await c.post(
            "/refund",
            json={"provider": "tabby", "payment_id": paid.json()["payment_id"], "amount": "5.50"},
        )
        assert refunded.status_code == 200
        unknown = await c.post("/refund", json={"provider": "tabby", "payment_id": "nope"})
        assert unknown.status_code == 404
        bad = await c.post(
            "/pay", json={"provider": "tabby", "invoice_number": "X", "amount": "1.5e3"}
        )
        assert bad.status_code == 422
    assert [r["provider"] for r in received] == ["tabby"] * 5
    assert received[-1]["body"]["refunds"][0]["amount"] == "5.50"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_pays_an_invoice_against_a_running_intake(capsys):
    intake, received = recording_intake()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(intake, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        code = cli_main(
            [
                "pay",
                "--provider",
                "moyasar",
                "--invoice",
                "INV-2026-000008",
                "--amount",
                "100.00",
                "--currency",
                "SAR",
                "--intake-url",
                f"http://127.0.0.1:{port}",
            ]
        )
    finally:
        server.should_exit = True
        thread.join(timeout=5)
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["invoice_number"] == "INV-2026-000008"
    assert received[0]["body"]["data"]["amount"] == 10000


def test_a_payment_made_in_the_past_carries_its_time():
    """``at`` (the demo's history): Moyasar's captured_at and Tabby's capture time, which
    Folio dates a payment by; without it, now."""
    from datetime import UTC, datetime

    at = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    providers = PaymentProviders()
    [paid] = providers.pay("moyasar", "INV-2026-000001", "100.00", "SAR", at=at).deliveries
    assert json.loads(paid.body)["data"]["captured_at"].startswith("2026-03-02T07:00:00")
    story = providers.pay("tabby", "INV-2026-000002", "100.00", "SAR", at=at)
    capture = json.loads(story.deliveries[-1].body)
    assert capture["captures"][0]["created_at"] == "2026-03-02T07:00:00Z"
    assert capture["created_at"] == "2026-03-02T07:00:00Z"
    [now] = providers.pay("moyasar", "INV-2026-000003", "100.00").deliveries
    assert json.loads(now.body)["data"]["captured_at"][:4] == str(datetime.now(UTC).year)


async def test_checkout_page_pays_from_a_form_and_escapes_what_it_echoes():
    intake, received = recording_intake()
    settings = SimulatorSettings(intake_url="http://intake", backoff_seconds=0)
    app = create_app(settings, transport=httpx.ASGITransport(app=intake))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as c:
        page = await c.get("/checkout", params={"invoice_number": "INV-2026-000009"})
        assert page.status_code == 200 and 'value="INV-2026-000009"' in page.text
        form = {"provider": "moyasar", "invoice_number": "INV-2026-000009", "amount": "120.00"}
        paid = await c.post("/checkout", data=form)
        assert paid.status_code == 200 and "posted 1 webhook(s) for INV-2026-000009" in paid.text
        bad = await c.post("/checkout", data={**form, "amount": "<script>", "provider": "x"})
        assert bad.status_code == 422 and "<script>" not in bad.text
    assert [r["provider"] for r in received] == ["moyasar"]
    assert received[0]["body"]["data"]["amount"] == 12_000
