"""Issue 12, through the real app and database: hostile numbers, secrets spelled to slip
past redaction, NUL and control characters, unbounded integers and over-long headers.
Each answer is a clear 4xx (or a stored delivery), never a 500."""

import json
import uuid
from dataclasses import replace

import pytest

from folio.devstack.testing import admin_headers
from folio.simulators.payments.wire import (
    LOCAL_MOYASAR_SECRET_TOKEN,
    LOCAL_TABBY_HEADER_VALUE,
)

from .conftest import send, signed_request, stored_counts, unique_invoice_number

SECRET = LOCAL_MOYASAR_SECRET_TOKEN.encode()
PROBLEM = "application/problem+json"


def moyasar_paid(providers, amount_minor: str | None = None) -> bytes:
    """A genuine payment_paid body; ``amount_minor`` replaces its amount text as is."""
    body = providers.pay("moyasar", unique_invoice_number(), "10.00").deliveries[0].body
    if amount_minor is not None:
        body = body.replace(b'"amount":1000,', f'"amount":{amount_minor},'.encode(), 1)
        body = body.replace(b'"captured":1000,', f'"captured":{amount_minor},'.encode(), 1)
    return body


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return response.json()


async def _stored(db, delivery_id: str) -> dict:
    row = await db.fetchrow(
        "SELECT state, reason, body, headers, query, dedupe_key FROM deliveries"
        " WHERE id = $1::uuid",
        delivery_id,
    )
    return dict(row)


# --- 1. numbers before and after authentication ----------------------------------------


@pytest.mark.parametrize(
    "amount", ["9" * 5000, "1e999999", "9" * 120_000, "-1e-999999", "Infinity"]
)
async def test_unauthenticated_moyasar_with_unbounded_numbers_is_401_and_nothing_stored(
    client, db, providers, amount
):
    body = moyasar_paid(providers, amount).replace(SECRET, b"not-the-secret")
    before = await stored_counts(db)
    _problem(await client.post("/api/webhooks/moyasar", content=body), 401)
    assert await stored_counts(db) == before


async def test_moyasar_amount_2_63_is_stored_rejected_answered_422_and_emits_nothing(
    client, db, providers
):
    body = moyasar_paid(providers, str(2**63))
    before = await stored_counts(db)
    first = _problem(await client.post("/api/webhooks/moyasar", content=body), 422)
    assert first["type"] == "urn:folio:problem:number-out-of-range"
    assert first["state"] == "rejected" and "2**63" in first["detail"]
    row = await _stored(db, first["delivery_id"])
    assert row["state"] == "rejected" and row["dedupe_key"] == json.loads(body)["id"]
    # the provider's retry gets the same answer and is kept as a duplicate
    again = _problem(await client.post("/api/webhooks/moyasar", content=body), 422)
    assert again["state"] == "duplicate"
    assert await stored_counts(db) == (before[0] + 2, before[1])  # two rows, no event
    largest = moyasar_paid(providers, str(2**63 - 1))
    assert (await client.post("/api/webhooks/moyasar", content=largest)).status_code == 200


def _tabby(amount: str) -> bytes:
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "status": "closed",
            "amount": amount,
            "currency": "SAR",
            "order": {"reference_id": unique_invoice_number()},
            "captures": [{"id": "cap-1", "amount": amount}],
        }
    ).encode()


def _tamara(amount: str) -> bytes:
    return (
        b'{"order_id": "%s", "order_reference_id": "%s", "event_type": "order_captured",'
        b' "data": {"capture_id": "c1", "captured_amount": {"amount": %s, "currency": "SAR"}}}'
        % (str(uuid.uuid4()).encode(), unique_invoice_number().encode(), amount.encode())
    )


def _standard(amount: str) -> bytes:
    data = {
        "provider": "moyasar",
        "payment_id": str(uuid.uuid4()),
        "invoice_number": unique_invoice_number(),
        "amount": amount,
        "currency": "SAR",
    }
    return json.dumps({"type": "payment.verified", "data": data}).encode()


