"""The console in Debian's Chromium: sign-in, payments, an entry's refusal, roles,
sign-out, CSRF and the throttle, against the real console and ledger."""

import csv
import io

import httpx
import pytest

from folio.console.domain.payments import CSV_COLUMNS, csv_row
from folio.console.domain.users import Role
from folio.console.testing import (
    PASSWORD,
    browser_sign_in,
    create_entries,
    ledger_admin_headers,
    ledger_entries,
)

pytestmark = pytest.mark.integration


def watch_console(page) -> list[str]:
    """Errors the page logs (a CSP violation, a script failing)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def accept_dialogs(page) -> None:
    async def accept(dialog):
        await dialog.accept()

    page.on("dialog", accept)


async def test_sign_in_lands_on_payments_with_htmx_running_under_the_csp(page, make_user):
    user = await make_user(Role.FINANCE)
    errors = watch_console(page)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    assert await page.text_content(".who .email") == user.email
    assert await page.evaluate("typeof window.htmx") == "object"
    assert errors == []


async def test_search_filter_and_export_the_filtered_set_as_csv(page, make_user, ledger_server):
    entries = create_entries(ledger_server.url, 6)
    building = entries[0]["building_id"]
    with httpx.Client(base_url=ledger_server.url, headers=ledger_admin_headers()) as http:
        for entry in entries[:2]:
            http.post(f"/api/ledger/entries/{entry['entry_id']}/status",
                      json={"status": "PENDING"}).raise_for_status()  # fmt: skip
    user = await make_user(Role.VIEWER)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    await page.fill("input[name=building_id]", building)
    await page.select_option("select[name=status]", "DUE")
    await page.click("#apply-filters")
    await page.wait_for_function(
        "document.querySelectorAll('#payments-table tbody tr[data-entry-id]').length === 4"
    )
    shown = await page.eval_on_selector_all(
        "#payments-table tbody tr[data-entry-id]", "rows => rows.map(r => r.dataset.entryId)"
    )
    expected = ledger_entries(ledger_server.url, building_id=building, status="DUE")
    assert shown == [e["entry_id"] for e in expected]
    assert await page.text_content("#total-count") == "4"
    assert "status=DUE" in page.url  # the filtered view is a link
    async with page.expect_download() as download_info:
        await page.click("#export-csv")
    download = await download_info.value
    text = open(await download.path(), encoding="utf-8").read()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1:] == [csv_row(e) for e in expected]


async def test_a_forbidden_transition_shows_the_ledgers_refusal(page, make_user, ledger_server):
    entry = create_entries(ledger_server.url, 1)[0]
    user = await make_user(Role.FINANCE)
    accept_dialogs(page)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    await page.goto(f"/admin/payments/{entry['entry_id']}")
    # Meanwhile someone voids it: the page still offers DUE's transitions.
    with httpx.Client(base_url=ledger_server.url, headers=ledger_admin_headers()) as http:
        http.post(f"/api/ledger/entries/{entry['entry_id']}/status",
                  json={"status": "VOID"}).raise_for_status()  # fmt: skip
    await page.select_option("#status-form select[name=status]", "PENDING")
    await page.click("#status-form button[type=submit]")
    problem = page.locator("#action-result .problem")
    await problem.wait_for()
    text = await problem.text_content()
    assert "Conflict" in text and "VOID" in text and "PENDING" in text
    # The page did not pretend the refused PENDING (its live badge may show VOID by now).
    assert await page.text_content("#entry-status") in ("DUE", "VOID")


async def test_a_confirmed_status_change_shows_the_new_status(page, make_user, ledger_server):
    entry = create_entries(ledger_server.url, 1)[0]
    user = await make_user(Role.FINANCE)
    questions = []

    async def accept(dialog):
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    await page.goto(f"/admin/payments/{entry['entry_id']}")
    await page.select_option("#status-form select[name=status]", "VOID")
    await page.fill("#status-form input[name=reason]", "duplicate invoice")
    await page.click("#status-form button[type=submit]")
    await page.wait_for_selector("#notice")
    assert await page.text_content("#entry-status") == "VOID"
    assert questions == [f"Change the status of {entry['invoice_number']}?"]
    assert await page.locator("#status-form").count() == 0  # VOID is terminal
    with httpx.Client(base_url=ledger_server.url, headers=ledger_admin_headers()) as http:
        assert http.get(f"/api/ledger/entries/{entry['entry_id']}").json()["status"] == "VOID"


async def test_a_viewer_sees_no_write_control_and_a_forged_post_is_refused(
    page, make_user, ledger_server
):
    entry = create_entries(ledger_server.url, 1)[0]
    user = await make_user(Role.VIEWER)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    await page.goto(f"/admin/payments/{entry['entry_id']}")
    assert await page.locator("#actions").count() == 0
    assert await page.locator("form[method=post]").count() == 1  # sign-out only
    csrf = await page.get_attribute("meta[name=csrf-token]", "content")
    forged = await page.request.post(
        f"/admin/payments/{entry['entry_id']}/status",
        form={"csrf_token": csrf, "status": "VOID"},
    )
    assert forged.status == 403
    with httpx.Client(base_url=ledger_server.url, headers=ledger_admin_headers()) as http:
        assert http.get(f"/api/ledger/entries/{entry['entry_id']}").json()["status"] == "DUE"


async def test_sign_out_ends_the_session(page, browser, console_server, make_user):
    user = await make_user(Role.FINANCE)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    cookies = await page.context.cookies()
    await page.click("#sign-out")
    await page.wait_for_url("**/sign-in")
    await page.goto("/admin/payments")
    assert "/sign-in" in page.url
    # The old cookie, put back into a fresh browser, opens nothing: the server ended it.
    other = await browser.new_context(base_url=console_server.url)
    try:
        await other.add_cookies([c for c in cookies if c["name"] == "folio_session"])
        replay = await other.new_page()
        await replay.goto("/admin/payments")
        assert "/sign-in" in replay.url
    finally:
        await other.close()


async def test_a_post_without_the_csrf_token_is_refused(page, make_user):
    user = await make_user(Role.ADMIN)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    refused = await page.request.post("/sign-out", form={})
    assert refused.status == 403
    await page.goto("/admin/payments")
    assert "/admin/payments" in page.url  # still signed in


async def test_the_tenth_wrong_password_is_refused_with_429(page, make_user):
    user = await make_user(Role.VIEWER)
    statuses = []
    for attempt in range(10):
        await page.goto("/sign-in")
        await page.fill("input[name=email]", user.email)
        await page.fill("input[name=password]", f"wrong password {attempt}")
        async with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/sign-in")
        ) as answer:
            await page.click("button[type=submit]")
        statuses.append((await answer.value).status)
    assert statuses == [401] * 9 + [429]
    assert "Too many failed sign-ins" in await page.text_content("#sign-in-error")
