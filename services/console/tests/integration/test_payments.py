"""The payments registry and an entry's page over the real ledger's API."""

import csv
import io
import re
import uuid

import httpx
import pytest

from folio.console.adapters.services import LedgerClient
from folio.console.app import create_app
from folio.console.domain.payments import CSV_COLUMNS, csv_row
from folio.console.domain.users import Role
from folio.console.testing import (
    PASSWORD,
    console_client,
    create_entries,
    csrf_of,
    ledger_admin_headers,
    ledger_entries,
    sign_in,
)
from folio.shared.auth import local_dev_signer, mint_token

pytestmark = pytest.mark.integration


def invoice_numbers(html: str) -> list[str]:
    return re.findall(r'class="mono">(INV-\d{4}-\d{6})</a></td>\s*<td>', html)


async def test_filters_pages_and_totals_come_from_the_ledger(
    console_settings, make_user, ledger_server
):
    entries = create_entries(ledger_server.url, 5)
    building = entries[0]["building_id"]
    app = create_app(console_settings.model_copy(update={"page_size": 2}))
    user = await make_user(Role.VIEWER)
    async with console_client(app) as client:
        await sign_in(client, user.email, PASSWORD)
        first = await client.get("/admin/payments", params={"building_id": building})
        assert invoice_numbers(first.text) == [e["invoice_number"] for e in entries[:2]]
        assert re.search(r'id="total-count">5<', first.text)
        assert "5,100.00 SAR" in first.text  # 1,000 + 1,010 + ... + 1,040 outstanding
        cursor = re.search(r'id="next-page" href="([^"]+)"', first.text).group(1)
        second = await client.get(cursor.replace("&amp;", "&"))
        assert invoice_numbers(second.text) == [e["invoice_number"] for e in entries[2:4]]
        unit = await client.get(
            "/admin/payments", params={"building_id": building, "unit_id": "unit-1"}
        )
        expected = [e["invoice_number"] for e in entries if e["unit_id"] == "unit-1"]
        assert invoice_numbers(unit.text) == expected
        by_invoice = await client.get(
            "/admin/payments", params={"invoice_number": entries[3]["invoice_number"].lower()}
        )
        assert invoice_numbers(by_invoice.text) == [entries[3]["invoice_number"]]
        due = await client.get(
            "/admin/payments",
            params={"building_id": building, "due_from": "2026-02-01", "due_to": "2026-03-31"},
        )
        assert invoice_numbers(due.text) == [
            entries[1]["invoice_number"],
            entries[2]["invoice_number"],
        ]
        htmx = await client.get(
            "/admin/payments", params={"building_id": building}, headers={"HX-Request": "true"}
        )
        assert "<html" not in htmx.text and "payments-table" in htmx.text
        bad = await client.get("/admin/payments", params={"status": "PAYED"})
        assert bad.status_code == 400 and "unknown status" in bad.text


async def test_the_csv_is_exactly_the_filtered_set(console_settings, make_user, ledger_server):
    entries = create_entries(ledger_server.url, 7)
    building = entries[0]["building_id"]
    app = create_app(console_settings.model_copy(update={"page_size": 2}))
    user = await make_user(Role.FINANCE)
    async with console_client(app) as client:
        await sign_in(client, user.email, PASSWORD)
        response = await client.get(
            "/admin/payments.csv", params={"building_id": building, "unit_id": "unit-0"}
        )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    expected = ledger_entries(ledger_server.url, building_id=building, unit_id="unit-0")
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1:] == [csv_row(e) for e in expected] and len(rows) == 1 + 3


