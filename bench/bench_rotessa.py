"""Rotessa backfill: N transactions from the simulator until the ledger confirmed them all,
beside reading the same report pages without writing, measured in the same run.

    python -m bench rotessa [--transactions 5000] [--per-day 50]

Full path: the rotessa-sync service (backfill runner → outbox → relay → broker)
and the ledger service (batched consumer → journal → confirmations → broker →
rotessa-sync's consumer) against embedded Postgres and Tansu (or DATABASE_URL /
KAFKA_BOOTSTRAP_SERVERS). The ledger runs as its own uvicorn process, as in
production (each service is its own process, DESIGN.md §7), and the Rotessa
simulator runs as its own process too, as Rotessa is a remote API: its work
serving pages is not rotessa-sync's. rotessa-sync runs in this process.
``--ledger-in-process`` / ``--simulator-in-process`` put them on this event loop
instead. The baseline reads the same pages from the same simulator with the same
client before any service starts.
Target (QUALITY.md): 100,000 transactions in ≤ 30 s.
"""

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime

import asyncpg
import httpx

from bench.bench_webhooks import REPO_ROOT, start_server
from bench.infra import bench_infra, report
from folio.devstack.embedded import free_port
from folio.devstack.services import service
from folio.devstack.testing import admin_headers
from folio.ledger.app import create_app as create_ledger
from folio.ledger.settings import LedgerSettings
from folio.rotessa_sync.adapters.rotessa_client import RotessaClient
from folio.rotessa_sync.app import create_app as create_rotessa_sync
from folio.rotessa_sync.settings import RotessaSyncSettings
from folio.shared.contracts import MortgageChanged
from folio.shared.migrations import ensure_service_role, role_url, upgrade_async
from folio.shared.settings import to_plain_url
from folio.simulators.rotessa import create_app as create_simulator

PASSWORD = "folio-bench"  # throw-away benchmark database


async def migrated_url(admin_url: str, name: str) -> str:
    spec = service(name)
    await ensure_service_role(admin_url, spec.schema, spec.role, PASSWORD)
    url = role_url(admin_url, spec.role, PASSWORD)
    await upgrade_async(spec.migrations, url, spec.schema)
    return url


async def pipeline_timeline(admin_url: str, backfill_id: str) -> dict[str, float]:
    """Where the time went, from the rows' own timestamps (seconds after the backfill started)."""
    conn = await asyncpg.connect(to_plain_url(admin_url))
    try:
        row = await conn.fetchrow(
            """
            SELECT b.started_at,
              (SELECT max(published_at) FROM rotessa_sync.ledger_commands
                 WHERE backfill_id = b.backfill_id) AS last_command_written,
              (SELECT max(o.published_at) FROM rotessa_sync.outbox o
                 WHERE o.topic = 'payment.collected') AS last_sent_to_broker,
              (SELECT max(created_at) FROM ledger.outbox
                 WHERE topic = 'ledger.transaction.committed') AS last_ledger_commit,
              (SELECT max(published_at) FROM ledger.outbox
                 WHERE topic = 'ledger.transaction.committed') AS last_confirmation_sent,
              (SELECT max(answered_at) FROM rotessa_sync.ledger_commands
                 WHERE backfill_id = b.backfill_id) AS last_confirmation_applied
            FROM rotessa_sync.backfill_log b WHERE b.backfill_id = $1
            """,
            uuid.UUID(backfill_id),
        )
    finally:
        await conn.close()
    start = row["started_at"]
    return {
        key: round((row[key] - start).total_seconds(), 3)
        for key in row.keys()
        if key != "started_at" and row[key] is not None
    }


async def read_only(rotessa: "Rotessa", start: date, end: date) -> tuple[float, int]:
    """Baseline: page through the same report with the same client, writing nothing."""
    client = RotessaClient(rotessa.base_url, "sim-rotessa-key", transport=rotessa.transport())
    started = time.perf_counter()
    rows = 0
    async with client:
        async for page in client.iter_transaction_report(start_date=start, end_date=end):
            rows += len(page.rows)
    return time.perf_counter() - started, rows