@pytest.mark.parametrize(
    ("channel", "body"),
    [
        ("moyasar", lambda p: moyasar_paid(p, "1e200000")),
        ("moyasar", lambda p: moyasar_paid(p, "9" * 5000)),
        ("tabby", lambda p: _tabby("1e200000")),
        ("tabby", lambda p: _tabby("1e999990")),
        ("tamara", lambda p: _tamara("1e999999")),
        ("standard", lambda p: _standard("1e200000")),
        ("standard", lambda p: _standard("92233720368547758.08")),
    ],
)
async def test_authenticated_amounts_beyond_the_bounds_are_422_stored_rejected_no_event(
    client, db, providers, channel, body
):
    payload = body(providers)
    before = await stored_counts(db)
    problem = _problem(await client.post(**signed_request(channel, payload, providers)), 422)
    assert (await _stored(db, problem["delivery_id"]))["state"] == "rejected"
    assert await stored_counts(db) == (before[0] + 1, before[1])
    assert (await client.get("/api/webhooks/healthz")).status_code == 200


# --- 2. secrets spelled to slip past redaction -------------------------------------------


async def _viewer_sees(client, settings, delivery_id: str) -> str:
    viewer = admin_headers(settings, roles=("viewer",))
    response = await client.get(f"/api/webhooks/admin/deliveries/{delivery_id}", headers=viewer)
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize(
    "key", [rb'"secret\u005ftoken"', rb'"\u0073\u0065cret_token"', rb'"secret_tok\u0065n"']
)
async def test_an_escaped_secret_key_authenticates_and_its_secret_is_never_stored_or_shown(
    client, db, settings, providers, key
):
    body = moyasar_paid(providers).replace(b'"secret_token"', key)
    response = await client.post("/api/webhooks/moyasar", content=body)
    assert response.status_code == 200 and response.json()["state"] == "accepted"
    row = await _stored(db, response.json()["delivery_id"])
    assert SECRET not in bytes(row["body"])
    assert json.loads(bytes(row["body"]))["secret_token"] == "[redacted]"
    shown = await _viewer_sees(client, settings, response.json()["delivery_id"])
    assert LOCAL_MOYASAR_SECRET_TOKEN not in shown


async def test_a_case_variant_or_escaped_copy_of_the_secret_is_masked_too(client, db, providers):
    escaped = LOCAL_MOYASAR_SECRET_TOKEN.replace("o", "\\u006f").encode()
    body = moyasar_paid(providers).replace(
        b'"live":false', b'"SECRET_TOKEN":"' + escaped + b'","note":"copy: ' + escaped + b'"'
    )
    response = await client.post("/api/webhooks/moyasar", content=body)
    assert response.status_code == 200
    stored = json.loads(bytes((await _stored(db, response.json()["delivery_id"]))["body"]))
    assert stored["SECRET_TOKEN"] == stored["note"] == stored["secret_token"] == "[redacted]"


@pytest.mark.parametrize("order", ["real-first", "real-last"])
async def test_a_repeated_secret_token_never_authenticates(client, db, providers, order):
    pair = [b'"secret_token":"' + SECRET + b'"', b'"secret_token":"not-the-secret"']
    if order == "real-last":
        pair.reverse()
    body = moyasar_paid(providers).replace(b'"secret_token":"' + SECRET + b'"', b",".join(pair))
    before = await stored_counts(db)
    _problem(await client.post("/api/webhooks/moyasar", content=body), 401)
    assert await stored_counts(db) == before


async def test_repeated_keys_elsewhere_are_stored_rejected_with_every_secret_masked(
    client, db, providers
):
    body = moyasar_paid(providers).replace(b'"amount":1000,', b'"amount":1,"amount":1000,')
    before = await stored_counts(db)
    response = await client.post("/api/webhooks/moyasar", content=body)
    assert response.status_code == 200 and response.json()["state"] == "rejected"
    row = await _stored(db, response.json()["delivery_id"])
    assert "repeats the key 'amount'" in row["reason"]
    assert SECRET not in bytes(row["body"]) and b'"amount":1,"amount":1000' in bytes(row["body"])
    assert await stored_counts(db) == (before[0] + 1, before[1])