async def test_an_entry_page_shows_it_and_a_writer_changes_its_status(
    console_app, make_user, ledger_server
):
    entry = create_entries(ledger_server.url, 1)[0]
    user = await make_user(Role.FINANCE)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        page = await client.get(f"/admin/payments/{entry['entry_id']}")
        assert page.status_code == 200 and entry["invoice_number"] in page.text
        assert re.findall(r"<option>(\w+)</option>", page.text) == ["PENDING", "VOID"]
        assert 'id="adjust-form"' in page.text and 'id="refund-form"' not in page.text
        csrf = csrf_of(page.text)
        done = await client.post(
            f"/admin/payments/{entry['entry_id']}/status",
            data={"csrf_token": csrf, "status": "PENDING", "reason": "customer called"},
        )
        assert done.status_code == 303
        after = await client.get(done.headers["location"])
        assert 'id="entry-status">PENDING<' in after.text and "customer called" in after.text
        adjusted = await client.post(
            f"/admin/payments/{entry['entry_id']}/adjustments",
            data={"csrf_token": csrf, "amount": "-25.50", "currency": "SAR", "reason": "goodwill"},
            headers={"HX-Request": "true"},
        )
        assert adjusted.status_code == 204 and adjusted.headers["hx-location"].startswith(
            "/admin/payments/"
        )
        children = ledger_entries(ledger_server.url, parent_entry_id=entry["entry_id"])
        assert [(c["entry_type"], c["amount_minor"]) for c in children] == [("ADJUSTMENT", -2550)]
        refreshed = await client.get(f"/admin/payments/{entry['entry_id']}")
        assert children[0]["invoice_number"] in refreshed.text


async def test_a_refused_transition_shows_the_ledgers_problem(
    console_app, make_user, ledger_server
):
    entry = create_entries(ledger_server.url, 1)[0]
    user = await make_user(Role.ADMIN)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        csrf = csrf_of((await client.get(f"/admin/payments/{entry['entry_id']}")).text)
        forged = await client.post(
            f"/admin/payments/{entry['entry_id']}/status",
            data={"csrf_token": csrf, "status": "PAID"},
            headers={"HX-Request": "true"},
        )
        assert forged.status_code == 403
        assert "Forbidden" in forged.text and "PAID" in forged.text
        with httpx.Client(base_url=ledger_server.url, headers=ledger_admin_headers()) as http:
            http.post(
                f"/api/ledger/entries/{entry['entry_id']}/status", json={"status": "VOID"}
            ).raise_for_status()
        stale = await client.post(
            f"/admin/payments/{entry['entry_id']}/status",
            data={"csrf_token": csrf, "status": "PENDING"},
        )
        assert stale.status_code == 409
        assert 'id="page-problem"' in stale.text and "VOID" in stale.text


