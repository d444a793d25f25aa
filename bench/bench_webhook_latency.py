"""Webhook → entry PAID latency at a paced rate (QUALITY.md: p99 <= 1 s at 500 webhooks/s).

    python -m bench webhook_latency [--invoices 2000] [--rate 500] [--intake-processes 1]

The real ledger and webhooks services run as uvicorn subprocesses (each with its
own role and schema, its outbox relay and consumers) against embedded Postgres
and Tansu, or DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS. The run creates N invoices
through the ledger API, then sends one signed Moyasar ``payment_paid`` webhook
per invoice through intake at a fixed rate (open loop: a send is due at
``start + i / rate`` whether or not earlier answers came back). For each invoice
the clock runs from intake's 2xx to the moment this process consumes the
``ledger.entry.changed`` event saying the entry is PAID: intake commit → relay →
broker → ledger consumer (journal, entry) → ledger relay → broker. Finally every
entry must be PAID in the ledger's database.
"""

import argparse
import asyncio
import json
import os
import statistics
import time

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench.bench_webhooks import REPO_ROOT, _exchange, encode_request, start_server
from bench.infra import bench_infra, report
from folio.devstack.embedded import free_port
from folio.devstack.services import service
from folio.devstack.testing import admin_headers
from folio.ledger.settings import LedgerSettings
from folio.shared.migrations import ensure_service_role, role_url, upgrade_async
from folio.shared.settings import to_plain_url
from folio.simulators.payments.scenarios import PaymentProviders
from folio.simulators.payments.wire import Delivery

PASSWORD = "folio-bench"  # throw-away benchmark database
AMOUNT_MINOR = 125_000
TOPIC = "ledger.entry.changed"


async def migrated_url(admin_url: str, name: str) -> str:
    spec = service(name)
    await ensure_service_role(admin_url, spec.schema, spec.role, PASSWORD)
    url = role_url(admin_url, spec.role, PASSWORD)
    await upgrade_async(spec.migrations, url, spec.schema)
    return url


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


async def create_invoices(base_url: str, headers: dict[str, str], count: int) -> list[str]:
    """N RENT invoices through the ledger API (setup, not timed)."""
    body = {"entry_type": "RENT", "amount_minor": AMOUNT_MINOR, "currency": "SAR"}
    numbers: list[str] = []
    indexes = iter(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in indexes:
            answer = await client.post("/api/ledger/entries", json=body, headers=headers)
            answer.raise_for_status()
            numbers.append(answer.json()["invoice_number"])

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(16)))
    return numbers


class PaidWatcher:
    """Consumes ledger.entry.changed from the current end; notes when each invoice turns PAID."""

    def __init__(self, bootstrap: str, invoices: set[str]) -> None:
        # A short fetch wait: the watcher is the stopwatch and must not add latency.
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5
        )
        self.invoices = invoices
        self.paid_at: dict[str, float] = {}
        self.all_paid = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.consumer.start()
        partitions = [
            TopicPartition(TOPIC, p) for p in self.consumer.partitions_for_topic(TOPIC) or ()
        ]
        if not partitions:
            await self.consumer.stop()
            raise RuntimeError(f"topic {TOPIC} has no partitions")
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve the end offsets now, before anything is sent
            await self.consumer.position(partition)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=2000)
            seen = time.perf_counter()
            for records in batches.values():
                for record in records:
                    data = json.loads(record.value)["data"]
                    invoice = data["invoice_number"]
                    if (
                        data["status"] == "PAID"
                        and invoice in self.invoices
                        and invoice not in self.paid_at
                    ):
                        self.paid_at[invoice] = seen
            if len(self.paid_at) == len(self.invoices):
                self.all_paid.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.consumer.stop()