async def test_credential_headers_and_query_of_every_provider_are_masked_whatever_the_case(
    client, db, providers
):
    tabby = providers.pay("tabby", unique_invoice_number(), "10.00").deliveries[-1]
    tabby = replace(
        tabby,
        headers={
            "Content-Type": "application/json",
            "X-TABBY-WEBHOOK-SECRET": LOCAL_TABBY_HEADER_VALUE,
            "X-Copied": f"copy {LOCAL_TABBY_HEADER_VALUE}",
        },
    )
    tamara = providers.pay("tamara", unique_invoice_number(), "10.00").deliveries[-1]
    token = tamara.query["tamaraToken"]
    tamara = replace(tamara, query={"TamaraToken": token, "page": token})
    standard = signed_request("standard", _standard("10.00"), providers)
    responses = [await send(client, tabby), await send(client, tamara)]
    responses.append(await client.post(**standard))
    secrets = [LOCAL_TABBY_HEADER_VALUE, token, standard["headers"]["webhook-signature"]]
    for response in responses:
        assert response.status_code == 200, response.text
        row = await _stored(db, response.json()["delivery_id"])
        kept = row["headers"] + row["query"] + bytes(row["body"]).decode()
        assert not [s for s in secrets if s in kept], kept
    tabby_row = await _stored(db, responses[0].json()["delivery_id"])
    assert json.loads(tabby_row["headers"])["x-tabby-webhook-secret"] == "[redacted]"


# --- 3. NUL, control characters, unbounded integers, over-long headers ------------------


async def test_nul_in_a_free_text_field_is_accepted_and_stored_losslessly_but_safely(
    client, db, providers
):
    sim = providers.moyasar
    delivery = sim.fail(sim.new_payment(unique_invoice_number(), "1.00"))
    body = json.loads(delivery.body)
    body["data"]["source"]["message"] = "declined\x00\x1b[31m\ud800"
    raw = json.dumps(body).encode()  # JSON escapes: \u0000, \u001b, \ud800
    response = await client.post("/api/webhooks/moyasar", content=raw)
    assert response.status_code == 200 and response.json()["state"] == "accepted"
    row = await _stored(db, response.json()["delivery_id"])
    kept = json.loads(bytes(row["body"]))
    assert kept["data"]["source"]["message"] == "declined\x00\x1b[31m\ud800"  # lossless
    invoice = body["data"]["metadata"]["invoice_number"]
    event = await db.fetchval("SELECT value FROM outbox WHERE key = $1", invoice)
    assert json.loads(event)["data"]["reason"] == "declined\\u0000\\u001b[31m\\ud800"


async def test_nul_in_an_identifier_is_stored_as_rejected(client, db, providers):
    body = _tabby("10.00").replace(b'"id": "cap-1"', b'"id": "cap\\u0000"')
    response = await client.post(**signed_request("tabby", body, providers))
    assert response.status_code == 200 and response.json()["state"] == "rejected"


@pytest.mark.parametrize("channel", ["moyasar", "tabby", "tamara", "standard"])
@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-id": "msg_\x00"},
        {"x-note": "a\x00b"},
        {"x-note": "a\x1bb"},
        {"webhook-id": "m" * 10_000},
        {"x-note": "n" * 5000},
    ],
)
async def test_headers_no_provider_sends_are_400_before_anything_is_stored(
    client, db, providers, channel, headers
):
    request = signed_request(channel, moyasar_paid(providers), providers)
    request["headers"] = {**request["headers"], **headers}
    before = await stored_counts(db)
    _problem(await client.post(**request), 400)
    assert await stored_counts(db) == before


