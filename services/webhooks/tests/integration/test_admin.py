"""Admin routes: deny by default, list/search/view/replay deliveries, payment-method settings."""

import uuid

import pytest

from folio.devstack.testing import admin_headers

from .conftest import events_for_invoice, send

ADMIN_ROUTES = [
    ("GET", "/api/webhooks/admin/deliveries"),
    ("GET", f"/api/webhooks/admin/deliveries/{uuid.uuid4()}"),
    ("POST", f"/api/webhooks/admin/deliveries/{uuid.uuid4()}/replay"),
    ("GET", "/api/webhooks/admin/payment-methods"),
    ("PUT", "/api/webhooks/admin/payment-methods/tabby"),
    ("PUT", "/api/webhooks/admin/providers/tabby/api-key"),
    ("GET", "/api/webhooks/admin/audit/payment_method/tabby"),
]


def invoice() -> str:
    return f"INV-1999-{uuid.uuid4().int % 1_000_000:06d}"


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_refuse_anonymous_and_webhook_credentials(
    client, providers, method, path
):
    assert (await client.request(method, path, json={})).status_code == 401
    # a provider's webhook credential is not an admin credential
    tabby = {providers.tabby.header_name: providers.tabby.header_value}
    assert (await client.request(method, path, headers=tabby, json={})).status_code == 401
    tamara = {"Authorization": f"Bearer {providers.tamara.token()}"}
    assert (await client.request(method, path, headers=tamara, json={})).status_code == 401


@pytest.mark.parametrize(("method", "path"), [r for r in ADMIN_ROUTES if r[0] != "GET"])
async def test_changes_need_a_strong_enough_role(client, settings, method, path):
    viewer = admin_headers(settings, roles=("viewer",))
    assert (await client.request(method, path, headers=viewer, json={})).status_code == 403


async def test_other_methods_on_admin_paths_authenticate_first(client, settings, providers):
    tabby = {providers.tabby.header_name: providers.tabby.header_value}
    viewer = admin_headers(settings, roles=("viewer",))
    for method in ("DELETE", "PATCH", "POST"):
        for path in (
            "/api/webhooks/admin/payment-methods/tabby",
            "/api/webhooks/admin/deliveries",
            "/api/webhooks/admin/anything",
        ):
            assert (await client.request(method, path)).status_code == 401
            assert (await client.request(method, path, headers=tabby)).status_code == 401
            assert (await client.request(method, path, headers=viewer)).status_code == 405


async def test_list_search_view_and_replay_a_delivery(client, settings, providers, db):
    number = invoice()
    story = providers.pay("moyasar", number, "250.00")
    first = await send(client, story.deliveries[0])
    await send(client, story.deliveries[0])  # a retry: stored as duplicate
    unmapped = await send(client, providers.pay("moyasar", "", "1.00").deliveries[0])
    assert unmapped.json()["state"] == "unmapped"

    viewer = admin_headers(settings, roles=("viewer",))
    listed = await client.get(
        "/api/webhooks/admin/deliveries", params={"invoice_number": number}, headers=viewer
    )
    assert listed.status_code == 200
    assert sorted(i["state"] for i in listed.json()["items"]) == ["accepted", "duplicate"]
    by_state = await client.get(
        "/api/webhooks/admin/deliveries", params={"state": "unmapped", "limit": 500}, headers=viewer
    )
    assert unmapped.json()["delivery_id"] in {i["id"] for i in by_state.json()["items"]}
    searched = await client.get(
        "/api/webhooks/admin/deliveries", params={"q": story.payment_id}, headers=viewer
    )
    assert len(searched.json()["items"]) == 2

    delivery_id = first.json()["delivery_id"]
    viewed = (
        await client.get(f"/api/webhooks/admin/deliveries/{delivery_id}", headers=viewer)
    ).json()
    assert viewed["invoice_number"] == number
    assert '"amount":25000' in viewed["body"]
    assert providers.moyasar.secret_token not in str(viewed)  # write-only credential
    [event] = viewed["events"]
    assert event["event_type"] == "payment.verified" and event["published_at"] is None

    # simulate the relay having published it, so the delivery shows as published
    await db.execute(
        "UPDATE outbox SET published_at = now() WHERE event_id = $1", uuid.UUID(event["event_id"])
    )
    published = await client.get(
        "/api/webhooks/admin/deliveries",
        params={"invoice_number": number, "state": "published"},
        headers=viewer,
    )
    assert [i["id"] for i in published.json()["items"]] == [delivery_id]

    finance = admin_headers(settings, roles=("finance",), subject="fiona")
    replayed = await client.post(
        f"/api/webhooks/admin/deliveries/{delivery_id}/replay", headers=finance
    )
    assert replayed.status_code == 200
    assert replayed.json() == {
        "delivery_id": delivery_id,
        "state": "accepted",
        "events_republished": 1,
        "events_emitted": 0,
    }
    # same event id, queued again: consumers' inboxes make it a no-op
    events = await events_for_invoice(db, number)
    assert len(events) == 1 and events[0]["event_id"] == event["event_id"]
    assert (
        await db.fetchval(
            "SELECT published_at FROM outbox WHERE event_id = $1", uuid.UUID(event["event_id"])
        )
        is None
    )
    trail = await client.get(
        f"/api/webhooks/admin/audit/webhook_delivery/{delivery_id}", headers=viewer
    )
    assert [(t["actor"], t["action"]) for t in trail.json()["items"]] == [
        ("fiona", "delivery.replayed")
    ]

    missing = await client.post(
        f"/api/webhooks/admin/deliveries/{uuid.uuid4()}/replay", headers=finance
    )
    assert missing.status_code == 404


