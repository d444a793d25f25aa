"""/admin/buildings, a building's page, the unit finance card and an entry's live
status over the real registry and ledger (the console renders their answers)."""

import html
import re

import httpx
import pytest

from folio.console.domain.buildings import KPIS, kpi_cards
from folio.console.domain.payments import format_money
from folio.console.domain.users import Role
from folio.console.testing import (
    PASSWORD,
    console_client,
    ledger_admin_headers,
    make_portfolio,
    pay_through_simulator,
    registry_get,
    sign_in,
    wait_for_read_model,
)
from folio.devstack.testing import eventually

pytestmark = pytest.mark.integration

_KPI = re.compile(
    r'data-kpi="(\w+)"><span class="label">[^<]*</span><span class="value">([^<]*)</span>'
)


def kpis_shown(page: str) -> dict[str, str]:
    section = page[page.index('id="kpis"') : page.index('id="occupancy"')]
    return {key: html.unescape(value) for key, value in _KPI.findall(section)}


def cells(page: str, table_id: str, attribute: str) -> dict[str, str]:
    table = page[page.index(f'id="{table_id}"') :]
    table = table[: table.index("</table>")]
    found = re.findall(rf'<td class="num[^"]*" {attribute}="([^"]+)">([^<]*)</td>', table)
    return {key: html.unescape(value) for key, value in found}


@pytest.fixture(scope="module")
def portfolio(registry_server, ledger_server, ledger_worker):
    made = make_portfolio(registry_server.url, ledger_server.url)
    wait_for_read_model(registry_server.url, made)
    return made


async def test_buildings_list_shows_each_building_and_the_totals_per_currency(
    console_app, make_user, portfolio, registry_server
):
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        page = await client.get("/admin/buildings")
    assert page.status_code == 200, page.text
    api = registry_get(registry_server.url, "/kpis/portfolio")
    for building in (portfolio["building"], portfolio["kuwait"]):
        [k] = [b for b in api["buildings"] if b["building_id"] == building["id"]]
        row = page.text[page.text.index(f'data-building-id="{building["id"]}"') :]
        row = row[: row.index("</tr>")]
        assert building["code"] in row and building["name"] in row
        shown = dict(re.findall(r'data-kpi="(\w+)">([^<]*)<', row))
        assert shown["par_minor"] == format_money(k["par_minor"], k["currency"])
        assert shown["outstanding_minor"] == format_money(k["outstanding_minor"], k["currency"])
        assert shown["total_units"] == str(k["total_units"])
    for roll_up in api["portfolio"]:  # one line per currency, never summed across
        block = page.text[page.text.index(f'id="portfolio-{roll_up["currency"]}"') :]
        block = block[: block.index("</tr>")]
        shown = {k: html.unescape(v) for k, v in re.findall(r'data-kpi="(\w+)">([^<]*)<', block)}
        for card in kpi_cards(roll_up):
            assert shown[card.key] == card.value
    # The Kuwaiti building's PAR in fils: 350.500 KWD x 12 = 4,206.000 KWD.
    assert "4,206.000 KWD" in page.text
    assert page.text.count('method="post"') == 1  # sign-out only: no write control


async def test_a_buildings_page_shows_the_seeds_11_kpis_as_the_api_computes_them(
    console_app, make_user, portfolio, registry_server
):
    building = portfolio["building"]
    user = await make_user(Role.FINANCE)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        today = await client.get(f"/admin/buildings/{building['id']}")
        past = await client.get(
            f"/admin/buildings/{building['id']}", params={"as_of": "2026-01-31"}
        )
    assert today.status_code == 200, today.text
    api = registry_get(registry_server.url, f"/kpis/buildings/{building['id']}")
    shown = kpis_shown(today.text)
    assert list(shown) == [key for key, *_ in KPIS]  # all 11, in the seed's order
    assert shown == {card.key: card.value for card in kpi_cards(api)}
    assert f'value="{api["as_of"]}"' in today.text  # the form: today in Riyadh
    # 6 units: 104 blocked, 105 maintenance -> 4 rentable; 101 occupied; 103 UNKNOWN.
    assert shown["occupancy_rate_percent"] == "25.00 %"
    assert shown["unknown_units"] == "1"
    assert shown["par_minor"] == format_money(api["par_minor"], "SAR") == "307,200.00 SAR"
    assert past.status_code == 200
    assert kpis_shown(past.text) == {
        card.key: card.value
        for card in kpi_cards(
            registry_get(
                registry_server.url, f"/kpis/buildings/{building['id']}", as_of="2026-01-31"
            )
        )
    }
    assert 'value="2026-01-31"' in past.text