async def test_a_repeated_credential_header_or_query_token_is_400(client, db, providers):
    tabby = signed_request("tabby", _tabby("10.00"), providers)
    value = tabby["headers"].pop(providers.tabby.header_name)
    headers = [*tabby["headers"].items(), ("x-tabby-webhook-secret", value)]
    headers.append(("X-Tabby-Webhook-Secret", "other"))
    before = await stored_counts(db)
    _problem(await client.post(tabby["url"], content=tabby["content"], headers=headers), 400)
    token = providers.tamara.token()
    response = await client.post(
        "/api/webhooks/tamara",
        content=_tamara("10.00"),
        params=[("tamaraToken", token), ("tamaraToken", "x")],
    )
    _problem(response, 400)
    _problem(await client.post("/api/webhooks/tamara", params={"tamaraToken": "a\x00"}), 400)
    assert await stored_counts(db) == before


@pytest.mark.parametrize(
    "params",
    [
        {"invoice_number": "INV\x00"},
        {"provider_payment_id": "p\x00"},
        {"q": "\x00"},
        {"q": "a\x1fb"},
    ],
)
async def test_delivery_filters_with_nul_or_control_characters_are_400(client, settings, params):
    # refused by the shared edge before any route (every service, every query)
    viewer = admin_headers(settings, roles=("viewer",))
    response = await client.get("/api/webhooks/admin/deliveries", params=params, headers=viewer)
    _problem(response, 400)


@pytest.mark.parametrize(
    "params",
    [{"before": str(2**70)}, {"before": str(2**63)}, {"before": "-1"}, {"limit": str(2**70)}],
)
async def test_delivery_filters_with_unbounded_integers_are_422(client, settings, params):
    viewer = admin_headers(settings, roles=("viewer",))
    response = await client.get("/api/webhooks/admin/deliveries", params=params, headers=viewer)
    _problem(response, 422)


async def test_bounded_filters_still_answer(client, settings):
    viewer = admin_headers(settings, roles=("viewer",))
    params = {"before": str(2**63 - 1), "q": "INV", "invoice_number": "INV-1999-000001"}
    response = await client.get("/api/webhooks/admin/deliveries", params=params, headers=viewer)
    assert response.status_code == 200


async def test_other_admin_text_inputs_refuse_nul(client, settings):
    admin = admin_headers(settings, roles=("admin",))
    audit = await client.get("/api/webhooks/admin/audit/payment_method/ta%00bby", headers=admin)
    _problem(audit, 400)  # NUL in a path: refused by the shared edge
    key = await client.put(
        "/api/webhooks/admin/providers/tabby/api-key", json={"api_key": "k\x00"}, headers=admin
    )
    _problem(key, 422)


# --- 4. the contract documents every provider body and answer ---------------------------

MERCHANT_REFERENCE = {
    "moyasar": ("data", "metadata", "invoice_number"),
    "tabby": ("order", "reference_id"),
    "tamara": ("order_reference_id",),
    "standard": ("data", "invoice_number"),
}


async def test_openapi_documents_each_provider_body_with_an_example_and_every_answer(client):
    spec = (await client.get("/api/webhooks/openapi.json")).json()
    for channel, path in MERCHANT_REFERENCE.items():
        operation = spec["paths"][f"/api/webhooks/{channel}"]["post"]
        body = operation["requestBody"]["content"]["application/json"]
        [example] = body["examples"].values()
        value = example["value"]
        for step in path:
            value = value[step]
        assert value.startswith("INV-"), channel
        assert ".".join(path) in operation["description"]
        assert "Merchant reference" in json.dumps(body["schema"])
        answers = operation["responses"]
        assert "application/json" in answers["200"]["content"]
        for status in ("400", "401", "413", "422", "503"):
            schema = answers[status]["content"][PROBLEM]["schema"]
            assert {"type", "title", "status"} <= set(schema["properties"]), (channel, status)
        assert "delivery_id" in answers["422"]["content"][PROBLEM]["schema"]["properties"]
