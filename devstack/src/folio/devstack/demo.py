"""`make demo`: a realistic portfolio loaded through the public APIs and the simulators.

Three buildings in two time zones (Riyadh SAR, Dubai AED), 60 units of every status
(some Beds24-controlled), a year of leases with monthly RENT invoices and deposits,
payments through Moyasar, Tabby and Tamara as their simulators deliver them (most on
time, some partial, some refunded, some left overdue), 30 days of occupancy snapshots,
and a mortgage linked to a Rotessa schedule with its history backfilled.

Everything goes through the gateway with an admin token and through the simulators'
own routes — never into a database — so what the demo shows is what the APIs do.

Idempotent by what is already there, not by memory: buildings by code, units by code,
a lease per unit, an invoice per (lease, month), a payment only for an invoice still
unpaid, a link only for a mortgage without one. A second run adds nothing. The plan
is pure and seeded (:func:`plan_portfolio`), so every run plans the same portfolio.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from folio.shared.contracts.money import minor_to_decimal

DEMO_SEED = 2026
#: Beds24 properties of the Beds24-controlled units, one each (the seed's beds24_map is
#: one mapping per property); the simulator is seeded with them.
BEDS24_PROPERTY_BASE = 41_000
#: The demo's mortgage borrower, a Rotessa customer with two years of history.
DEMO_BORROWER = "Amira Haddad-Chen"


@dataclass(frozen=True)
class PlannedPayment:
    provider: str  # moyasar | tabby | tamara
    amount_minor: int
    paid_on: date  # building-local day it was paid
    refund_minor: int = 0


@dataclass(frozen=True)
class PlannedInvoice:
    entry_type: str
    amount_minor: int
    due_date: date
    description: str
    payment: PlannedPayment | None


@dataclass(frozen=True)
class PlannedLease:
    guest_name: str
    start_date: date
    end_date: date
    invoices: tuple[PlannedInvoice, ...]


@dataclass(frozen=True)
class PlannedUnit:
    code: str
    name: str
    status: str
    rent_minor: int
    beds24_room: int | None = None  # Beds24-controlled when set
    lease: PlannedLease | None = None


@dataclass(frozen=True)
class PlannedBuilding:
    code: str
    name: str
    city: str
    timezone: str
    currency: str
    units: tuple[PlannedUnit, ...]


@dataclass
class DemoReport:
    created: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        self.created[what] = self.created.get(what, 0) + n

    @property
    def nothing_added(self) -> bool:
        return not any(self.created.values())


_BUILDINGS = (
    ("DEMO-RYD-OLAYA", "Olaya Towers", "Riyadh", "Asia/Riyadh", "SAR", 24, 0),
    ("DEMO-JED-CORNICHE", "Corniche Residences", "Jeddah", "Asia/Riyadh", "SAR", 20, 8),
    ("DEMO-DXB-MARINA", "Marina Heights", "Dubai", "Asia/Dubai", "AED", 16, 0),
)
_FIRST = ("Noura", "Faisal", "Huda", "Omar", "Layla", "Khalid", "Sara", "Yousef", "Mona",
          "Tariq", "Reem", "Hassan", "Dana", "Ali", "Lina", "Saad", "Maha", "Ziad")  # fmt: skip
_LAST = ("Al-Qahtani", "Al-Harbi", "Al-Otaibi", "Haddad", "Nasser", "Al-Zahrani",
         "Saleh", "Mansour", "Al-Shehri", "Karim", "Al-Amri", "Farouk")  # fmt: skip


def _month_start(day: date, months_back: int) -> date:
    month = day.month - 1 - months_back
    return date(day.year + month // 12, month % 12 + 1, 1)


def _plan_lease(rng: random.Random, today: date, rent: int, unit_code: str) -> PlannedLease:
    start = _month_start(today, rng.randint(2, 11))
    end = date(start.year + 1, start.month, 1)  # a year's lease; check-out day
    invoices: list[PlannedInvoice] = []
    deposit_paid = start + timedelta(days=rng.randint(0, 3))
    invoices.append(PlannedInvoice(
        "DEPOSIT", rent, start, f"Security deposit — {unit_code}",
        PlannedPayment("moyasar", rent, min(deposit_paid, today))))  # fmt: skip
    month = start
    while month <= today:
        label = f"Rent {month:%b %Y} — {unit_code}"
        current = month.year == today.year and month.month == today.month
        roll = rng.random()
        payment: PlannedPayment | None
        if current:
            # this month: half paid already, the rest still due (Tamara dates on receipt)
            provider = rng.choice(("moyasar", "tabby", "tamara"))
            payment = PlannedPayment(provider, rent, today) if roll < 0.5 else None
        elif roll < 0.08:
            payment = None  # overdue
        elif roll < 0.14:
            payment = PlannedPayment("moyasar", rent // 2, month + timedelta(days=3))  # partial
        else:
            provider = "tabby" if rng.random() < 0.3 else "moyasar"
            paid_on = month + timedelta(days=rng.randint(-3, 6))
            refund = rent // 10 if rng.random() < 0.04 else 0  # a goodwill refund
            payment = PlannedPayment(provider, rent, min(paid_on, today), refund)
        invoices.append(PlannedInvoice("RENT", rent, month, label, payment))
        month = _month_start(month, -1)
    if month < end:  # next month's rent, issued ahead: due, not yet overdue
        invoices.append(
            PlannedInvoice("RENT", rent, month, f"Rent {month:%b %Y} — {unit_code}", None)
        )
    guest = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    return PlannedLease(guest, start, end, tuple(invoices))


def plan_portfolio(today_of: dict[str, date], seed: int = DEMO_SEED) -> tuple[PlannedBuilding, ...]:
    """The demo portfolio; ``today_of`` maps a time zone to its local date today."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo, not a secret
    buildings = []
    for code, name, city, tz, currency, count, beds24_count in _BUILDINGS:
        today = today_of[tz]
        units = []
        for n in range(1, count + 1):
            floor, door = divmod(n - 1, 6)
            unit_code = f"{floor + 1}{door + 1:02d}"
            rent = rng.randint(70, 180) * 5_000  # 3,500.00 - 9,000.00
            if n == count:
                status = "MAINTENANCE"
            elif n == count - 1:
                status = "BLOCKED"
            else:
                status = "AVAILABLE"
            beds24_room = 7_100 + n if n <= beds24_count else None
            lease = None
            if status == "AVAILABLE" and beds24_room is None and rng.random() < 0.85:
                lease = _plan_lease(rng, today, rent, f"{code.split('-')[-1]}-{unit_code}")
            units.append(PlannedUnit(
                unit_code, f"Unit {unit_code}", status, rent, beds24_room, lease))  # fmt: skip
        buildings.append(PlannedBuilding(code, name, city, tz, currency, tuple(units)))
    return tuple(buildings)


