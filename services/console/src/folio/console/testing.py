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