async def test_a_viewer_sees_no_write_control_and_a_forged_post_is_refused_twice(
    console_app, make_user, ledger_server
):
    entry = create_entries(ledger_server.url, 1)[0]
    viewer = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        await sign_in(client, viewer.email, PASSWORD)
        page = await client.get(f"/admin/payments/{entry['entry_id']}")
        assert page.status_code == 200
        assert 'id="actions"' not in page.text and '<select name="status"' not in page.text
        forged = await client.post(
            f"/admin/payments/{entry['entry_id']}/status",
            data={"csrf_token": csrf_of(page.text), "status": "VOID"},
        )
        assert forged.status_code == 403 and "viewer cannot change entries" in forged.text
    # The same request straight to the ledger with the token the console mints for the viewer.
    token = console_app.state.token_issuer.issue(viewer)
    with httpx.Client(base_url=ledger_server.url) as http:
        direct = http.post(f"/api/ledger/entries/{entry['entry_id']}/status",
                           json={"status": "VOID"}, headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert direct.status_code == 403
        unchanged = http.get(
            f"/api/ledger/entries/{entry['entry_id']}", headers=ledger_admin_headers()
        )
    assert unchanged.json()["status"] == "DUE"


async def test_the_console_calls_the_ledger_as_the_signed_in_user(
    console_app, make_user, ledger_server
):
    entry = create_entries(ledger_server.url, 1)[0]
    user = await make_user(Role.FINANCE)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        csrf = csrf_of((await client.get(f"/admin/payments/{entry['entry_id']}")).text)
        await client.post(
            f"/admin/payments/{entry['entry_id']}/status",
            data={"csrf_token": csrf, "status": "VOID"},
        )
    audit = httpx.get(f"{ledger_server.url}/api/ledger/entries/{entry['entry_id']}/audit",
                      headers={"Authorization": "Bearer " + mint_token("t", ["viewer"], local_dev_signer())}).json()  # fmt: skip
    assert audit["data"][-1]["actor"] == user.email


async def test_free_text_and_sorting_apply_to_the_page_its_totals_and_its_csv(
    console_settings, make_user, ledger_server
):
    building = f"bld-{uuid.uuid4().hex[:8]}"
    plain = create_entries(ledger_server.url, 4, building_id=building)
    tenant = create_entries(ledger_server.url, 3, building_id=building,
                            metadata={"tenant": "Fatima Al-Harbi"})  # fmt: skip
    app = create_app(console_settings.model_copy(update={"page_size": 2}))
    user = await make_user(Role.VIEWER)
    async with console_client(app) as client:
        await sign_in(client, user.email, PASSWORD)
        found = await client.get("/admin/payments", params={"building_id": building, "q": "fatima"})
        assert invoice_numbers(found.text) == [e["invoice_number"] for e in tenant[:2]]
        assert re.search(r'id="total-count">3<', found.text)
        nxt = re.search(r'id="next-page" href="([^"]+)"', found.text).group(1).replace("&amp;", "&")
        assert invoice_numbers((await client.get(nxt)).text) == [tenant[2]["invoice_number"]]
        # descending: ties too (newest first; the ledger breaks ties by creation order
        # in the direction of the sort, so one index serves both directions)
        by_amount = sorted(plain + tenant, key=lambda e: (e["amount_minor"], e["invoice_number"]),
                           reverse=True)  # fmt: skip
        query = {"building_id": building, "sort": "amount_minor", "dir": "desc"}
        page = await client.get("/admin/payments", params=query)
        assert invoice_numbers(page.text) == [e["invoice_number"] for e in by_amount[:2]]
        exported = await client.get("/admin/payments.csv", params=query)
        rows = list(csv.reader(io.StringIO(exported.text)))[1:]
        assert [r[0] for r in rows] == [e["entry_id"] for e in by_amount]
        searched = await client.get(
            "/admin/payments.csv", params={"building_id": building, "q": "FATIMA"}
        )
        assert [r[0] for r in list(csv.reader(io.StringIO(searched.text)))[1:]] == [
            e["entry_id"] for e in tenant
        ]


async def test_a_page_is_one_ledger_page_and_its_totals_never_the_whole_set(
    console_settings, make_user, ledger_server, monkeypatch
):
    building = f"bld-{uuid.uuid4().hex[:8]}"
    create_entries(ledger_server.url, 5, building_id=building)
    calls = []
    original = LedgerClient.request

    async def counted(self, method, path, token, *, params=None, json=None):
        calls.append((path, dict(params or {})))
        return await original(self, method, path, token, params=params, json=json)

    monkeypatch.setattr(LedgerClient, "request", counted)
    app = create_app(console_settings.model_copy(update={"page_size": 2}))
    user = await make_user(Role.VIEWER)
    async with console_client(app) as client:
        await sign_in(client, user.email, PASSWORD)
        calls.clear()
        query = {"building_id": building, "q": "bld", "sort": "due_date", "dir": "desc"}
        page = await client.get("/admin/payments", params=query)
        assert page.status_code == 200 and re.search(r'id="total-count">5<', page.text)
    assert sorted(path for path, _ in calls) == [
        "/api/ledger/entries",
        "/api/ledger/entries/totals",
    ]
    listing = next(p for path, p in calls if path == "/api/ledger/entries")
    assert listing == {"building_id": building, "q": "bld", "sort": "due_date",
                       "order": "desc", "page_size": "2"}  # fmt: skip
