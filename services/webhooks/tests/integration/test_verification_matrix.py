"""QUALITY.md webhook verification matrix, per provider: every forgery → 4xx, nothing stored.

Moyasar, Tabby and Tamara authenticate the *sender*, not the body (a secret in
the body, a static header, a JWT without a body hash), so for them "one byte
changed" is tested where it matters: in the credential itself, and a body
broken by it. Standard Webhooks signs the body, so any byte of it counts.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from folio.simulators.payments.standard import StandardWebhooksSender

from .conftest import send, stored_counts

INVOICE = "INV-1999-900001"


def _flip_char(text: str, index: int = -1) -> str:
    """Change one character (base64 signatures: use a middle one, every bit counts there)."""
    index %= len(text)
    replacement = "x" if text[index] != "x" else "y"
    return text[:index] + replacement + text[index + 1 :]


async def assert_refused(client, db, delivery, status=401):
    before = await stored_counts(db)
    response = await send(client, delivery)
    assert response.status_code == status, (delivery.description, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await stored_counts(db) == before, f"{delivery.description} stored something"


async def assert_accepted(client, db, delivery):
    before = await stored_counts(db)
    response = await send(client, delivery)
    assert response.status_code == 200, response.text
    deliveries, events = await stored_counts(db)
    assert deliveries == before[0] + 1 and events >= before[1]


# --- Moyasar ---------------------------------------------------------------------------


def moyasar_cases(providers):
    valid = providers.pay("moyasar", INVOICE, "10.00").deliveries[0]
    secret = providers.moyasar.secret_token
    one_byte = valid.with_body(
        valid.body.replace(secret.encode(), _flip_char(secret).encode()), "secret one byte"
    )
    broken_json = valid.with_body(valid.body[:-1] + b"!", "body one byte, no longer JSON")
    return valid, {
        "wrong secret_token": providers.with_auth(valid, "wrong"),
        "missing secret_token": providers.with_auth(valid, "missing"),
        "secret_token one byte changed": one_byte,
        "body one byte changed (unparseable)": broken_json,
        "empty body": valid.with_body(b"", "empty"),
    }


async def test_moyasar_matrix(client, db, providers):
    valid, forged = moyasar_cases(providers)
    for delivery in forged.values():
        await assert_refused(client, db, delivery)
    await assert_accepted(client, db, valid)


# --- Tabby -----------------------------------------------------------------------------


async def test_tabby_matrix(client, db, providers):
    valid = providers.pay("tabby", INVOICE, "10.00").deliveries[-1]
    name, secret = providers.tabby.header_name, providers.tabby.header_value
    forged = [
        providers.with_auth(valid, "wrong"),
        providers.with_auth(valid, "missing"),
        replace(valid, headers={**valid.headers, name: _flip_char(secret)}),
        replace(valid, headers={**valid.headers, name: secret + " "}),
        replace(valid, headers={**valid.headers, name: ""}),
        # the right value under another header name is not the credential
        replace(valid, headers={"Content-Type": "application/json", "X-Other": secret}),
    ]
    for delivery in forged:
        await assert_refused(client, db, delivery)
    await assert_accepted(client, db, valid)


# --- Tamara ----------------------------------------------------------------------------


def _with_token(delivery, token, *, query=True, header=True):
    headers = {k: v for k, v in delivery.headers.items() if k != "Authorization"}
    if header:
        headers["Authorization"] = f"Bearer {token}"
    return replace(delivery, headers=headers, query={"tamaraToken": token} if query else {})


async def test_tamara_matrix(client, db, providers):
    valid = providers.pay("tamara", INVOICE, "10.00").deliveries[-1]
    sim = providers.tamara
    now = datetime.now(UTC)
    good = sim.token()
    forged = [
        providers.with_auth(valid, "wrong"),
        providers.with_auth(valid, "missing"),
        _with_token(valid, sim.token(issued_at=now - timedelta(minutes=20))),  # expired
        _with_token(valid, sim.token(issued_at=now + timedelta(minutes=10))),  # future
        _with_token(valid, _flip_char(good, -10)),  # signature one byte changed
        _with_token(valid, sim.token(issuer="NotTamara")),
        _with_token(valid, "not-a-jwt"),
    ]
    for delivery in forged:
        await assert_refused(client, db, delivery)
    # accepted from the query parameter alone and from the bearer header alone
    await assert_accepted(client, db, _with_token(valid, good, header=False))
    retry = sim.capture(sim.new_order(INVOICE, "10.00"))
    await assert_accepted(client, db, _with_token(retry, sim.token(), query=False))


# --- Standard Webhooks -------------------------------------------------------------------


def _standard_payload():
    return {
        "provider": "moyasar",
        "payment_id": "pay_matrix",
        "invoice_number": INVOICE,
        "amount": "10.00",
        "currency": "SAR",
    }


async def test_standard_webhooks_matrix(client, db):
    sender = StandardWebhooksSender()
    valid = sender.delivery("payment.verified", _standard_payload())
    now = datetime.now(UTC)
    missing = replace(
        valid, headers={k: v for k, v in valid.headers.items() if k != "webhook-signature"}
    )
    forged = [
        valid.with_one_byte_changed(),
        sender.delivery(
            "payment.verified",
            _standard_payload(),
            secret="whsec_" + "c29tZW9uZS1lbHNlcy1zZWNyZXQtdmFsdWU=",
        ),
        missing,
        sender.delivery(
            "payment.verified", _standard_payload(), sent_at=now - timedelta(minutes=6)
        ),
        sender.delivery(
            "payment.verified", _standard_payload(), sent_at=now + timedelta(minutes=6)
        ),
        replace(valid, headers={**valid.headers, "webhook-id": valid.headers["webhook-id"] + "x"}),
    ]
    for delivery in forged:
        await assert_refused(client, db, delivery)
    await assert_accepted(client, db, valid)


# --- size limit --------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["moyasar", "tabby", "tamara"])
async def test_oversized_body_is_413_before_parsing_or_crypto(
    client, db, providers, settings, provider
):
    valid = providers.pay(provider, INVOICE, "10.00").deliveries[-1]
    padding = " " * (settings.max_body_bytes + 1)
    oversized = valid.with_body(valid.body[:-1] + padding.encode() + valid.body[-1:], "oversized")
    json.loads(oversized.body)  # still a valid, authentic delivery — only too big
    await assert_refused(client, db, oversized, status=413)


async def test_an_unconfigured_credential_refuses_every_delivery(settings, db, providers):
    from folio.devstack.testing import running_app
    from folio.webhooks.app import create_app

    unconfigured = settings.model_copy(
        update={
            "moyasar_webhook_secret": None,
            "tabby_webhook_secret": None,
            "tamara_notification_token": None,
            "standard_webhook_secret": None,
        }
    )
    standard = StandardWebhooksSender().delivery("payment.verified", _standard_payload())
    async with running_app(create_app(unconfigured)) as client:
        for provider in ("moyasar", "tabby", "tamara"):
            await assert_refused(
                client, db, providers.pay(provider, INVOICE, "1.00").deliveries[-1]
            )
        await assert_refused(client, db, standard)


async def test_stored_delivery_keeps_no_credential(client, db, providers):
    delivery = providers.pay("tamara", INVOICE, "5.00").deliveries[-1]
    response = await send(client, delivery)
    row = await db.fetchrow(
        "SELECT headers, query, body FROM deliveries WHERE id = $1::uuid",
        response.json()["delivery_id"],
    )
    token = delivery.query["tamaraToken"]
    assert token not in row["headers"] and token not in row["query"]
    assert json.loads(row["query"])["tamaraToken"] == "[redacted]"