def start_simulator(port: int) -> subprocess.Popen:
    """``python -m folio.simulators.rotessa`` with no customers, once it accepts connections."""
    argv = [sys.executable, "-m", "folio.simulators.rotessa", "--port", str(port)]
    argv += ["--seed", "1", "--customers", "0"]
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the Rotessa simulator did not start")


class Rotessa:
    """The simulator, in this process (ASGI transport) or its own (HTTP on a port)."""

    def __init__(self, today: date, port: int | None) -> None:
        self.port = port
        self.app = None if port else create_simulator(seed=1, customers=0, today=today)
        self.base_url = f"http://127.0.0.1:{port}/v1" if port else "http://rotessa.bench/v1"

    def transport(self) -> httpx.AsyncBaseTransport | None:
        return httpx.ASGITransport(app=self.app) if self.app else None

    async def add_bulk_schedule(self, first_day: date, count: int, per_day: int) -> tuple[int, int]:
        """A customer with one schedule and ``count`` Approved transactions (setup, not timed)."""
        if self.app is not None:
            sim = self.app.state.simulator
            customer = sim.add_customer(name="Benchmark Borrower")
            schedule = sim.add_schedule(
                customer_id=customer.id, amount_minor=125_000, process_date=first_day
            )
            sim.add_bulk_transactions(
                schedule_id=schedule.id, count=count, first_date=first_day, per_day=per_day
            )
            return customer.id, schedule.id
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            created = await client.post(
                "/_sim/customers",
                json={"name": "Benchmark Borrower", "amount": "1250.00",
                      "process_date": first_day.isoformat(), "bulk_count": count,
                      "bulk_per_day": per_day, "bulk_first_date": first_day.isoformat()},
                timeout=300,
            )  # fmt: skip
            created.raise_for_status()
            body = created.json()
            return body["customer_id"], body["schedule_id"]


