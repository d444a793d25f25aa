"""The buildings pages, the unit finance card and an entry turning PAID while the user
watches, in Debian's Chromium against the real console, registry, ledger, webhook
intake and payment simulator (events over the session's real broker).

Set FOLIO_SCREENSHOTS_DIR to keep a 1280x800 screenshot of each page there."""

import os
from pathlib import Path

import pytest

from folio.console.domain.buildings import KPIS, kpi_cards
from folio.console.domain.payments import format_money
from folio.console.domain.users import Role
from folio.console.testing import (
    PASSWORD,
    browser_sign_in,
    make_portfolio,
    pay_through_simulator,
    registry_get,
    wait_for,
    wait_for_read_model,
)

pytestmark = pytest.mark.integration

SCREENS = os.environ.get("FOLIO_SCREENSHOTS_DIR")


async def screenshot(page, name: str, full_page: bool = False) -> None:
    if SCREENS:
        Path(SCREENS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENS) / f"{name}.png"), full_page=full_page)


def watch_console(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


@pytest.fixture(scope="module")
def portfolio(registry_server, ledger_server, payment_simulator):
    """The portfolio with one invoice already paid (Moyasar), settled in the registry."""
    made = make_portfolio(registry_server.url, ledger_server.url)
    wait_for_read_model(registry_server.url, made)
    pay_through_simulator(payment_simulator.url, made["entries"]["to_pay"])
    building = made["building"]["id"]

    def collected() -> bool:
        """the registry counts the payment in this month's collections"""
        months = registry_get(registry_server.url, f"/kpis/buildings/{building}/collections")
        return months["months"][-1]["collected_minor"] == made["entries"]["to_pay"]["amount_minor"]

    wait_for(collected)
    return made


async def shown_kpis(page) -> dict[str, str]:
    return await page.eval_on_selector_all(
        "#kpis .kpi",
        "cards => Object.fromEntries(cards.map(c => [c.dataset.kpi,"
        " c.querySelector('.value').textContent]))",
    )


async def test_buildings_list_and_a_buildings_kpis_match_the_api(
    page, make_user, portfolio, registry_server
):
    building = portfolio["building"]
    errors = watch_console(page)
    user = await make_user(Role.VIEWER)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    await page.click("#nav-buildings")
    await page.wait_for_url("**/admin/buildings")
    row = page.locator(f'#buildings-table tr[data-building-id="{building["id"]}"]')
    api = registry_get(registry_server.url, "/kpis/portfolio")
    [k] = [b for b in api["buildings"] if b["building_id"] == building["id"]]
    assert await row.locator('[data-kpi="par_minor"]').text_content() == format_money(
        k["par_minor"], "SAR"
    )
    assert await row.locator('[data-kpi="outstanding_minor"]').text_content() == format_money(
        k["outstanding_minor"], "SAR"
    )
    for roll_up in api["portfolio"]:
        totals = page.locator(f"#portfolio-{roll_up['currency']}")
        for card in kpi_cards(roll_up):
            assert await totals.locator(f'[data-kpi="{card.key}"]').text_content() == card.value
    await screenshot(page, "buildings")
    await row.locator("a.building-link").click()
    await page.wait_for_url(f"**/admin/buildings/{building['id']}")
    today = registry_get(registry_server.url, f"/kpis/buildings/{building['id']}")
    shown = await shown_kpis(page)
    assert list(shown) == [key for key, *_ in KPIS]  # the seed's 11, in its order
    assert shown == {c.key: c.value for c in kpi_cards(today)}
    assert await page.input_value("#as-of") == today["as_of"]
    assert await page.locator("#unknown-units li").count() == 1
    assert shown["collected_mtd_minor"] == "2,000.00 SAR"  # the invoice the fixture paid
    bars = await page.eval_on_selector_all(
        "#collections svg g.bar", "bars => bars.map(b => Number(b.dataset.amountMinor))"
    )
    months = registry_get(registry_server.url, f"/kpis/buildings/{building['id']}/collections")
    assert bars == [m["collected_minor"] for m in months["months"]] and len(bars) == 12
    await screenshot(page, "building")
    await screenshot(page, "building-full", full_page=True)
    # Another date through the form: the figures are the API's for that date.
    await page.fill("#as-of", "2026-01-31")
    await page.click("#show-as-of")
    await page.wait_for_url("**as_of=2026-01-31")
    past = registry_get(
        registry_server.url, f"/kpis/buildings/{building['id']}", as_of="2026-01-31"
    )
    assert await shown_kpis(page) == {c.key: c.value for c in kpi_cards(past)}
    assert await page.text_content("#kpis-as-of") == "2026-01-31"
    assert await page.locator("form[method=post]").count() == 1  # sign-out only
    assert errors == []


async def test_a_unit_finance_card_matches_the_api(page, make_user, portfolio, registry_server):
    building, unit = portfolio["building"], portfolio["units"]["101"]
    errors = watch_console(page)
    user = await make_user(Role.FINANCE)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    await page.goto(f"/admin/buildings/{building['id']}")
    await page.click(f'#units-table tr[data-unit-id="{unit["id"]}"] a.unit-link')
    await page.wait_for_url(f"**/admin/units/{unit['id']}")
    card = registry_get(registry_server.url, f"/units/{unit['id']}/finance-card")
    [sar] = card["balances"]
    balances = page.locator("#balances")
    assert await balances.locator('[data-kpi="outstanding_minor"]').text_content() == (
        format_money(sar["outstanding_minor"], "SAR")
    )
    assert await balances.locator('[data-kpi="overdue_count"]').text_content() == str(
        sar["overdue_count"]
    )
    assert await page.text_content("#occupancy-status") == card["occupancy"]["daily_status"]
    assert (await page.text_content("#source-of-truth")).startswith("LOCAL")
    shown = await page.eval_on_selector_all(
        "#receivables tbody tr[data-entry-id]",
        "rows => rows.map(r => [r.dataset.entryId,"
        " r.querySelector('[data-outstanding-minor]').textContent])",
    )
    assert sorted(shown) == sorted(
        [e["entry_id"], format_money(e["outstanding_minor"], e["currency"])]
        for e in card["entries"]
    )
    assert await page.locator("#snapshot-strip .cell").count() == 30
    assert (
        await page.locator(f'#bookings tr[data-booking-id="{portfolio["booking"]["id"]}"]').count()
        == 1
    )
    await screenshot(page, "unit")
    await screenshot(page, "unit-full", full_page=True)
    # A Beds24-controlled unit: BEDS24 is its source of truth; without fresh data it is
    # UNKNOWN, and the card says why (never a fallback to local bookings).
    beds24 = portfolio["units"]["103"]
    await page.goto(f"/admin/units/{beds24['id']}")
    assert await page.text_content("#source-of-truth") == "BEDS24"
    assert await page.text_content("#occupancy-status") == "UNKNOWN"
    reason = registry_get(registry_server.url, f"/units/{beds24['id']}/occupancy")["reason"]
    assert await page.text_content("#occupancy-reason") == reason
    await screenshot(page, "unit-beds24")
    await page.go_back()
    # A receivable links to its entry's page.
    overdue = portfolio["entries"]["overdue"]
    await page.click(f'#receivables tr[data-entry-id="{overdue["entry_id"]}"] a')
    await page.wait_for_url(f"**/admin/payments/{overdue['entry_id']}")
    assert await page.text_content("#entry-status") == "DUE"
    assert errors == []


async def test_an_invoice_paid_through_the_simulator_turns_paid_without_a_reload(
    page, make_user, portfolio, payment_simulator
):
    entry = portfolio["entries"]["upcoming"]
    errors = watch_console(page)
    user = await make_user(Role.VIEWER)
    await browser_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url("**/admin/payments")
    await page.goto(f"/admin/payments/{entry['entry_id']}")
    assert await page.text_content("#entry-status") == "DUE"
    await screenshot(page, "entry-due")
    # A mark a reload would erase: PAID must arrive in this very document.
    await page.evaluate("document.body.dataset.watched = 'yes'")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    pay_through_simulator(payment_simulator.url, entry, provider="tabby")
    await page.wait_for_selector("#entry-status.status-paid", timeout=60_000)
    assert await page.text_content("#entry-status") == "PAID"
    assert await page.evaluate("document.body.dataset.watched") == "yes"
    assert navigations == []
    assert await page.text_content("#entry-outstanding") == format_money(0, "SAR")
    assert await page.text_content("#entry-paid") == format_money(entry["amount_minor"], "SAR")
    assert "the provider's payment arrived" in await page.text_content("#live-notice")
    assert await page.get_attribute("#entry-live", "hx-trigger") is None  # polling ended
    await screenshot(page, "entry-paid")
    assert errors == []
