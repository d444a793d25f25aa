"""Helpers of the console's tests (like folio.devstack.testing): real servers in threads,
a browser-like client, sign-in, ledger entries made through the ledger's API."""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from contextlib import asynccontextmanager

import httpx
import uvicorn

from folio.devstack.embedded import free_port
from folio.shared.auth import local_dev_signer, mint_token

PASSWORD = "correct horse battery staple"


class ServerThread:
    """An ASGI app under a real uvicorn in a thread of its own (its own event loop)."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                           lifespan="on")
        )  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)


_TOKEN = re.compile(r'name="(?:sign_in_token|csrf_token)" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def random_address() -> str:
    """A client address of its own per test: the throttle counts failures per address."""
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


@asynccontextmanager
async def console_client(app, address: str | None = None):
    """The console app with its lifespan, over ASGI, from one client address."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address or random_address(), 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    form = await client.get("/sign-in")
    token = _TOKEN.search(form.text).group(1)
    return await client.post(
        "/sign-in", data={"email": email, "password": password, "sign_in_token": token}
    )


def csrf_of(html: str) -> str:
    return _CSRF_META.search(html).group(1)


def ledger_admin_headers(roles=("admin",)) -> dict[str, str]:
    token = mint_token("test-admin", list(roles), local_dev_signer(), ttl_seconds=600)
    return {"Authorization": f"Bearer {token}"}


def create_entries(ledger_url: str, count: int, **fields) -> list[dict]:
    """``count`` entries in the real ledger, all in one new building unless told."""
    building = fields.pop("building_id", f"bld-{uuid.uuid4().hex[:8]}")
    created = []
    with httpx.Client(base_url=ledger_url, headers=ledger_admin_headers()) as http:
        for i in range(count):
            body = {
                "entry_type": "RENT",
                "amount_minor": 100_000 + i * 1_000,
                "currency": "SAR",
                "due_date": f"2026-0{1 + i % 9}-15",
                "building_id": building,
                "unit_id": f"unit-{i % 3}",
                "booking_id": f"bk-{uuid.uuid4().hex[:6]}",
                **fields,
            }
            response = http.post("/api/ledger/entries", json=body)
            response.raise_for_status()
            created.append(response.json())
    return created