async def test_a_buildings_page_breaks_occupancy_down_and_says_why_units_are_unknown(
    console_app, make_user, portfolio, registry_server
):
    building, units = portfolio["building"], portfolio["units"]
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        page = (await client.get(f"/admin/buildings/{building['id']}")).text
    api = registry_get(registry_server.url, f"/buildings/{building['id']}/occupancy")
    rows = dict(re.findall(r'<tr data-status="(\w+)"><td>.*?</td><td class="num">(\d+)</td>', page))
    assert rows == {status: str(count) for status, count in api["counts"].items()}
    assert rows == {"OCCUPIED": "1", "VACANT": "2", "BLOCKED": "1", "MAINTENANCE": "1",
                    "UNKNOWN": "1"}  # fmt: skip
    unknown = page[page.index('id="unknown-units"') :]
    assert f'data-unit-id="{units["103"]["id"]}"' in unknown
    assert "has not been fetched yet" in unknown
    assert html.escape(api["unknown_units"][0]["reason"], quote=False) in unknown


async def test_collections_by_month_chart_shows_the_registrys_twelve_months(
    console_app, make_user, portfolio, registry_server, payment_simulator
):
    building, paid = portfolio["building"], portfolio["entries"]["to_pay"]
    pay_through_simulator(payment_simulator.url, paid)
    month = portfolio["today"].replace(day=1).isoformat()

    def collected_this_month() -> bool:
        api = registry_get(registry_server.url, f"/kpis/buildings/{building['id']}/collections")
        return api["months"][-1]["collected_minor"] == 200_000

    await eventually(collected_this_month, timeout=60)
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        page = (await client.get(f"/admin/buildings/{building['id']}")).text
    api = registry_get(registry_server.url, f"/kpis/buildings/{building['id']}/collections")
    shown = cells(page, "collections-table", "data-month")
    assert list(shown) == [m["month"] for m in api["months"]]
    assert len(shown) == 12
    assert shown == {m["month"]: format_money(m["collected_minor"], "SAR") for m in api["months"]}
    assert shown[month] == "2,000.00 SAR"
    bars = re.findall(
        r'<g class="bar[^"]*" data-month="([\d-]+)" data-amount-minor="(-?\d+)"', page
    )
    assert bars[-1] == (month, "200000") and len(bars) == 12
    assert "<script" not in page.split("</head>")[1]  # no inline script: the CSP forbids it


async def test_building_page_refusals(console_app, make_user, portfolio):
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        url = f"/admin/buildings/{portfolio['building']['id']}"
        bad_date = await client.get(url, params={"as_of": "2026-02-30"})
        assert bad_date.status_code == 400 and "not a date" in bad_date.text
        outside = await client.get(url, params={"as_of": "1899-12-31"})
        assert outside.status_code == 422  # the registry's refusal, shown as its message
        assert "1900-01-01" in outside.text
        assert (await client.get("/admin/buildings/not-a-uuid")).status_code == 404
        missing = await client.get("/admin/buildings/00000000-0000-4000-8000-000000000000")
        assert missing.status_code == 404
        assert (await client.get("/admin/units/42")).status_code == 404
    async with console_client(console_app) as anonymous:
        redirect = await anonymous.get(url)
        assert redirect.status_code == 303 and "/sign-in" in redirect.headers["location"]


