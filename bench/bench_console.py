"""Console pages' server time beside the API calls each page makes, in the same run.

    python -m bench console [--entries 1000000] [--units 10000] [--buildings 20]
                            [--rounds 200] [--only payments,entry]

The ledger, the registry and the console run as ``make run`` runs them (uvicorn
processes on their own roles and schemas, migrated by their own migrations). The data
is loaded set-based in those real schemas (``generate_series``, not through the API):
``--units`` registry units in ``--buildings`` buildings, and ``--entries`` ledger
entries over them — monthly rent and a few fees per unit over ~8 years, mostly PAID,
some DUE (overdue), PENDING, VOID, with tenants, bookings and refunds.

For each page of :data:`PAGES`, ``--rounds`` times (after a warm-up), alternately:

* the page, requested from the console by a signed-in user (wall time on loopback:
  the console's server time plus a local round trip), and
* the API calls that page makes, made straight to the services with a user's token,
  in the same stages (calls of one stage at once, as the console makes them).

Reported per page: p50/p95 of both and the ratio of the p95s. Targets (issue 13): a
page costs at most 1.5x its API calls, and no page is slower than 300 ms p95.

A page is one line of :data:`PAGES`: its console path and its API stages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench.infra import report
from folio.console.adapters.uow import ConsoleUnitOfWork
from folio.console.domain.payments import PaymentFilters
from folio.console.domain.users import Role
from folio.console.service import accounts
from folio.console.testing import sign_in
from folio.devstack.embedded import EmbeddedPostgres, free_port, remove_tree
from folio.devstack.services import service
from folio.devstack.stack import uvicorn_argv
from folio.devstack.testing import Infra, answers_200, started
from folio.shared.auth import local_dev_signer, mint_token
from folio.shared.db import create_engine, create_sessionmaker
from folio.shared.settings import to_plain_url

PASSWORD = "bench-password-1"

#: One API call: (service, path, query). A stage: calls made at once.
Call = tuple[str, str, dict[str, str]]
Stages = list[list[Call]]


@dataclass(frozen=True)
class Page:
    name: str
    #: the console path (with its query) given the loaded data (:class:`Dataset`)
    path: Callable[[Dataset], str]
    #: the API calls that page makes, by stage, given the same data
    stages: Callable[[Dataset], Stages]


@dataclass
class Dataset:
    buildings: list[str]
    units: list[str]
    entry_id: str
    invoice_number: str
    entries: int


def payments(name: str, **query: str) -> Page:
    """The registry page with ``query``; its calls are what the console sends the ledger
    for it (the console's own mapping, so the two cannot drift apart)."""

    def resolve(data: Dataset) -> dict[str, str]:
        return {
            k: v.format(building=data.buildings[3], unit=data.units[7]) for k, v in query.items()
        }

    def path(data: Dataset) -> str:
        return "/admin/payments?" + str(httpx.QueryParams(resolve(data)))

    def stages(data: Dataset) -> Stages:
        filters = PaymentFilters.parse(resolve(data))
        listing = {**filters.ledger_params(), "page_size": "50"}
        return [[("ledger", "/api/ledger/entries", listing),
                 ("ledger", "/api/ledger/entries/totals", filters.filter_params())]]  # fmt: skip

    return Page(name, path, stages)


def entry_page(data: Dataset) -> Stages:
    return [
        [("ledger", f"/api/ledger/entries/{data.entry_id}", {})],
        [
            ("ledger", "/api/ledger/entries", {"parent_entry_id": data.entry_id, "page_size": "200"}),
            ("ledger", f"/api/ledger/entries/{data.entry_id}/audit", {}),
            ("ledger", "/api/ledger/v2/folio/transactions",
             {"account": f"invoices:{data.invoice_number}", "pageSize": "100"}),
        ],
    ]  # fmt: skip


def registry_call(path: str, **query: str) -> Call:
    return ("registry", "/api/registry" + path, query)


def buildings_page() -> Stages:
    return [[registry_call("/kpis/portfolio"), registry_call("/buildings", limit="500")]]


def building_page(data: Dataset) -> Stages:
    b = data.buildings[3]
    return [[registry_call(f"/buildings/{b}"), registry_call(f"/kpis/buildings/{b}"),
             registry_call(f"/buildings/{b}/occupancy"),
             registry_call(f"/kpis/buildings/{b}/collections", months="12"),
             registry_call("/units", building_id=b, limit="200")]]  # fmt: skip


def unit_page(data: Dataset) -> Stages:
    from datetime import UTC, datetime

    from folio.console.domain.buildings import last_days

    u = data.units[7]
    # the page reads the card, then 30 nights up to the card's date (the registry's today)
    start, end = last_days(datetime.now(UTC).date(), 30)
    return [[registry_call(f"/units/{u}/finance-card")],
            [registry_call(f"/units/{u}/daily-status", start_date=start.isoformat(),
                           end_date=end.isoformat()),
             registry_call("/bookings", unit_id=u, limit="100")]]  # fmt: skip


#: Every page measured: add one with one line (its path and the API calls it makes).
PAGES: list[Page] = [
    payments("payments"),
    payments("payments_building", building_id="{building}"),
    payments("payments_overdue", overdue="true"),
    payments("payments_sorted", sort="amount_minor", dir="desc"),
    payments("payments_due_sorted", sort="due_date", dir="asc", status="DUE"),
    payments("payments_search", q="tenant 12"),
    payments("payments_search_sorted", q="tenant 12", sort="due_date", dir="desc"),
    payments("payments_unit_range", unit_id="{unit}", due_from="2024-01-01", due_to="2025-12-31"),
    Page("entry", lambda d: f"/admin/payments/{d.entry_id}", entry_page),
    Page("buildings", lambda d: "/admin/buildings", lambda d: buildings_page()),
    Page("building", lambda d: f"/admin/buildings/{d.buildings[3]}", building_page),
    Page("unit", lambda d: f"/admin/units/{d.units[7]}", unit_page),
]


# --- data ------------------------------------------------------------------------------

REGISTRY_SQL = [
    """
    INSERT INTO registry.buildings (id, code, name, timezone, currency)
    SELECT gen_random_uuid(), 'B-' || lpad(b::text, 4, '0'), 'Bench building ' || b,
           CASE WHEN b % 2 = 0 THEN 'Asia/Riyadh' ELSE 'Asia/Dubai' END, 'SAR'
    FROM generate_series(1, $1::integer) AS b
    """,
    """
    INSERT INTO registry.units (id, building_id, code, status, monthly_base_rent_minor, currency)
    SELECT gen_random_uuid(), b.id, 'U-' || n,
           CASE WHEN n % 20 = 0 THEN 'BLOCKED' WHEN n % 31 = 0 THEN 'MAINTENANCE'
                ELSE 'AVAILABLE' END,
           300000 + (n % 7) * 25000, 'SAR'
    FROM generate_series(1, $1::integer) AS n
    JOIN (SELECT id, row_number() OVER (ORDER BY code) - 1 AS i FROM registry.buildings) b
      ON b.i = n % $2::integer
    """,
]

#: ``$1`` entries over the units: entry g is unit g % units, month g / units (back from
#: 2026-12), so each unit has a history of monthly rent; 1 in 10 a fee instead.
LEDGER_SQL = [
    """
    CREATE TEMP TABLE bench_units AS
    SELECT row_number() OVER (ORDER BY u.code) - 1 AS i, u.id::text AS unit_id,
           u.building_id::text AS building_id, u.monthly_base_rent_minor AS rent
    FROM registry.units u
    """,
    "CREATE UNIQUE INDEX ON bench_units (i)",
    """
    INSERT INTO ledger.entries (id, invoice_number, entry_type, status, amount_minor, currency,
        due_date, building_id, unit_id, booking_id, description, paid_minor, paid_at, metadata)
    SELECT gen_random_uuid(),
           format('INV-%s-%s', 2000 + g / 200000, lpad((g % 200000)::text, 6, '0')),
           kind, status, amount, 'SAR', due, u.building_id, u.unit_id,
           'BK-' || u.i || '-' || (g / units / 12), kind || ' ' || to_char(due, 'YYYY-MM'),
           CASE WHEN status = 'PAID' THEN amount WHEN status = 'PENDING' THEN amount / 2
                ELSE 0 END,
           CASE WHEN status = 'PAID' THEN due::timestamptz + interval '3 days' END,
           jsonb_build_object('tenant', 'Tenant ' || u.i)
    FROM (
        SELECT g, $2::integer AS units,
               CASE WHEN g % 10 = 9 THEN (ARRAY['CLEANING', 'PENALTY', 'DEPOSIT'])[1 + g % 3]
                    ELSE 'RENT' END AS kind,
               DATE '2026-12-01' - make_interval(months => (g / $2::integer)::integer) AS due,
               CASE WHEN g / $2::integer = 0 THEN 'DUE'
                    WHEN g % 97 = 0 THEN 'VOID' WHEN g % 53 = 0 THEN 'DUE'
                    WHEN g % 71 = 0 THEN 'PENDING' ELSE 'PAID' END AS status
        FROM generate_series(0, $1::integer - 1) AS g
    ) e
    JOIN bench_units u ON u.i = e.g % e.units,
    LATERAL (SELECT CASE WHEN e.kind = 'RENT' THEN u.rent ELSE 15000 + e.g % 5 * 1000 END
             AS amount) a
    """,
    # one paid entry in 400 refunded in part (a REFUND child, as the refund path writes it)
    """
    INSERT INTO ledger.entries (id, invoice_number, entry_type, status, amount_minor, currency,
        due_date, building_id, unit_id, booking_id, parent_entry_id, description)
    SELECT gen_random_uuid(), format('INV-2099-%s', lpad(n::text, 6, '0')), 'REFUND', 'REFUNDED',
           amount_minor / 10, currency, due_date, building_id, unit_id, booking_id, id,
           'partial refund'
    FROM (SELECT *, row_number() OVER (ORDER BY seq) AS n FROM ledger.entries
          WHERE status = 'PAID' AND seq % 400 = 0) p
    """,
    # the API's next invoice numbers must not collide with the loaded ones
    """
    INSERT INTO ledger.invoice_counters (year, last_value)
    SELECT DISTINCT substr(invoice_number, 5, 4)::integer, 999999 FROM ledger.entries
    ON CONFLICT (year) DO UPDATE SET last_value = 999999
    """,
    # a table in use is mostly all-visible (autovacuum): the totals' index-only scans
    "VACUUM ANALYZE ledger.entries",
    "ANALYZE registry.buildings",
    "ANALYZE registry.units",
]


#: The registry's KPI read model of the same entries (what ledger.entry.changed keeps
#: there), a third of the units booked around today; the aggregates and the last 30
#: nights' snapshots are then built by the registry's own code.
REGISTRY_READS_SQL = [
    """
    INSERT INTO registry.kpi_entries (entry_id, invoice_number, building_ref, building_id,
        unit_id, booking_id, entry_type, status, amount_minor, paid_minor, refunded_minor,
        currency, due_date, paid_at, paid_local_date, version, changed_at)
    SELECT e.id::text, e.invoice_number, e.building_id, e.building_id::uuid, e.unit_id,
           e.booking_id, e.entry_type, e.status, e.amount_minor, e.paid_minor, 0, e.currency,
           e.due_date, e.paid_at, (e.paid_at AT TIME ZONE 'Asia/Riyadh')::date, e.version,
           now()
    FROM ledger.entries e
    """,
    """
    INSERT INTO registry.kpi_money_movements
        (entry_id, version, kind, building_id, currency, amount_minor, moved_at)
    SELECT entry_id, version, 'PAYMENT', building_id, currency, paid_minor,
           coalesce(paid_at, changed_at)
    FROM registry.kpi_entries WHERE paid_minor > 0
    """,
    """
    INSERT INTO registry.bookings (id, building_id, unit_id, guest_name, start_date, end_date,
        status, source, renewals_used, max_renewals, renewal_window_days)
    SELECT gen_random_uuid(), building_id, id, 'Guest ' || n, current_date - 20,
           current_date + 40, 'CONFIRMED', 'LOCAL', 0, 1, 14
    FROM (SELECT id, building_id, row_number() OVER (ORDER BY code) AS n FROM registry.units) u
    WHERE n % 3 = 0
    """,
]


async def load_registry_reads(admin_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from folio.registry.service.occupancy import take_daily_snapshots
    from folio.registry.service.unit_of_work import RegistryUnitOfWork

    started_at = time.perf_counter()
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        for statement in REGISTRY_READS_SQL:
            await conn.execute(statement)
        building_ids = [r[0] for r in await conn.fetch("SELECT id FROM registry.buildings")]
    finally:
        await conn.close()
    engine = create_engine(admin_url, "registry", pool_size=2)
    sessions = create_sessionmaker(engine)
    try:
        for building_id in building_ids:
            async with RegistryUnitOfWork(sessions, producer="bench") as uow:
                await uow.repo.rebuild_kpi_aggregates(building_id)
                await uow.commit()
        now = datetime.now(UTC)
        async with RegistryUnitOfWork(sessions, producer="bench") as uow:
            await take_daily_snapshots(
                uow, start_date=now.date() - timedelta(days=30), end_date=now.date(),
                building_id=None, now=now, max_age=timedelta(hours=6),
            )  # fmt: skip
            await uow.commit()
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        await conn.execute("VACUUM ANALYZE registry.kpi_entries")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    print(f"registry read model built in {time.perf_counter() - started_at:.0f} s", flush=True)


async def registry_reads_missing(admin_url: str) -> bool:
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM registry.kpi_entries)")
    finally:
        await conn.close()


async def load(admin_url: str, entries: int, units: int, buildings: int) -> Dataset:
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        started_at = time.perf_counter()
        await conn.execute(REGISTRY_SQL[0], buildings)
        await conn.execute(REGISTRY_SQL[1], units, buildings)
        for statement in LEDGER_SQL:
            await conn.execute(statement, *((entries, units) if "$1" in statement else ()))
        print(f"loaded {entries:,} entries and {units:,} units in "
              f"{time.perf_counter() - started_at:.0f} s", flush=True)  # fmt: skip
    finally:
        await conn.close()
    return await describe(admin_url)


async def entry_count(admin_url: str) -> int:
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        return await conn.fetchval("SELECT count(*) FROM ledger.entries")
    finally:
        await conn.close()


async def describe(admin_url: str) -> Dataset:
    """What the pages are asked about, from the loaded data."""
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        building_ids = [r[0] for r in await conn.fetch(
            "SELECT id::text FROM registry.buildings ORDER BY code")]  # fmt: skip
        unit_ids = [r[0] for r in await conn.fetch(
            "SELECT id::text FROM registry.units ORDER BY code LIMIT 100")]  # fmt: skip
        # an entry with a refund child: its page shows children
        entry = await conn.fetchrow(
            "SELECT p.id::text, p.invoice_number FROM ledger.entries c "
            "JOIN ledger.entries p ON p.id = c.parent_entry_id ORDER BY c.seq LIMIT 1"
        )
        count = await conn.fetchval("SELECT count(*) FROM ledger.entries")
        print(f"ledger.entries: {count:,} rows", flush=True)
    finally:
        await conn.close()
    return Dataset(building_ids, unit_ids, entry[0], entry[1], count)


# --- measuring -------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94]


async def timed(coro) -> float:
    started_at = time.perf_counter()
    await coro
    return (time.perf_counter() - started_at) * 1000


async def measure(console, services, token, page: Page, data: Dataset, rounds: int):
    headers = {"Authorization": f"Bearer {token}"}
    path, stages = page.path(data), page.stages(data)

    async def get_page():
        response = await console.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])

    async def call(name: str, route: str, query: dict[str, str]):
        response = await services[name].get(route, params=query, headers=headers)
        assert response.status_code in (200, 404), (route, response.status_code, response.text)

    async def get_calls():
        for stage in stages:
            await asyncio.gather(*(call(*c) for c in stage))

    page_ms, api_ms = [], []
    for i in range(rounds + 10):
        first, second = (get_page, get_calls) if i % 2 else (get_calls, get_page)
        a, b = await timed(first()), await timed(second())
        if i >= 10:  # warm-up
            page_ms.append(a if first is get_page else b)
            api_ms.append(b if first is get_page else a)
    return page_ms, api_ms