def _major(amount_minor: int, currency: str) -> str:
    """What a payer types (e.g. ``3500.00``), exact."""
    return str(minor_to_decimal(amount_minor, currency))


def local_today(timezone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def _paid_at(day: date, timezone: str, now: datetime) -> datetime:
    """10:00 on ``day`` in the building's zone, never later than now."""
    moment = datetime.combine(day, time(10, 0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    return min(moment, now - timedelta(minutes=1))


class DemoLoader:
    """Loads the plan through the gateway (``/api/...``) and the simulators."""

    def __init__(self, http: httpx.AsyncClient, gateway: str, token: str,
                 simulators: dict[str, str], report: DemoReport) -> None:  # fmt: skip
        self.http = http
        self.gateway = gateway.rstrip("/")
        self.auth = {"Authorization": f"Bearer {token}"}
        self.sims = simulators
        self.report = report
        self.limit = asyncio.Semaphore(8)
        self.refunds: list[dict[str, Any]] = []  # sent once their payments are recorded

    async def call(self, method: str, path: str, *, ok=(200, 201, 202), **kwargs) -> Any:
        async with self.limit:
            response = await self.http.request(
                method, f"{self.gateway}{path}", headers=self.auth, **kwargs
            )
        if response.status_code not in ok:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    async def all_pages(self, path: str, params: dict[str, Any], cursor_param: str = "cursor",
                        size_param: str = "limit", size: int = 200) -> list[dict]:  # fmt: skip
        rows: list[dict] = []
        query = {**params, size_param: size}
        while True:
            page = await self.call("GET", path, params=query)
            rows.extend(page["data"])
            if not page.get("next_cursor"):
                return rows
            query[cursor_param] = page["next_cursor"]

    # --- registry -----------------------------------------------------------------

    async def building(self, plan: PlannedBuilding) -> dict:
        found = await self.call("GET", "/api/registry/buildings", params={"q": plan.code})
        for row in found["data"]:
            if row["code"] == plan.code:
                return row
        self.report.add("buildings")
        return await self.call("POST", "/api/registry/buildings", json={
            "code": plan.code, "name": plan.name, "timezone": plan.timezone,
            "currency": plan.currency, "city": plan.city})  # fmt: skip

    async def units(self, building: dict, plan: PlannedBuilding) -> dict[str, dict]:
        existing = {
            u["code"]: u
            for u in await self.all_pages(
                "/api/registry/units", {"building_id": building["id"]}, size=500
            )
        }

        async def one(unit: PlannedUnit) -> None:
            if unit.code not in existing:
                existing[unit.code] = await self.call("POST", "/api/registry/units", json={
                    "building_id": building["id"], "code": unit.code, "name": unit.name,
                    "status": unit.status, "monthly_base_rent_minor": unit.rent_minor,
                    "currency": plan.currency})  # fmt: skip
                self.report.add("units")
            if unit.beds24_room is not None:
                detail = await self.call("GET", f"/api/registry/units/{existing[unit.code]['id']}")
                if detail["beds24_map"] is None:
                    await self.call(
                        "PUT", f"/api/registry/units/{detail['id']}/beds24-map",
                        json={"beds24_property_id": BEDS24_PROPERTY_BASE + unit.beds24_room,
                              "beds24_room_id": unit.beds24_room, "source_of_truth": "BEDS24"},
                    )  # fmt: skip
                    self.report.add("beds24 mappings")

        await asyncio.gather(*(one(u) for u in plan.units))
        return existing

    async def lease(self, unit: dict, plan: PlannedUnit) -> dict | None:
        if plan.lease is None:
            return None
        bookings = await self.call("GET", "/api/registry/bookings", params={"unit_id": unit["id"]})
        for booking in bookings["data"]:
            if booking["guest_name"] == plan.lease.guest_name:
                return booking
        self.report.add("bookings")
        return await self.call("POST", "/api/registry/bookings", json={
            "unit_id": unit["id"], "guest_name": plan.lease.guest_name,
            "start_date": plan.lease.start_date.isoformat(),
            "end_date": plan.lease.end_date.isoformat(),
            "max_renewals": 2, "renewal_window_days": 30})  # fmt: skip

    # --- ledger and the payment simulators ----------------------------------------------

    async def invoices(self, building: dict, plan: PlannedBuilding, unit: dict,
                       booking: dict, lease: PlannedLease) -> list[tuple[dict, PlannedInvoice]]:  # fmt: skip
        existing = {
            (e["entry_type"], e["due_date"]): e
            for e in await self.all_pages(
                "/api/ledger/entries", {"booking_id": booking["id"]}, size_param="page_size"
            )
        }
        pairs = []
        for invoice in lease.invoices:
            entry = existing.get((invoice.entry_type, invoice.due_date.isoformat()))
            if entry is None:
                entry = await self.call("POST", "/api/ledger/entries", json={
                    "entry_type": invoice.entry_type, "amount_minor": invoice.amount_minor,
                    "currency": plan.currency, "due_date": invoice.due_date.isoformat(),
                    "building_id": building["id"], "unit_id": unit["id"],
                    "booking_id": booking["id"], "description": invoice.description})  # fmt: skip
                self.report.add("invoices")
            pairs.append((entry, invoice))
        return pairs

    async def pay(self, entry: dict, invoice: PlannedInvoice, plan: PlannedBuilding,
                  now: datetime) -> str | None:  # fmt: skip
        """Pays a planned payment of an invoice nobody has paid yet; the invoice number."""
        payment = invoice.payment
        if payment is None or entry["status"] != "DUE" or entry["paid_minor"] != 0:
            return None
        body: dict[str, Any] = {
            "provider": payment.provider,
            "invoice_number": entry["invoice_number"],
            "amount": _major(payment.amount_minor, plan.currency),
            "currency": plan.currency,
        }
        if payment.provider != "tamara":
            body["paid_at"] = _paid_at(payment.paid_on, plan.timezone, now).isoformat()
        async with self.limit:
            paid = await self.http.post(f"{self.sims['payments']}/pay", json=body)
        paid.raise_for_status()
        self.report.add(f"payments via {payment.provider}")
        if payment.refund_minor:
            refund = {
                "provider": payment.provider,
                "payment_id": paid.json()["payment_id"],
                "amount": _major(payment.refund_minor, plan.currency),
            }
            self.refunds.append(refund)
        return entry["invoice_number"]

    async def refund_when_paid(self) -> None:
        """A refund follows its payment once the ledger recorded it (the simulator then
        posts the provider's refund webhook)."""
        for refund in self.refunds:
            async with self.limit:
                done = await self.http.post(f"{self.sims['payments']}/refund", json=refund)
            done.raise_for_status()
            self.report.add("refunds")

    async def wait_until_recorded(self, invoice_numbers: list[str], within: float = 180) -> None:
        """Every payment sent is on its invoice (so a rerun sees it and pays nothing twice)."""
        pending = set(invoice_numbers)
        deadline = asyncio.get_running_loop().time() + within
        while pending:
            for number in list(pending)[:100]:
                page = await self.call(
                    "GET", "/api/ledger/entries", params={"invoice_number": number}
                )
                if page["data"] and page["data"][0]["paid_minor"] > 0:
                    pending.discard(number)
            if pending and asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{len(pending)} payments not recorded, e.g. {min(pending)}")
            if pending:
                await asyncio.sleep(0.5)

    # --- Beds24, occupancy, Rotessa ---------------------------------------------------

    async def beds24(self, buildings: list[tuple[dict, PlannedBuilding]], today: date) -> None:
        rooms = [u for _, plan in buildings for u in plan.units if u.beds24_room is not None]
        if not rooms:
            return
        rng = random.Random(DEMO_SEED)  # noqa: S311
        seed = {"rooms": [], "bookings": []}
        for i, unit in enumerate(rooms):
            property_id = BEDS24_PROPERTY_BASE + unit.beds24_room
            seed["rooms"].append({"roomId": unit.beds24_room, "propertyId": property_id,
                                  "name": unit.name})  # fmt: skip
            if i % 4 != 3:  # three in four rooms are let tonight
                arrival = today - timedelta(days=rng.randint(1, 20))
                seed["bookings"].append({
                    "id": 880_000 + unit.beds24_room, "propertyId": property_id,
                    "roomId": unit.beds24_room, "unitId": 1, "arrival": arrival.isoformat(),
                    "departure": (today + timedelta(days=rng.randint(2, 40))).isoformat()})  # fmt: skip
        async with self.limit:
            (await self.http.post(f"{self.sims['beds24']}/_sim/seed", json=seed)).raise_for_status()
        job = await self.call("POST", "/api/registry/beds24/sync", json={
            "start_date": (today - timedelta(days=30)).isoformat(),
            "end_date": (today + timedelta(days=30)).isoformat()})  # fmt: skip
        if not self.report.created.get("beds24 mappings"):
            return  # a rerun: the job refreshes in the background, nothing to wait for
        for _ in range(240):  # the first load waits, so the snapshots see Beds24's nights
            state = await self.call("GET", f"/api/registry/beds24/sync/{job['id']}")
            if state["status"] != "RUNNING":
                return
            await asyncio.sleep(0.5)

    async def snapshots(self, today: date) -> None:
        await self.call("POST", "/api/registry/occupancy/snapshots", json={
            "start_date": (today - timedelta(days=30)).isoformat(),
            "end_date": today.isoformat()})  # fmt: skip

    async def rotessa_schedules(self) -> list[dict]:
        """The unlinked schedules, after a refresh of rotessa-sync's catalogue of them
        (the listing reads the catalogue, not Rotessa): a borrower an earlier run added
        in Rotessa is found, not added twice."""
        asked = await self.call("POST", "/api/rotessa/schedules/refresh")
        for _ in range(240):
            listed = await self.call("GET", "/api/rotessa/schedules/unlinked")
            moved = listed["refreshed_at"] and listed["refreshed_at"] != asked["refreshed_at"]
            if moved and not listed["refreshing"]:
                return listed["schedules"]
            await asyncio.sleep(0.5)
        raise RuntimeError("rotessa-sync did not refresh its schedule catalogue in 2 minutes")

    async def mortgage(self, today: date) -> None:
        """A borrower with two years of monthly pre-authorized debits in Rotessa (mostly
        approved, some declined or charged back), their mortgage in the registry, linked
        to that schedule with its history backfilled into the ledger."""
        found = await self.call("GET", "/api/registry/mortgages", params={"q": DEMO_BORROWER})
        mortgage = next((m for m in found["data"] if m["borrower_name"] == DEMO_BORROWER), None)
        linked = {link["mortgage_id"] for link in await self.call("GET", "/api/rotessa/links")}
        if mortgage is not None and mortgage["id"] in linked:
            return
        schedules = await self.rotessa_schedules()
        schedule = next((s for s in schedules if s["customer_name"] == DEMO_BORROWER), None)
        if schedule is None:  # the borrower's account at Rotessa (the simulator's control)
            async with self.limit:
                added = await self.http.post(f"{self.sims['rotessa']}/_sim/customers", json={
                    "name": DEMO_BORROWER, "amount": "2450.00", "frequency": "Monthly",
                    "process_date": _month_start(today, 24).replace(day=15).isoformat(),
                    "installments": 300, "generate_transactions": True})  # fmt: skip
            added.raise_for_status()
            schedule = added.json()
        if mortgage is None:
            mortgage = await self.call("POST", "/api/registry/mortgages", json={
                "borrower_name": DEMO_BORROWER, "principal_minor": 48_500_000,
                "currency": "CAD"})  # fmt: skip
            self.report.add("mortgages")
        # rotessa-sync learns of a mortgage from the registry's event
        for _ in range(120):
            unlinked = await self.call("GET", "/api/rotessa/mortgages/unlinked")
            if any(m["mortgage_id"] == mortgage["id"] for m in unlinked):
                break
            await asyncio.sleep(0.5)
        await self.call("POST", "/api/rotessa/links", json={
            "mortgage_id": mortgage["id"], "schedule_id": schedule["schedule_id"],
            "customer_id": schedule["customer_id"], "start_backfill": True})  # fmt: skip
        self.report.add("rotessa links")


async def load_demo(gateway: str, token: str, simulators: dict[str, str],
                    now: datetime | None = None, say=print) -> DemoReport:  # fmt: skip
    """Loads (or completes) the demo portfolio; what it added, by kind."""
    now = now or datetime.now(UTC)
    report = DemoReport()
    plans = plan_portfolio({tz: local_today(tz, now) for tz in ("Asia/Riyadh", "Asia/Dubai")})
    async with httpx.AsyncClient(timeout=60) as http:
        loader = DemoLoader(http, gateway, token, simulators, report)
        say("  buildings, units, leases, invoices and their payments …")
        buildings = [(await loader.building(plan), plan) for plan in plans]
        paid: list[str] = []
        for building, plan in buildings:
            units = await loader.units(building, plan)

            async def lease_of(unit_plan: PlannedUnit, building=building, plan=plan, units=units):
                unit = units[unit_plan.code]
                booking = await loader.lease(unit, unit_plan)
                if booking is None:
                    return
                pairs = await loader.invoices(building, plan, unit, booking, unit_plan.lease)
                for entry, invoice in pairs:
                    number = await loader.pay(entry, invoice, plan, now)
                    if number:
                        paid.append(number)

            await asyncio.gather(*(lease_of(u) for u in plan.units))
        say(f"  waiting for the ledger to record {len(paid)} payments …")
        await loader.wait_until_recorded(paid)
        await loader.refund_when_paid()
        say("  Beds24 rooms, occupancy snapshots, a Rotessa mortgage …")
        today = local_today("Asia/Riyadh", now)
        await loader.beds24(buildings, today)
        await loader.snapshots(today)
        await loader.mortgage(today)
    return report
