"""Each simulator's address answers: GET / says what it is and lists its routes."""

import httpx
import pytest

from folio.simulators import beds24, payments, rotessa


@pytest.mark.parametrize(
    ("make_app", "some_routes"),
    [
        (rotessa.create_app, [("GET", "/v1/customers"), ("POST", "/_sim/customers")]),
        (beds24.create_app, [("GET", "/v2/bookings"), ("POST", "/_sim/seed")]),
        (payments.create_app, [("POST", "/pay"), ("POST", "/refund")]),
    ],
    ids=["rotessa", "beds24", "payments"],
)
async def test_root_page_says_what_the_simulator_is_and_lists_its_routes(make_app, some_routes):
    app = make_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as client:
        page = await client.get("/")
        assert page.status_code == 200
        body = page.json()
        assert body["simulator"] == app.title and body["what"]
        listed = {(r["method"], r["path"]) for r in body["routes"]}
        assert set(some_routes) <= listed
        assert ("GET", "/") not in listed
        if body["docs"]:  # the docs it points to exist
            assert (await client.get(body["docs"])).status_code == 200


async def test_the_payments_page_names_where_it_posts(monkeypatch):
    monkeypatch.setenv("FOLIO_WEBHOOKS_URL", "http://127.0.0.1:18080")
    app = payments.create_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as client:
        assert "http://127.0.0.1:18080" in (await client.get("/")).json()["what"]