async def measure_all(console_url, service_urls, console_db_url, data, pages, rounds):
    engine = create_engine(console_db_url, "console", pool_size=2)
    sessions = create_sessionmaker(engine)
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    await accounts.create_user(
        lambda: ConsoleUnitOfWork(sessions, producer="console"), "bench", email, PASSWORD,
        Role.FINANCE,
    )  # fmt: skip
    await engine.dispose()
    token = mint_token(email, ["finance"], local_dev_signer())
    results = {}
    limits = httpx.Timeout(60.0)
    async with httpx.AsyncClient(base_url=console_url, timeout=limits) as console:
        signed = await sign_in(console, email, PASSWORD)
        assert signed.status_code in (200, 303), signed.text[:300]
        services = {
            n: httpx.AsyncClient(base_url=u, timeout=limits) for n, u in service_urls.items()
        }
        try:
            for page in pages:
                page_ms, api_ms = await measure(console, services, token, page, data, rounds)
                results[page.name] = {
                    "page_p50_ms": round(statistics.median(page_ms), 1),
                    "page_p95_ms": round(p95(page_ms), 1),
                    "api_p50_ms": round(statistics.median(api_ms), 1),
                    "api_p95_ms": round(p95(api_ms), 1),
                    "ratio_p95": round(p95(page_ms) / p95(api_ms), 2),
                }
                print(page.name, results[page.name], flush=True)
        finally:
            for client in services.values():
                await client.aclose()
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench console")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--buildings", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--only", default="", help="comma-separated page names")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="an admin URL of a database to use (and keep); loaded once, reused after",
    )
    args = parser.parse_args(argv)
    pages = [p for p in PAGES if not args.only or p.name in args.only.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="folio-bench-console-"))
    pg = None
    try:
        admin_url = args.database_url
        if not admin_url:
            pg = EmbeddedPostgres(workdir / "pg", free_port(), durable=False)
            pg.start(log_file=open(workdir / "postgres.log", "ab"))
            pg.create_database("folio_bench")
            admin_url = pg.admin_url.rsplit("/", 1)[0] + "/folio_bench"
        infra = Infra(admin_database_url=admin_url, kafka_bootstrap_servers="127.0.0.1:9")
        urls = {}
        for name in ("ledger", "registry", "console"):
            urls[name] = asyncio.run(infra.service_database_url(name))
        if asyncio.run(entry_count(admin_url)) == 0:
            data = asyncio.run(load(admin_url, args.entries, args.units, args.buildings))
        else:  # a database loaded by an earlier run (--database-url): its size, not --entries
            data = asyncio.run(describe(admin_url))
        if asyncio.run(registry_reads_missing(admin_url)):
            asyncio.run(load_registry_reads(admin_url))
        ports = {name: free_port() for name in urls}
        service_urls = {n: f"http://127.0.0.1:{ports[n]}" for n in ("ledger", "registry")}
        base = {
            **os.environ,
            "FOLIO_ENV": "test",
            "FOLIO_LOG_JSON": "false",
            "FOLIO_LOG_LEVEL": "WARNING",
            "FOLIO_RUN_MESSAGING": "false",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "FOLIO_LEDGER_URL": service_urls["ledger"],
            "FOLIO_REGISTRY_URL": service_urls["registry"],
            "PYTHONUNBUFFERED": "1",
        }
        from contextlib import ExitStack

        with ExitStack() as stack:
            for name, port in ports.items():
                env = {**base, "DATABASE_URL": urls[name], "FOLIO_HTTP_PORT": str(port)}
                argv_ = uvicorn_argv(service(name).app, port)
                stack.enter_context(started(argv_, env, workdir / f"{name}.log"))
            for name, port in ports.items():
                ready = answers_200(f"http://127.0.0.1:{port}/api/{name}/readyz")
                deadline = time.monotonic() + 90
                while not ready():
                    if time.monotonic() > deadline:
                        print((workdir / f"{name}.log").read_text()[-3000:])
                        raise SystemExit(f"{name} did not become ready")
                    time.sleep(0.2)
            results = asyncio.run(
                measure_all(f"http://127.0.0.1:{ports['console']}", service_urls, urls["console"],
                            data, pages, args.rounds)
            )  # fmt: skip
    finally:
        if pg is not None:
            pg.stop()
        remove_tree(workdir)

    worst_ratio = max(r["ratio_p95"] for r in results.values())
    slowest = max(r["page_p95_ms"] for r in results.values())
    report(
        "console",
        {"entries": data.entries, "units": args.units, "rounds": args.rounds, "pages": results,
         "worst_ratio_p95": worst_ratio, "slowest_page_p95_ms": slowest,
         "target_met": worst_ratio <= 1.5 and slowest <= 300},
        [(name, f"page p95 {r['page_p95_ms']:>7.1f} ms   API p95 {r['api_p95_ms']:>7.1f} ms   "
                f"ratio {r['ratio_p95']:.2f}") for name, r in results.items()]
        + [("target", "page <= 1.5x its API calls and <= 300 ms p95: "
                      + ("met" if worst_ratio <= 1.5 and slowest <= 300 else "NOT met"))],
    )  # fmt: skip
    return 0