async def send_paced(
    port: int, deliveries: list[tuple[str, Delivery]], rate: float, connections: int
) -> tuple[dict[str, float], list[float], list[float], list[int], float]:
    """Open loop at ``rate``/s over a pool of keep-alive connections.

    Returns when each invoice's webhook was answered 2xx, the answer latencies (ms),
    how late each send left against its schedule (ms), any non-2xx statuses, and
    the rate the sends actually left at.
    """
    host = f"127.0.0.1:{port}"
    requests = [(invoice, encode_request(d, host)) for invoice, d in deliveries]
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    answered: dict[str, float] = {}
    latencies: list[float] = []
    lateness: list[float] = []
    failures: list[int] = []
    last_sent = 0.0

    async def send(invoice: str, request: bytes, due: float) -> None:
        nonlocal last_sent
        reader, writer = await pool.get()
        try:
            sent = last_sent = time.perf_counter()
            lateness.append((sent - due) * 1000)
            status = await _exchange(reader, writer, request)
            done = time.perf_counter()
        finally:
            pool.put_nowait((reader, writer))
        latencies.append((done - sent) * 1000)
        if 200 <= status < 300:
            answered[invoice] = done
        else:
            failures.append(status)

    tasks = []
    start = time.perf_counter() + 0.05
    for i, (invoice, request) in enumerate(requests):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(invoice, request, due)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    dispatch_rate = (len(requests) - 1) / (last_sent - start) if len(requests) > 1 else rate
    return answered, latencies, lateness, failures, dispatch_rate


async def paid_in_database(ledger_url: str, invoices: list[str]) -> int:
    conn = await asyncpg.connect(
        to_plain_url(ledger_url), server_settings={"search_path": "ledger"}
    )
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM entries WHERE status = 'PAID' AND invoice_number = ANY($1)",
            invoices,
        )
    finally:
        await conn.close()


async def pipeline_stages(
    admin_url: str, seen_wall: dict[str, float]
) -> dict[str, dict[str, float]]:
    """Where the time goes, per invoice, from the outbox rows' own timestamps (ms):
    intake's relay (event written → on the broker), the ledger (on the broker →
    entry PAID event written), the ledger's relay, and the broker → this process."""
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        intake = await conn.fetch(
            "SELECT key, created_at, published_at FROM webhooks.outbox"
            " WHERE topic = 'payment.verified'"
        )
        ledger = await conn.fetch(
            "SELECT convert_from(value, 'UTF8')::jsonb -> 'data' ->> 'invoice_number' AS invoice,"
            " min(created_at) AS created_at, min(published_at) AS published_at"
            " FROM ledger.outbox WHERE topic = 'ledger.entry.changed'"
            " AND convert_from(value, 'UTF8')::jsonb -> 'data' ->> 'status' = 'PAID'"
            " GROUP BY 1"
        )
    finally:
        await conn.close()
    verified = {r["key"]: r for r in intake if r["published_at"] is not None}
    paid = {r["invoice"]: r for r in ledger if r["published_at"] is not None}
    stages: dict[str, list[float]] = {
        "intake_relay": [],
        "ledger_consume_to_paid": [],
        "ledger_relay": [],
        "broker_to_bench": [],
    }
    for invoice, seen in seen_wall.items():
        v, e = verified.get(invoice), paid.get(invoice)
        if v is None or e is None:
            continue
        stages["intake_relay"].append((v["published_at"] - v["created_at"]).total_seconds())
        stages["ledger_consume_to_paid"].append(
            (e["created_at"] - v["published_at"]).total_seconds()
        )
        stages["ledger_relay"].append((e["published_at"] - e["created_at"]).total_seconds())
        stages["broker_to_bench"].append(seen - e["published_at"].timestamp())
    summary = {}
    for name, values in stages.items():
        values.sort()
        if values:
            summary[name] = {
                "p50_ms": round(statistics.median(values) * 1000, 1),
                "p99_ms": round(percentile(values, 0.99) * 1000, 1),
            }
    return summary