async def run(args, admin_url: str, bootstrap: str, ledger_url: str, sim_port: int | None) -> None:
    ledger_settings = LedgerSettings(
        database_url=ledger_url,
        kafka_bootstrap_servers=bootstrap,
        environment="test", log_json=False, log_level="WARNING",
    )  # fmt: skip
    sync_settings = RotessaSyncSettings(
        database_url=await migrated_url(admin_url, "rotessa"),
        kafka_bootstrap_servers=bootstrap,
        environment="test", log_json=False, log_level="WARNING",
        sync_enabled=False, backfill_poll_seconds=0.1,
    )  # fmt: skip
    today = datetime.now(UTC).date()
    first_day = date(2000, 1, 1)
    rotessa = Rotessa(today, sim_port)
    sync_settings.rotessa_base_url = rotessa.base_url
    customer_id, schedule_id = await rotessa.add_bulk_schedule(
        first_day, args.transactions, args.per_day
    )

    baseline_seconds, baseline_rows = await read_only(rotessa, first_day, today)
    assert baseline_rows == args.transactions, baseline_rows

    ledger_app = create_ledger(ledger_settings) if args.ledger_in_process else None
    sync_app = create_rotessa_sync(sync_settings, rotessa_transport=rotessa.transport())
    mortgage_id = f"bench_{uuid.uuid4().hex[:10]}"
    headers = admin_headers(sync_settings)
    async with (
        ledger_app.router.lifespan_context(ledger_app) if ledger_app else contextlib.nullcontext(),
        sync_app.router.lifespan_context(sync_app),
    ):
        async with sync_app.state.uow_factory() as uow:
            await uow.repo.upsert_mortgage(
                MortgageChanged(
                    mortgage_id=mortgage_id, borrower_name="Benchmark Borrower",
                    principal_minor=1, currency="CAD", status="ACTIVE", version=1,
                    changed_at=datetime.now(UTC),
                )
            )  # fmt: skip
            await uow.commit()
        transport = httpx.ASGITransport(app=sync_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            started = time.perf_counter()
            linked = await client.post(
                "/api/rotessa/links",
                json={"mortgage_id": mortgage_id, "schedule_id": schedule_id,
                      "customer_id": customer_id, "start_backfill": True},
                headers=headers,
            )  # fmt: skip
            linked.raise_for_status()
            backfill_id = linked.json()["backfill_id"]
            read_at = None
            while True:
                body = (
                    await client.get(f"/api/rotessa/backfills/{backfill_id}", headers=headers)
                ).json()
                if read_at is None and body["progress"]["report_finished"]:
                    read_at = time.perf_counter() - started
                if body["status"] != "RUNNING":
                    break
                if time.perf_counter() - started > args.timeout:
                    raise SystemExit(f"backfill not confirmed within {args.timeout}s: {body}")
                await asyncio.sleep(0.1)
            backfill_seconds = time.perf_counter() - started
        timeline = await pipeline_timeline(admin_url, backfill_id)
    metrics = body["metrics"]
    assert body["status"] == "COMPLETED", body
    assert metrics["confirmed"] == args.transactions, metrics
    target_seconds = 30.0 * args.transactions / 100_000
    results = {
        "transactions": args.transactions,
        "backfill_seconds": round(backfill_seconds, 3),
        "backfill_read_and_published_seconds": round(read_at or backfill_seconds, 3),
        "baseline_read_only_seconds": round(baseline_seconds, 3),
        "confirmed_per_second": round(args.transactions / backfill_seconds, 1),
        "ratio_to_baseline": round(backfill_seconds / baseline_seconds, 2),
        "target_seconds_scaled": round(target_seconds, 2),
        "meets_target": backfill_seconds <= target_seconds,
        "status": body["status"],
        "ledger": "in process" if args.ledger_in_process else "own process",
        "simulator": "in process" if args.simulator_in_process else "own process",
        "timeline_seconds": timeline,
    }
    report(
        "rotessa_backfill",
        results,
        [
            ("transactions", f"{args.transactions:,}"),
            ("ledger", results["ledger"]),
            ("simulator", results["simulator"]),
            ("backfill until ledger confirmed all", f"{backfill_seconds:.2f} s"),
            ("  of which report read + published", f"{(read_at or 0):.2f} s"),
            ("baseline: read same pages, no writes", f"{baseline_seconds:.2f} s"),
            ("confirmed transactions/s", f"{args.transactions / backfill_seconds:,.0f}"),
            ("target (30 s per 100k, scaled)", f"{target_seconds:.2f} s"),
            *((f"  timeline: {k}", f"{v:.2f} s") for k, v in timeline.items()),
        ],
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench rotessa", description=__doc__)
    parser.add_argument("--transactions", type=int, default=5_000)
    parser.add_argument("--per-day", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--ledger-in-process",
        action="store_true",
        help="run the ledger on this process's event loop instead of its own process",
    )
    parser.add_argument(
        "--simulator-in-process",
        action="store_true",
        help="serve the Rotessa simulator on this process's event loop (ASGI transport)",
    )
    args = parser.parse_args(argv)
    with bench_infra() as (admin_url, bootstrap), contextlib.ExitStack() as servers:
        ledger_url = asyncio.run(migrated_url(admin_url, "ledger"))
        if not args.ledger_in_process:
            env = {
                **os.environ,
                "DATABASE_URL": ledger_url,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "FOLIO_ENV": "test",
                "FOLIO_LOG_LEVEL": "WARNING",
                "FOLIO_LOG_JSON": "false",
                "PYTHONPATH": str(REPO_ROOT),
            }
            servers.callback(start_server(service("ledger").app, free_port(), env).stop)
        sim_port = None
        if not args.simulator_in_process:
            sim_port = free_port()
            simulator = start_simulator(sim_port)
            servers.callback(lambda: (simulator.terminate(), simulator.wait(timeout=30)))
        asyncio.run(run(args, admin_url, bootstrap, ledger_url, sim_port))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