async def test_payment_methods_need_enabled_and_key_and_keys_are_write_only(client, settings):
    admin = admin_headers(settings, roles=("admin",), subject="ada")
    public = await client.get("/api/webhooks/payment-methods")
    assert public.status_code == 200

    # reset to a known state
    for key in ("mada_card", "apple_pay", "google_pay", "tabby", "tamara"):
        assert (
            await client.put(
                f"/api/webhooks/admin/payment-methods/{key}",
                json={"is_enabled": False},
                headers=admin,
            )
        ).status_code == 200
    for provider in ("moyasar", "tabby", "tamara"):
        await client.put(
            f"/api/webhooks/admin/providers/{provider}/api-key",
            json={"api_key": None},
            headers=admin,
        )
    assert (await client.get("/api/webhooks/payment-methods")).json()["methods"] == []

    await client.put(
        "/api/webhooks/admin/payment-methods/apple_pay", json={"is_enabled": True}, headers=admin
    )
    await client.put(
        "/api/webhooks/admin/payment-methods/tabby", json={"is_enabled": True}, headers=admin
    )
    assert (await client.get("/api/webhooks/payment-methods")).json()["methods"] == []

    set_key = await client.put(
        "/api/webhooks/admin/providers/moyasar/api-key",
        json={"api_key": "sk_live_very_secret"},
        headers=admin,
    )
    assert set_key.json() == {"provider": "moyasar", "api_key_configured": True}
    offered = (await client.get("/api/webhooks/payment-methods")).json()["methods"]
    assert [m["method_key"] for m in offered] == ["apple_pay"]

    admin_view = await client.get("/api/webhooks/admin/payment-methods", headers=admin)
    assert "sk_live_very_secret" not in admin_view.text
    tabby = next(m for m in admin_view.json()["methods"] if m["method_key"] == "tabby")
    assert tabby == {
        "method_key": "tabby",
        "provider": "tabby",
        "toggle": "enable_tabby",
        "display_name": "Tabby",
        "is_enabled": True,
        "api_key_configured": False,
        "is_offered": False,
    }
    trail = await client.get("/api/webhooks/admin/audit/payment_provider/moyasar", headers=admin)
    assert "sk_live_very_secret" not in trail.text
    assert trail.json()["items"][-1]["action"] == "provider_key.set"


async def test_settings_requests_forbid_unknown_fields_and_unknown_methods(client, settings):
    admin = admin_headers(settings, roles=("admin",))
    before = (await client.get("/api/webhooks/admin/payment-methods", headers=admin)).json()
    for body in [{"is_enabled": True, "api_key_configured": True}, {"is_enabled": "yes"}, {}]:
        response = await client.put(
            "/api/webhooks/admin/payment-methods/tamara", json=body, headers=admin
        )
        assert response.status_code == 422
    unknown = await client.put(
        "/api/webhooks/admin/payment-methods/bitcoin", json={"is_enabled": True}, headers=admin
    )
    assert unknown.status_code == 404
    assert (await client.get("/api/webhooks/admin/payment-methods", headers=admin)).json() == before


async def test_asyncapi_documents_the_payment_topics(client):
    spec = (await client.get("/api/webhooks/asyncapi.json")).json()
    assert {"payment.verified", "payment.authorized", "payment.failed", "payment.refunded"} <= set(
        spec["channels"]
    )