async def test_the_unit_finance_card_shows_the_registrys_card(
    console_app, make_user, portfolio, registry_server, ledger_server
):
    unit = portfolio["units"]["101"]
    entries = portfolio["entries"]
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        page = (await client.get(f"/admin/units/{unit['id']}")).text
        mapped = (await client.get(f"/admin/units/{portfolio['units']['103']['id']}")).text
    card = registry_get(registry_server.url, f"/units/{unit['id']}/finance-card")
    assert "Apartment 101" in page and 'id="unit-status">AVAILABLE<' in page
    assert re.search(r'id="source-of-truth">LOCAL', page)
    assert 'id="occupancy-status">OCCUPIED<' in page
    assert page.count('class="cell ') == 30  # the last 30 nights
    strip = dict(re.findall(r'data-day="([\d-]+)" data-status="(\w+)"', page))
    today = portfolio["today"]
    assert strip[today.isoformat()] == "NONE"  # tonight is not snapshotted yet
    from datetime import timedelta

    assert strip[(today - timedelta(days=1)).isoformat()] == "OCCUPIED"
    [sar] = card["balances"]
    balances = dict(re.findall(r'data-kpi="(\w+)">([^<]*)<', page[page.index('id="balances"') :]))
    assert balances["outstanding_minor"] == format_money(sar["outstanding_minor"], "SAR")
    assert balances["collected_minor"] == format_money(sar["collected_minor"], "SAR")
    assert balances["overdue_count"] == str(sar["overdue_count"]) == "1"
    rows = re.findall(r'<tr data-entry-id="([^"]+)"><td><a href="/admin/payments/\1"', page)
    assert sorted(rows) == sorted(e["entry_id"] for e in card["entries"])
    overdue_row = page[page.index(f'data-entry-id="{entries["overdue"]["entry_id"]}"') :]
    assert "OVERDUE" in overdue_row[: overdue_row.index("</tr>")]
    assert f'data-booking-id="{portfolio["booking"]["id"]}"' in page and "Noura Al-Harbi" in page
    # The Beds24-controlled unit: its mapping, BEDS24 as the source, UNKNOWN and why.
    assert re.search(r'id="source-of-truth">BEDS24', mapped)
    assert 'id="occupancy-status">UNKNOWN<' in mapped and 'id="occupancy-reason"' in mapped
    assert page.count('method="post"') == 1  # sign-out only


async def test_an_entrys_live_status_polls_until_settled(console_app, make_user, portfolio,
                                                         ledger_server):  # fmt: skip
    entry = portfolio["entries"]["upcoming"]
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        page = (await client.get(f"/admin/payments/{entry['entry_id']}")).text
        assert f'hx-get="/admin/payments/{entry["entry_id"]}/live" hx-trigger="every 2s"' in page
        live = await client.get(
            f"/admin/payments/{entry['entry_id']}/live", headers={"HX-Request": "true"}
        )
        assert live.status_code == 200 and 'hx-trigger="every 2s"' in live.text
        assert 'id="entry-outstanding" hx-swap-oob="true"' in live.text
        with httpx.Client(base_url=ledger_server.url, headers=ledger_admin_headers()) as http:
            http.post(f"/api/ledger/entries/{entry['entry_id']}/status",
                      json={"status": "VOID"}).raise_for_status()  # fmt: skip
        settled = await client.get(f"/admin/payments/{entry['entry_id']}/live")
        assert settled.status_code == 286  # htmx ends the poll
        assert "hx-trigger" not in settled.text and 'id="entry-status">VOID<' in settled.text
        assert 'id="live-notice"' in settled.text
        reloaded = (await client.get(f"/admin/payments/{entry['entry_id']}")).text
        assert "hx-trigger" not in reloaded
        missing = await client.get("/admin/payments/no-such-entry/live")
        assert missing.status_code == 204  # nothing swapped; the page stays as it was


async def test_a_status_poll_does_not_keep_an_idle_session_alive(
    console_app, make_user, portfolio, uow_factory
):
    from datetime import timedelta

    import sqlalchemy as sa

    from folio.console.adapters.tables import sessions
    from folio.console.service.accounts import hash_token

    entry = portfolio["entries"]["overdue"]
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        token_hash = hash_token(client.cookies["folio_session"])

        async def last_seen_moved_back():
            async with uow_factory() as uow:
                row = sessions.c.token_hash == token_hash
                seen = await uow.session.execute(sa.select(sessions.c.last_seen_at).where(row))
                earlier = seen.scalar_one() - timedelta(minutes=5)
                await uow.session.execute(
                    sa.update(sessions).where(row).values(last_seen_at=earlier)
                )
                await uow.commit()
                return earlier

        async def last_seen():
            async with uow_factory() as uow:
                query = sa.select(sessions.c.last_seen_at).where(
                    sessions.c.token_hash == token_hash
                )
                return (await uow.session.execute(query)).scalar_one()

        earlier = await last_seen_moved_back()
        poll = await client.get(f"/admin/payments/{entry['entry_id']}/live")
        assert poll.status_code == 200
        assert await last_seen() == earlier  # the page's own poll is not activity
        assert (await client.get("/admin/buildings")).status_code == 200
        assert await last_seen() > earlier  # the user's request is
