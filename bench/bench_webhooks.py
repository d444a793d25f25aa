"""Webhook intake: signed deliveries/s and p99 latency through the real intake service,
beside a bare FastAPI/uvicorn endpoint that returns 200, measured in the same run.

    python -m bench webhooks [--requests 3000] [--concurrency 32] [--channel mixed]
                             [--processes 1]

Both servers run as uvicorn subprocesses on this machine and are driven by the same
minimal keep-alive HTTP/1.1 load generator, so the baseline absorbs the generator's cost. Intake runs
with its outbox relay publishing to the broker, as in production. Every delivery is
distinct (its own payment), authenticated by its provider's scheme, and must be
answered 2xx; afterwards the run checks one stored delivery and one outbox event each.
QUALITY.md target: >= 1,000 signed webhooks/s and p99 <= 100 ms.

``--processes N`` serves each app from N processes sharing the port (SO_REUSEPORT),
as N intake replicas behind the gateway; the baseline gets the same N.
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bench.infra import bench_infra, report
from folio.devstack.embedded import free_port
from folio.shared.migrations import upgrade
from folio.shared.settings import to_plain_url
from folio.simulators.payments.scenarios import PaymentProviders
from folio.simulators.payments.standard import StandardWebhooksSender
from folio.simulators.payments.wire import Delivery

REPO_ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = REPO_ROOT / "services" / "webhooks" / "migrations"


def create_bare_app() -> FastAPI:
    """The baseline: reads the body and returns 200, nothing else."""
    app = FastAPI()

    @app.post("/api/webhooks/{channel}")
    async def bare(channel: str, request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"state": "accepted"})

    return app


def build_deliveries(count: int, channel: str) -> list[Delivery]:
    providers = PaymentProviders()
    standard = StandardWebhooksSender()
    channels = ["moyasar", "tabby", "tamara", "standard"] if channel == "mixed" else [channel]
    deliveries = []
    for i in range(count):
        kind = channels[i % len(channels)]
        invoice = f"INV-2026-{i % 1_000_000:06d}"
        if kind == "standard":
            deliveries.append(
                standard.delivery(
                    "payment.verified",
                    {
                        "provider": "moyasar",
                        "payment_id": f"bench-{uuid.uuid4()}",
                        "invoice_number": invoice,
                        "amount": "100.00",
                        "currency": "SAR",
                    },
                )
            )
        else:
            deliveries.append(providers.pay(kind, invoice, "100.00").deliveries[-1])
    return deliveries


#: One uvicorn process of several sharing a port: SO_REUSEPORT lets the kernel spread
#: connections over them, as replicas behind a load balancer would get them. (Not
#: ``uvicorn --workers``: its inherited listening socket lacks IPPROTO_TCP, so asyncio
#: leaves Nagle on for accepted connections and every answer waits ~40 ms for an ACK.)
_REUSEPORT_SERVER = """
import socket, sys, uvicorn
app, port = sys.argv[1], int(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
sock.bind(("127.0.0.1", port))
config = uvicorn.Config(app, factory=True, access_log=False, log_level="warning")
uvicorn.Server(config).run(sockets=[sock])
"""


class Servers:
    """``processes`` uvicorn processes serving ``app`` on one port."""

    def __init__(self, app: str, port: int, env: dict[str, str], processes: int = 1) -> None:
        if processes == 1:
            argv = [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1"]
            argv += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
            argvs = [argv]
        else:
            argvs = [[sys.executable, "-c", _REUSEPORT_SERVER, app, str(port)]] * processes
        self.processes = [subprocess.Popen(a, cwd=REPO_ROOT, env=env) for a in argvs]
        try:
            self._wait_until_listening(app, port, len(argvs))
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self, app: str, port: int, processes: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"{app} exited")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    pass
            except OSError:
                time.sleep(0.1)
                continue
            if processes == 1:
                return
            time.sleep(3)  # the others finish starting (each imports and migrates nothing)
            if all(p.poll() is None for p in self.processes):
                return
        raise RuntimeError(f"{app} did not start")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


def start_server(app: str, port: int, env: dict[str, str], processes: int = 1) -> Servers:
    return Servers(app, port, env, processes)


def encode_request(delivery: Delivery, host: str) -> bytes:
    """One HTTP/1.1 request, pre-encoded so the clock measures the servers, not the encoding."""
    target = delivery.path + (f"?{urlencode(delivery.query)}" if delivery.query else "")
    headers = {"Host": host, "Content-Length": str(len(delivery.body)), **delivery.headers}
    head = f"POST {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + delivery.body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def drive(host: str, port: int, deliveries: list[Delivery], concurrency: int) -> dict:
    """Send every delivery once over ``concurrency`` keep-alive connections; latencies in ms.

    A minimal HTTP/1.1 client: a general-purpose one (httpx) costs more CPU per request
    than the bare endpoint it measures, which would hide the servers' difference.
    """
    requests = iter([encode_request(d, f"{host}:{port}") for d in deliveries])
    latencies: list[float] = []
    failures: list[int] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for request in requests:
                sent = time.perf_counter()
                status = await _exchange(reader, writer, request)
                latencies.append((time.perf_counter() - sent) * 1000)
                if not 200 <= status < 300:
                    failures.append(status)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(deliveries),
        "per_s": len(deliveries) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "failures": len(failures),
        "failure_codes": sorted(set(failures)),
    }


async def verify_stored(admin_url: str, schema: str) -> tuple[int, int]:
    conn = await asyncpg.connect(to_plain_url(admin_url), server_settings={"search_path": schema})
    try:
        return (
            await conn.fetchval("SELECT count(*) FROM deliveries"),
            await conn.fetchval("SELECT count(*) FROM outbox"),
        )
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench webhooks")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes sharing the port (intake and baseline alike)",
    )
    parser.add_argument(
        "--channel", default="mixed", choices=["mixed", "moyasar", "tabby", "tamara", "standard"]
    )
    args = parser.parse_args(argv)
    schema = f"webhooks_bench_{uuid.uuid4().hex[:8]}"
    with bench_infra() as (database_url, bootstrap):
        upgrade(MIGRATIONS, database_url, schema)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "FOLIO_DB_SCHEMA": schema,
            "FOLIO_ENV": "local",
            "FOLIO_LOG_LEVEL": "WARNING",
            "FOLIO_LOG_JSON": "false",
            "PYTHONPATH": str(REPO_ROOT),
        }
        warmup = build_deliveries(args.warmup, args.channel)
        measured = build_deliveries(args.requests, args.channel)

        results = {}
        for name, app in [
            ("baseline", "bench.bench_webhooks:create_bare_app"),
            ("intake", "folio.webhooks.app:create_app"),
        ]:
            port = free_port()
            server = start_server(app, port, env, args.processes)
            try:
                asyncio.run(drive("127.0.0.1", port, warmup, args.concurrency))
                results[name] = asyncio.run(drive("127.0.0.1", port, measured, args.concurrency))
            finally:
                server.stop()
        stored, events = asyncio.run(verify_stored(database_url, schema))

    intake, baseline = results["intake"], results["baseline"]
    expected = args.warmup + args.requests
    ok = intake["failures"] == 0 and stored == expected and events == expected
    report(
        "webhooks",
        {
            "channel": args.channel,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "processes": args.processes,
            "intake_per_s": round(intake["per_s"]),
            "intake_p50_ms": round(intake["p50_ms"], 2),
            "intake_p99_ms": round(intake["p99_ms"], 2),
            "baseline_per_s": round(baseline["per_s"]),
            "baseline_p99_ms": round(baseline["p99_ms"], 2),
            "ratio": round(intake["per_s"] / baseline["per_s"], 3),
            "stored_deliveries": stored,
            "outbox_events": events,
            "expected": expected,
            "failures": intake["failures"],
            "failure_codes": intake["failure_codes"],
            "target_met": intake["per_s"] >= 1000 and intake["p99_ms"] <= 100,
            "consistent": ok,
        },
        [
            (
                "deliveries (measured)",
                f"{args.requests} {args.channel}, {args.concurrency} in flight, "
                f"{args.processes} server process(es)",
            ),
            (
                "intake",
                f"{intake['per_s']:,.0f} webhooks/s, p50 {intake['p50_ms']:.1f} ms, "
                f"p99 {intake['p99_ms']:.1f} ms",
            ),
            (
                "bare FastAPI (baseline)",
                f"{baseline['per_s']:,.0f} req/s, p99 {baseline['p99_ms']:.1f} ms",
            ),
            ("ratio", f"{intake['per_s'] / baseline['per_s']:.3f}"),
            ("stored / events / expected", f"{stored} / {events} / {expected}"),
            (
                "target (>=1000/s, p99<=100ms)",
                "met" if intake["per_s"] >= 1000 and intake["p99_ms"] <= 100 else "not met",
            ),
        ],
    )
    return 0 if ok else 1