def ledger_entries(ledger_url: str, **params) -> list[dict]:
    """Every entry the ledger's API lists for these filters."""
    rows, cursor = [], None
    with httpx.Client(base_url=ledger_url, headers=ledger_admin_headers()) as http:
        while True:
            query = {**params, "page_size": 200, **({"cursor": cursor} if cursor else {})}
            page = http.get("/api/ledger/entries", params=query).json()
            rows += page["data"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return rows


async def browser_sign_in(page, email: str, password: str) -> None:
    """Sign in through the page, as a person would (a Playwright page)."""
    await page.goto("/sign-in")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


# --- buildings, units and payments through the services' public APIs -------------

REGISTRY = "/api/registry"


def registry_get(registry_url: str, path: str, **params) -> dict:
    """A registry answer, as the console's pages should show it."""
    with httpx.Client(base_url=registry_url, headers=ledger_admin_headers()) as http:
        response = http.get(REGISTRY + path, params=params)
        response.raise_for_status()
        return response.json()


def make_portfolio(registry_url: str, ledger_url: str) -> dict:
    """A building of each kind of unit through the registry's API, and its receivables
    through the ledger's: in Riyadh (SAR) six units - one booked over tonight, one
    vacant, one Beds24-controlled without data (UNKNOWN), one blocked, one in
    maintenance, one mapped to Beds24 but LOCAL; three nights of snapshots; on the
    booked unit a RENT overdue, one due next month and one to be paid. A second
    building in Kuwait (KWD, three decimals) makes the portfolio two currencies."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Riyadh")).date()
    suffix = uuid.uuid4().hex[:8].upper()
    with (
        httpx.Client(base_url=registry_url, headers=ledger_admin_headers()) as registry,
        httpx.Client(base_url=ledger_url, headers=ledger_admin_headers()) as ledger,
    ):

        def post(client, path: str, body: dict, method: str = "POST") -> dict:
            response = client.request(method, path, json=body)
            assert response.status_code in (200, 201), response.text
            return response.json()

        building = post(registry, f"{REGISTRY}/buildings", {
            "code": f"RUH-{suffix}", "name": "Olaya Residences", "city": "Riyadh",
            "timezone": "Asia/Riyadh", "currency": "SAR",
        })  # fmt: skip
        kuwait = post(registry, f"{REGISTRY}/buildings", {
            "code": f"KWI-{suffix}", "name": "Salmiya Court", "city": "Kuwait City",
            "timezone": "Asia/Kuwait", "currency": "KWD",
        })  # fmt: skip
        units = {}
        for code, status, rent in [
            ("101", "AVAILABLE", 450_000), ("102", "AVAILABLE", 420_000),
            ("103", "AVAILABLE", 500_000), ("104", "BLOCKED", 400_000),
            ("105", "MAINTENANCE", 380_000), ("106", "AVAILABLE", 410_000),
        ]:  # fmt: skip
            units[code] = post(registry, f"{REGISTRY}/units", {
                "building_id": building["id"], "code": code, "name": f"Apartment {code}",
                "status": status, "monthly_base_rent_minor": rent, "currency": "SAR",
            })  # fmt: skip
        post(registry, f"{REGISTRY}/units", {
            "building_id": kuwait["id"], "code": "K1", "status": "AVAILABLE",
            "monthly_base_rent_minor": 350_500, "currency": "KWD",
        })  # fmt: skip
        property_base = uuid.uuid4().int % 10**8 * 10 + 1
        for code, source, offset in [("103", "BEDS24", 0), ("106", "LOCAL", 1)]:
            post(registry, f"{REGISTRY}/units/{units[code]['id']}/beds24-map", {
                "beds24_property_id": property_base + offset, "beds24_room_id": 7,
                "source_of_truth": source,
            }, "PUT")  # fmt: skip
        booking = post(registry, f"{REGISTRY}/bookings", {
            "unit_id": units["101"]["id"], "guest_name": "Noura Al-Harbi",
            "start_date": (today - timedelta(days=5)).isoformat(),
            "end_date": (today + timedelta(days=25)).isoformat(), "max_renewals": 2,
        })  # fmt: skip
        post(registry, f"{REGISTRY}/occupancy/snapshots", {
            "start_date": (today - timedelta(days=3)).isoformat(),
            "end_date": (today - timedelta(days=1)).isoformat(), "building_id": building["id"],
        })  # fmt: skip
        entries = {}
        for name, amount, due in [
            ("overdue", 450_000, today - timedelta(days=10)),
            ("upcoming", 450_000, today + timedelta(days=20)),
            ("to_pay", 200_000, today),
        ]:
            entries[name] = post(ledger, "/api/ledger/entries", {
                "entry_type": "RENT", "amount_minor": amount, "currency": "SAR",
                "due_date": due.isoformat(), "building_id": building["id"],
                "unit_id": units["101"]["id"], "booking_id": booking["id"],
                "description": f"Rent {name}",
            })  # fmt: skip
    portfolio = {
        "building": building, "kuwait": kuwait, "units": units, "booking": booking,
        "entries": entries, "today": today,
    }  # fmt: skip
    return portfolio


def wait_for(check, timeout: float = 60.0, interval: float = 0.2) -> None:
    """Poll ``check`` until it is true (an event crossing the broker), else fail."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check.__doc__ or check}")
        time.sleep(interval)


def wait_for_read_model(registry_url: str, portfolio: dict) -> None:
    """Until the registry's read model holds the portfolio's entries (ledger.entry.changed
    crossed the broker), so that pages and API answers read one settled state."""
    unit = portfolio["units"]["101"]["id"]

    def settled() -> bool:
        """the registry's finance card lists the 3 entries"""
        card = registry_get(registry_url, f"/units/{unit}/finance-card")
        return len(card["entries"]) == len(portfolio["entries"])

    wait_for(settled)


def pay_through_simulator(simulator_url: str, entry: dict, provider: str = "moyasar") -> dict:
    """Pay an entry in full as the provider would: the simulator posts its webhooks."""
    from folio.shared.contracts.money import exponent_of

    exponent = exponent_of(entry["currency"])
    units, minor = divmod(entry["amount_minor"], 10**exponent)
    amount = f"{units}.{minor:0{exponent}d}" if exponent else str(units)
    with httpx.Client(base_url=simulator_url, timeout=30) as http:
        response = http.post("/pay", json={
            "provider": provider, "invoice_number": entry["invoice_number"], "amount": amount,
            "currency": entry["currency"],
        })  # fmt: skip
        response.raise_for_status()
        body = response.json()
    assert all(d["delivered"] for d in body["deliveries"]), body
    return body