async def measure(
    args, ledger_port: int, intake_port: int, ledger_url: str, admin_url: str, bootstrap: str
):
    settings = LedgerSettings(database_url=ledger_url, environment="local")
    headers = admin_headers(settings, roles=("admin",), subject="bench")
    setup_started = time.perf_counter()
    invoices = await create_invoices(f"http://127.0.0.1:{ledger_port}", headers, args.invoices)
    setup_seconds = time.perf_counter() - setup_started
    providers = PaymentProviders()
    amount = f"{AMOUNT_MINOR // 100}.{AMOUNT_MINOR % 100:02d}"
    deliveries = [(n, providers.pay("moyasar", n, amount, "SAR").deliveries[-1]) for n in invoices]

    watcher = PaidWatcher(bootstrap, set(invoices))
    await watcher.start()
    try:
        answered, latencies, lateness, failures, dispatch_rate = await send_paced(
            intake_port, deliveries, args.rate, args.connections
        )
        try:
            await asyncio.wait_for(watcher.all_paid.wait(), timeout=args.timeout)
        except TimeoutError:
            pass
    finally:
        await watcher.stop()
    in_database = await paid_in_database(ledger_url, invoices)
    wall_offset = time.time() - time.perf_counter()
    stages = await pipeline_stages(
        admin_url, {n: t + wall_offset for n, t in watcher.paid_at.items()}
    )
    to_paid = sorted(
        (watcher.paid_at[n] - answered[n]) * 1000
        for n in invoices
        if n in answered and n in watcher.paid_at
    )
    return {
        "invoices": len(invoices),
        "setup_seconds": setup_seconds,
        "dispatch_rate": dispatch_rate,
        "to_paid_ms": to_paid,
        "intake_ms": sorted(latencies),
        "lateness_ms": sorted(lateness),
        "failures": failures,
        "answered": len(answered),
        "seen_paid": len(watcher.paid_at),
        "paid_in_database": in_database,
        "stages": stages,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench webhook_latency", description=__doc__)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=500.0, help="webhooks per second")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--intake-processes", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for PAID")
    args = parser.parse_args(argv)
    with bench_infra() as (admin_url, bootstrap):
        ledger_url = asyncio.run(migrated_url(admin_url, "ledger"))
        webhooks_url = asyncio.run(migrated_url(admin_url, "webhooks"))
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "FOLIO_ENV": "local",
            "FOLIO_LOG_LEVEL": "WARNING",
            "FOLIO_LOG_JSON": "false",
            "PYTHONPATH": str(REPO_ROOT),
        }
        ledger_port, intake_port = free_port(), free_port()
        ledger = start_server(
            service("ledger").app, ledger_port, {**env, "DATABASE_URL": ledger_url}
        )
        try:
            intake = start_server(
                service("webhooks").app,
                intake_port,
                {**env, "DATABASE_URL": webhooks_url},
                args.intake_processes,
            )
            try:
                result = asyncio.run(
                    measure(args, ledger_port, intake_port, ledger_url, admin_url, bootstrap)
                )
            finally:
                intake.stop()
        finally:
            ledger.stop()

    to_paid, intake_ms, lateness = result["to_paid_ms"], result["intake_ms"], result["lateness_ms"]
    n = result["invoices"]
    complete = (
        not result["failures"]
        and result["answered"] == n
        and result["seen_paid"] == n
        and result["paid_in_database"] == n
    )
    achieved_rate = result["dispatch_rate"]
    p50 = statistics.median(to_paid) if to_paid else float("nan")
    p99 = percentile(to_paid, 0.99) if to_paid else float("nan")
    met = complete and p99 <= 1000
    report(
        "webhook_latency",
        {
            "invoices": n,
            "rate_target_per_s": args.rate,
            "rate_achieved_per_s": round(achieved_rate, 1),
            "intake_processes": args.intake_processes,
            "to_paid_p50_ms": round(p50, 1),
            "to_paid_p99_ms": round(p99, 1),
            "to_paid_max_ms": round(to_paid[-1], 1) if to_paid else None,
            "intake_answer_p50_ms": round(statistics.median(intake_ms), 2),
            "intake_answer_p99_ms": round(percentile(intake_ms, 0.99), 2),
            "send_lateness_p99_ms": round(percentile(lateness, 0.99), 2),
            "answered_2xx": result["answered"],
            "failure_codes": sorted(set(result["failures"])),
            "seen_paid_events": result["seen_paid"],
            "paid_in_ledger_db": result["paid_in_database"],
            "setup_seconds": round(result["setup_seconds"], 1),
            "complete": complete,
            "target_met": met,
            "stages": result["stages"],
        },
        [
            ("invoices", f"{n:,} (one Moyasar payment_paid webhook each)"),
            ("send rate", f"{achieved_rate:,.0f}/s achieved of {args.rate:,.0f}/s"),
            ("2xx → entry PAID event", f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms"),
            (
                "intake answer",
                f"p50 {statistics.median(intake_ms):.1f} ms, "
                f"p99 {percentile(intake_ms, 0.99):.1f} ms",
            ),
            (
                "answered / PAID events / PAID in db",
                f"{result['answered']} / {result['seen_paid']} / {result['paid_in_database']}",
            ),
            ("target (p99 <= 1 s)", "met" if met else "not met"),
            *(
                (f"  stage: {name}", f"p50 {v['p50_ms']:,.0f} ms, p99 {v['p99_ms']:,.0f} ms")
                for name, v in result["stages"].items()
            ),
        ],
    )
    return 0 if complete else 1
