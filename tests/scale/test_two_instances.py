"""Scale-out: two instances of every service at once on one database and one broker (as a
cluster runs them), a mixed load, and one instance of each service killed (SIGKILL)
mid-way — ledger, registry, rotessa-sync, webhooks and the console.

The load: invoices created round-robin on both ledgers (with an Idempotency-Key, retried on
the other instance when one dies under the request, as a gateway retries), each paid
through a provider simulator whose every delivery reaches both webhooks instances at once,
a Rotessa backfill of several pages, and mortgages created in the registry. The kill comes
at a point defined by progress: when half of the first wave's invoices are PAID, while the
backfill's runner (on the killed rotessa-sync) retries a report page Rotessa refuses until
the kill, and part of the load is still to be sent; the rest goes to the survivors.

What must hold: one outbox relay per service active at a time (its advisory lock in
pg_locks, beside the instance's process id; the standby publishes nothing until it takes
over), the consumer groups sharing the partitions (both ledgers and both registries
consume), no event lost (every outbox row is on the broker and in each consuming group's
inbox), no effect twice (one payment and one journal transaction per invoice, one
journal transaction per Rotessa transaction, whatever the broker redelivered), the
backfill resumed by the surviving instance, the journal's invariants green and its hash
chain intact, and a console session signed in on the killed console served by the other.

The figures are printed (run with -s to see them): events, kills, redeliveries absorbed,
duplicates, losses, time to take over.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.engine import make_url

from folio.console.cli import add_user
from folio.console.domain.users import Role
from folio.devstack.embedded import EmbeddedKafka, free_port
from folio.devstack.services import ServiceSpec, service
from folio.devstack.stack import uvicorn_argv
from folio.devstack.testing import (
    TEST_ROLE_PASSWORD,
    admin_headers,
    answers_200,
    started,
    wait_until,
)
from folio.shared.messaging.broker import DEFAULT_PARTITIONS, all_topics, ensure_topics
from folio.shared.messaging.relay import OutboxRelay
from folio.shared.migrations import ensure_service_role, role_url, upgrade_async
from folio.shared.settings import ServiceSettings, to_plain_url
from folio.simulators.payments.scenarios import PaymentProviders

pytestmark = pytest.mark.integration

DATABASE = "folio_scale"
NAMES = ("ledger", "registry", "rotessa", "webhooks")  # those with events (and a relay)
#: The console has neither: its sessions live in its schema, so any instance serves them.
EVERY = (*NAMES, "console")
WAVE_1 = 60  # invoices created before the load starts, paid around the kill
WAVE_2 = 40  # invoices created while the kill happens (Idempotency-Key), paid after it
KILL_WHEN_PAID = WAVE_1 // 2
#: Three report pages (Rotessa's are 1000 rows): the kill lands while one is retried.
BACKFILL_TRANSACTIONS = 2_100
MORTGAGES_AFTER_KILL = 5
PROVIDERS = ("moyasar", "tabby", "tamara")
#: Who consumes what (DESIGN.md §1): topic → (schema of the consumer, its group).
CONSUMERS = {
    "payment.verified": [("ledger", "ledger")],
    "payment.failed": [("ledger", "ledger")],
    "payment.refunded": [("ledger", "ledger")],
    "payment.authorized": [("ledger", "ledger")],
    "payment.collected": [("ledger", "ledger")],
    "payment.reversed": [("ledger", "ledger")],
    "renewal.requested": [("ledger", "ledger")],
    "ledger.entry.changed": [("registry", "registry")],
    "schedule.linked": [("registry", "registry")],
    "mortgage.changed": [("rotessa_sync", "rotessa-sync")],
    "ledger.transaction.committed": [("rotessa_sync", "rotessa-sync")],
    "ledger.command.rejected": [("rotessa_sync", "rotessa-sync")],
}
#: The Rotessa simulator with only the customers the test adds.
ROTESSA_SIMULATOR = (
    "import sys, uvicorn\n"
    "from folio.simulators.rotessa import create_app\n"
    "app = create_app(seed=14, customers=0)\n"
    "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')\n"
)
#: A killed instance's client sees one of these for requests in flight or sent after.
GONE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass
class Instance:
    spec: ServiceSpec
    label: str  # "a" (killed mid-way) or "b" (survives)
    port: int
    process: subprocess.Popen | None = None
    killed: bool = False

    @property
    def name(self) -> str:
        return f"{self.spec.name}-{self.label}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.killed = True  # before the signal: a request failing from now on is expected
        assert self.process is not None
        self.process.kill()  # SIGKILL: no shutdown, no lock released by the process itself
        self.process.wait()


@dataclass
class Cluster:
    instances: dict[str, list[Instance]]
    admin_url: str
    urls: dict[str, str]  # service name → its role's database URL
    bootstrap_servers: str
    schemas: dict[str, str]  # service name → schema
    figures: dict = field(default_factory=dict)
    turns: Counter = field(default_factory=Counter)
    written: Counter = field(default_factory=Counter)  # admin writes by instance

    def alive(self, name: str) -> list[Instance]:
        return [i for i in self.instances[name] if not i.killed]

    def round_robin(self, name: str):
        """The live instances in turn, across calls (a request's retry takes the next)."""
        while True:
            alive = self.alive(name)
            self.turns[name] += 1
            yield alive[self.turns[name] % len(alive)]


@pytest.fixture(scope="module")
def scale_database(infra):
    """A database of its own on the session's server: its advisory locks, outboxes and
    inboxes are this test's alone (roles are cluster-wide and keep the test password)."""
    admin = to_plain_url(infra.admin_database_url)
    url = make_url(admin)

    async def execute(*statements: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(
        execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE}")
    )
    yield url.set(database=DATABASE).render_as_string(hide_password=False)
    asyncio.run(execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))


async def migrate(admin_url: str) -> dict[str, str]:
    urls = {}
    for name in EVERY:
        spec = service(name)
        await ensure_service_role(admin_url, spec.schema, spec.role, TEST_ROLE_PASSWORD)
        urls[name] = role_url(admin_url, spec.role, TEST_ROLE_PASSWORD)
        await upgrade_async(spec.migrations, urls[name], spec.schema)
    return urls


def relay_lock(spec: ServiceSpec) -> int:
    return OutboxRelay(
        database_url="postgresql://unused",
        schema=spec.schema,
        bootstrap_servers="",
        service_name=spec.name,
    ).lock_id


async def relay_holders(db: asyncpg.Pool, spec: ServiceSpec) -> list[str]:
    """The sessions holding the service's relay lock, by application name (holds the pid)."""
    rows = await db.fetch(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid::bigint = $1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        relay_lock(spec),
    )
    return [row["application_name"] for row in rows]


def holder_pid(application_name: str) -> int:
    return int(application_name.rsplit(" ", 1)[1])


async def metric(http: httpx.AsyncClient, instance: Instance, name: str, **labels) -> float:
    """The sum of a Prometheus sample over the series whose labels include ``labels``."""
    text = (await http.get(f"{instance.base}/api/{instance.spec.name}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


async def until(check, what: str, timeout: float = 90.0, interval: float = 0.1):
    """Poll ``check()`` until truthy; fail naming ``what`` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(interval)


async def post_to_one(cluster: Cluster, name: str, path: str, body: dict, headers: dict, http):
    """POST to the next live instance; when it dies under the request, the same request
    (same Idempotency-Key) to another one, as a gateway retries."""
    for instance in cluster.round_robin(name):
        try:
            answer = await http.post(f"{instance.base}{path}", json=body, headers=headers)
        except GONE:
            if not instance.killed:
                raise
            cluster.written["retried on another instance"] += 1
            continue
        assert answer.status_code in (200, 201), answer.text
        cluster.written[instance.name] += 1
        return answer.json()


async def deliver_to_all(cluster: Cluster, delivery, http) -> None:
    """A provider's delivery to every live webhooks instance at once (the same event
    arriving twice, concurrently, on two instances); at least one must take it."""

    async def send(instance: Instance) -> int | None:
        try:
            answer = await http.post(
                instance.base + delivery.path,
                content=delivery.body,
                headers=delivery.headers,
                params=delivery.query,
            )
        except GONE:
            if not instance.killed:
                raise
            return None
        assert answer.status_code == 200, answer.text
        return answer.status_code

    codes = await asyncio.gather(*(send(i) for i in cluster.alive("webhooks")))
    assert 200 in codes


def test_two_instances_of_every_service_survive_losing_one_of_each(infra, scale_database, tmp_path):
    kafka = EmbeddedKafka(free_port())  # of its own: no other test's events, offsets or groups
    kafka.start(log_file=open(tmp_path / "tansu.log", "ab"))
    try:
        asyncio.run(ensure_topics(kafka.bootstrap_servers))
        urls = asyncio.run(migrate(scale_database))
        with ExitStack() as stack:
            rotessa_port = free_port()
            rotessa_log = tmp_path / "rotessa-sim.log"
            simulator = stack.enter_context(
                started([sys.executable, "-c", ROTESSA_SIMULATOR, str(rotessa_port)],
                        dict(os.environ), rotessa_log)
            )  # fmt: skip
            wait_until(answers_200(f"http://127.0.0.1:{rotessa_port}/_sim/state"), simulator,
                       rotessa_log)  # fmt: skip
            nowhere = f"http://127.0.0.1:{free_port()}"
            base_env = {
                **os.environ,
                "FOLIO_ENV": "test",
                "FOLIO_LOG_JSON": "false",
                "PYTHONUNBUFFERED": "1",
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                "FOLIO_ROTESSA_BASE_URL": f"http://127.0.0.1:{rotessa_port}/v1",
                "FOLIO_BEDS24_BASE_URL": f"{nowhere}/v2",
                "FOLIO_SYNC_ENABLED": "false",
                "FOLIO_RUN_JOBS": "false",
                # a dead runner's backfill is resumed once its lease runs out
                "FOLIO_BACKFILL_LEASE_SECONDS": "3",
                "FOLIO_BACKFILL_POLL_SECONDS": "0.2",
                # a runner retries a failing report page until the test lets Rotessa answer
                "FOLIO_ROTESSA_MAX_ATTEMPTS": "1000000",
                "FOLIO_ROTESSA_BACKOFF_MAX_SECONDS": "0.5",
                # one page requested at a time, so the test knows which one a runner awaits
                "FOLIO_BACKFILL_PREFETCH_PAGES": "0",
            }
            cluster = Cluster(
                instances={
                    name: [Instance(service(name), label, free_port()) for label in "ab"]
                    for name in EVERY
                },
                admin_url=scale_database,
                urls=urls,
                bootstrap_servers=kafka.bootstrap_servers,
                schemas={name: service(name).schema for name in NAMES},
            )

            def start(instances: list[Instance]) -> None:
                waits = []
                for instance in instances:
                    env = {**base_env, "DATABASE_URL": urls[instance.spec.name],
                           "FOLIO_HTTP_PORT": str(instance.port),
                           # the console's calls to the ledger: to the one that survives
                           "FOLIO_LEDGER_URL": cluster.instances["ledger"][1].base}  # fmt: skip
                    log = tmp_path / f"{instance.name}.log"
                    argv = uvicorn_argv(instance.spec.app, instance.port)
                    instance.process = stack.enter_context(started(argv, env, log))
                    ready = answers_200(f"{instance.base}/api/{instance.spec.name}/readyz")
                    waits.append((ready, instance.process, log))
                for ready, process, log in waits:
                    wait_until(ready, process, log)

            # the "a" instances first, so that they hold every relay and the backfill
            start([cluster.instances[name][0] for name in EVERY])
            try:
                asyncio.run(scenario(cluster, rotessa_port, start))
            finally:
                print("scale-out figures:", json.dumps(cluster.figures, sort_keys=True))
    finally:
        kafka.stop()


async def scenario(cluster: Cluster, rotessa_port: int, start) -> None:
    staff = admin_headers(ServiceSettings(environment="test"), roles=("admin",))
    db = await asyncpg.create_pool(to_plain_url(cluster.admin_url), min_size=1, max_size=6)
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        try:
            await run_load(cluster, rotessa_port, start, db, http, staff)
        finally:
            await db.close()


async def run_load(cluster, rotessa_port, start, db, http, staff) -> None:
    figures = cluster.figures
    sim = f"http://127.0.0.1:{rotessa_port}/_sim"
    a = {name: cluster.instances[name][0] for name in EVERY}
    b = {name: cluster.instances[name][1] for name in EVERY}

    async def holder(name: str) -> list[str]:
        return await relay_holders(db, service(name))

    for name in NAMES:  # each "a" relay holds its service's lock
        held = await until(lambda n=name: holder(n), f"{name}'s relay active")
        assert [holder_pid(h) for h in held] == [a[name].process.pid]

    # 1. the "b" instances join, but rotessa-sync's (below): standbys for the relays, half
    # the partitions each; the first wave of invoices is made on both ledgers
    await asyncio.to_thread(start, [b[name] for name in EVERY if name != "rotessa"])
    wave_1 = []
    for i in range(WAVE_1):
        wave_1.append(await post_to_one(cluster, "ledger", "/api/ledger/entries", {
            "entry_type": "RENT", "amount_minor": 100_000 + i * 137, "currency": "SAR",
        }, {**staff, "Idempotency-Key": str(uuid.uuid4())}, http))  # fmt: skip

    # a finance user signs in to the console on console-a (killed below)
    email, password = "scale-admin@example.com", "scale-out-password-1"
    await add_user(cluster.urls["console"], email, Role.ADMIN, password)
    form = await http.get(f"{a['console'].base}/sign-in")
    [token] = re.findall(r'name="sign_in_token" value="([^"]+)"', form.text)
    signed_in = await http.post(
        f"{a['console'].base}/sign-in",
        data={"email": email, "password": password, "sign_in_token": token, "next": "/"},
        headers={"Cookie": f"folio_sign_in={form.cookies['folio_sign_in']}"},
    )
    assert signed_in.status_code == 303, signed_in.text
    console_session = signed_in.cookies["folio_session"]
    http.cookies.clear()  # sent by hand: one jar would mix the instances' cookies

    # 2. a Rotessa backfill of three pages, claimed by rotessa-a (the only runner yet)
    made = (await http.post(f"{sim}/customers", json={
        "name": "Scale Borrower", "amount": "1500.00", "process_date": "2025-01-01",
        "bulk_count": BACKFILL_TRANSACTIONS, "bulk_first_date": "2025-01-01",
        "bulk_per_day": 4,  # all in the past: a backfill reads up to today
    })).json()  # fmt: skip
    mortgage = (await http.post(f"{a['registry'].base}/api/registry/mortgages", json={
        "borrower_name": "Scale Borrower", "principal_minor": 90_000_000, "currency": "CAD",
    }, headers=staff)).json()  # fmt: skip

    async def rotessa_knows(instance: Instance, mortgage_ids: set[str]) -> bool:
        listed = await http.get(f"{instance.base}/api/rotessa/mortgages/unlinked", headers=staff)
        return mortgage_ids <= {m["mortgage_id"] for m in listed.json()}

    await until(lambda: rotessa_knows(a["rotessa"], {mortgage["id"]}), "mortgage in rotessa-sync")
    # report pages are slow (3 s each): once the first is in, the test has the second's
    # 3 s to make Rotessa fail every later one (503) until it clears the fault after the
    # kill, so that rotessa-a's runner is retrying a page when it dies
    await http.put(
        f"{sim}/faults", json={"delay_seconds": 3.0, "endpoints": ["transaction_report"]}
    )
    link = (await http.post(f"{a['rotessa'].base}/api/rotessa/links", json={
        "mortgage_id": mortgage["id"], "schedule_id": made["schedule_id"],
        "customer_id": made["customer_id"], "start_backfill": True,
    }, headers={**staff, "Idempotency-Key": str(uuid.uuid4())})).json()  # fmt: skip
    backfill_id = link["backfill_id"]

    async def backfill_row():
        return await db.fetchrow(
            "SELECT status, next_page, lease_owner, metrics FROM rotessa_sync.backfill_log"
            " WHERE backfill_id = $1",
            uuid.UUID(backfill_id),
        )

    async def first_page_done():
        row = await backfill_row()
        return row if row["next_page"] >= 2 else None

    claimed = await until(first_page_done, "the backfill's first page", interval=0.02)
    await http.put(f"{sim}/faults", json={
        "fail_next": 10**9, "fail_status": 503, "endpoints": ["transaction_report"],
    })  # fmt: skip
    runner_a = claimed["lease_owner"]
    await asyncio.to_thread(start, [b["rotessa"]])
    for name in NAMES:
        assert await metric(http, b[name], "folio_outbox_relay_active") == 0
        assert await metric(http, a[name], "folio_outbox_relay_active") == 1

    # 3. the mixed load; killed at half of wave 1 PAID
    providers = PaymentProviders()
    killed = asyncio.Event()
    moments: dict[str, float] = {}
    accepted = Counter()

    async def pay(entries: list[dict], offset: int) -> None:
        for i, entry in enumerate(entries):
            provider = PROVIDERS[(i + offset) % len(PROVIDERS)]
            amount = entry["amount_minor"]
            story = providers.pay(
                provider, entry["invoice_number"], f"{amount // 100}.{amount % 100:02d}"
            )
            for delivery in story.deliveries:
                await deliver_to_all(cluster, delivery, http)
                accepted["deliveries"] += 1
            accepted[provider] += 1

    async def pay_wave_1() -> None:
        # three quarters free-running (the kill lands among them), the rest after the kill
        await asyncio.gather(*(pay(wave_1[k : WAVE_1 * 3 // 4 : 4], k) for k in range(4)))
        await killed.wait()
        await pay(wave_1[WAVE_1 * 3 // 4 :], 0)

    wave_2: list[dict] = []

    async def create_wave_2() -> None:
        for i in range(WAVE_2):
            if i == WAVE_2 // 2:
                await killed.wait()
            wave_2.append(await post_to_one(cluster, "ledger", "/api/ledger/entries", {
                "entry_type": "RENT", "amount_minor": 200_000 + i * 91, "currency": "SAR",
            }, {**staff, "Idempotency-Key": str(uuid.uuid4())}, http))  # fmt: skip

    async def paid(invoices: list[str]) -> int:
        return await db.fetchval(
            "SELECT count(*) FROM ledger.entries WHERE invoice_number = ANY($1) AND status = 'PAID'",
            invoices,
        )

    async def consumed(instance: Instance, group: str) -> float:
        return await metric(http, instance, "folio_events_consumed_total", consumer=group)

    async def kill_at_half() -> None:
        invoices = [e["invoice_number"] for e in wave_1]

        async def half_paid() -> bool:
            return await paid(invoices) >= KILL_WHEN_PAID

        await until(half_paid, "half of wave 1 paid")
        figures["paid_at_kill"] = await paid(invoices)
        figures["deliveries_accepted_at_kill"] = accepted["deliveries"]
        # consumer groups share the partitions: both ledgers and both registries consumed
        figures["consumed_before_kill"] = {
            i.name: await consumed(i, group)
            for name, group in (("ledger", "ledger"), ("registry", "registry"))
            for i in cluster.instances[name]
        }
        # the standbys published nothing: one relay per service
        figures["published_by_standby_before_kill"] = {
            b[name].name: await metric(http, b[name], "folio_outbox_published_total")
            for name in NAMES
        }
        row = await backfill_row()  # rotessa-a's runner is waiting on a page
        assert (row["status"], row["lease_owner"]) == ("RUNNING", runner_a), dict(row)
        figures["backfill_pages_done_at_kill"] = row["next_page"] - 1
        killed_at = {}
        for name in EVERY:
            a[name].kill()
            killed_at[name] = time.monotonic()
        killed.set()
        moments["killed"] = time.monotonic()
        await http.delete(f"{sim}/faults")  # Rotessa answers again, for the survivor
        figures["rotessa_report_requests_at_kill"] = (await http.get(f"{sim}/state")).json()[
            "requests"
        ]["transaction_report"]
        takeover = {}

        async def taken_over(name: str) -> bool:
            held = await holder(name)
            return bool(held) and holder_pid(held[0]) == b[name].process.pid

        async def measure(name: str) -> None:
            await until(lambda: taken_over(name), f"{name}-b's relay taking over", 60, 0.02)
            takeover[name] = round(time.monotonic() - killed_at[name], 2)

        async def backfill_resumed() -> None:
            async def claimed_again():
                row = await backfill_row()
                return row["lease_owner"] not in (None, runner_a) or row["status"] != "RUNNING"

            await until(claimed_again, "the backfill claimed by rotessa-b", 60, 0.05)
            figures["backfill_resumed_after_seconds"] = round(
                time.monotonic() - killed_at["rotessa"], 2
            )

        await asyncio.gather(*(measure(name) for name in NAMES), backfill_resumed())
        figures["relay_takeover_seconds"] = takeover

    await asyncio.wait_for(asyncio.gather(pay_wave_1(), create_wave_2(), kill_at_half()), 120)
    assert all(figures["consumed_before_kill"].values()), figures["consumed_before_kill"]
    assert not any(figures["published_by_standby_before_kill"].values())

    # 4. after the kill, on the survivors: wave 2 paid, mortgages through registry-b
    await pay(wave_2, 1)
    more = [
        (await http.post(f"{b['registry'].base}/api/registry/mortgages", json={
            "borrower_name": f"After {i}", "principal_minor": 10_000_000 + i, "currency": "CAD",
        }, headers=staff)).json()["id"]
        for i in range(MORTGAGES_AFTER_KILL)
    ]  # fmt: skip

    # 5. everything settles
    every = [e["invoice_number"] for e in wave_1 + wave_2]

    async def all_paid() -> bool:
        return await paid(every) == len(every)

    await until(all_paid, "every invoice PAID", 120, 0.2)

    async def backfill_completed():
        row = await backfill_row()
        return row if row["status"] == "COMPLETED" else None

    done = await until(backfill_completed, "the backfill COMPLETED", 120, 0.2)
    await until(lambda: rotessa_knows(b["rotessa"], set(more)), "mortgages after the kill", 60)

    async def outboxes_drained() -> bool:
        for schema in cluster.schemas.values():
            if await db.fetchval(
                f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"
            ):
                return False
        return True

    await until(outboxes_drained, "every outbox published", 60)

    async def unconsumed() -> dict[str, int]:
        """Events in a producer's outbox not (yet) in the inbox of a group consuming them."""
        missing = {}
        for topic, groups in CONSUMERS.items():
            for consumer_schema, group in groups:
                count = 0
                for schema in cluster.schemas.values():
                    count += await db.fetchval(
                        f"SELECT count(*) FROM {schema}.outbox o WHERE o.topic = $1"
                        f" AND NOT EXISTS (SELECT 1 FROM {consumer_schema}.processed_messages p"
                        f" WHERE p.consumer = $2 AND p.event_id = o.event_id)",
                        topic, group,
                    )  # fmt: skip
                if count:
                    missing[f"{group}:{topic}"] = count
        return missing

    async def all_consumed() -> bool:
        return not await unconsumed()

    try:  # the dead members' partitions go to the survivors once their sessions expire
        await until(all_consumed, "every event consumed by every group", 90, 0.2)
        unread = {}
    except AssertionError:
        unread = await unconsumed()
    figures["every_event_consumed_seconds_after_kill"] = round(
        time.monotonic() - moments["killed"], 1
    )

    # 6. checks: exactly once in effect
    figures["invoices"] = len(every)
    figures["invoices_created"] = dict(cluster.written)
    figures["provider_deliveries_each_to_every_live_webhooks"] = accepted["deliveries"]
    figures["payments_by_provider"] = {p: accepted[p] for p in PROVIDERS}
    figures["kills"] = {name: "SIGKILL " + a[name].name for name in EVERY}
    per_invoice = await db.fetch(
        "SELECT e.invoice_number, e.amount_minor, e.paid_minor,"
        " (SELECT count(*) FROM ledger.payments p WHERE p.invoice_number = e.invoice_number"
        "   AND p.applied) AS payments,"
        " (SELECT count(DISTINCT m.transaction_id) FROM ledger.moves m"
        "   WHERE m.address = 'invoices:' || e.invoice_number) AS transactions"
        " FROM ledger.entries e WHERE e.invoice_number = ANY($1)",
        every,
    )
    assert len(per_invoice) == len(every)
    wrong = [dict(r) for r in per_invoice
             if (r["paid_minor"], r["payments"], r["transactions"]) != (r["amount_minor"], 1, 1)]  # fmt: skip
    figures["invoices_paid_more_or_less_than_once"] = len(wrong)
    assert not wrong, wrong[:5]
    # invoice creation retried across instances made no second invoice
    assert await db.fetchval("SELECT count(*) FROM ledger.entries") == len(every)

    assert done["lease_owner"] is None
    metrics = json.loads(done["metrics"]) if isinstance(done["metrics"], str) else done["metrics"]
    figures["backfill"] = {"first_runner": runner_a, "metrics": metrics}
    collected = await db.fetchval(
        "SELECT count(*) FROM ledger.transactions WHERE reference LIKE 'rotessa:txn:%'"
    )
    figures["backfill_journal_transactions"] = collected
    assert collected == BACKFILL_TRANSACTIONS
    assert metrics["confirmed"] == BACKFILL_TRANSACTIONS

    # no loss: every outbox row is on the broker and in the inbox of each group consuming it
    on_broker = await broker_contents(cluster.bootstrap_servers)
    lost, emitted = {}, 0
    for schema in cluster.schemas.values():
        rows = await db.fetch(f"SELECT event_id, topic FROM {schema}.outbox")
        emitted += len(rows)
        for row in rows:
            if str(row["event_id"]) not in on_broker.get(row["topic"], {}):
                lost.setdefault(f"broker:{row['topic']}", []).append(str(row["event_id"]))
    figures["events_emitted"] = emitted
    figures["broker_messages"] = sum(sum(ids.values()) for ids in on_broker.values())
    # what a killed relay had published but not yet marked: sent again by the survivor
    figures["broker_copies_beyond_the_first"] = sum(
        sum(ids.values()) - len(ids) for ids in on_broker.values()
    )
    figures["lost"] = sum(len(v) for v in lost.values()) + sum(unread.values())
    assert not lost, lost
    assert not unread, unread
    dead = {
        schema: await db.fetchval(f"SELECT count(*) FROM {schema}.dead_letters")
        for schema in cluster.schemas.values()
    }
    assert not any(dead.values()), dead
    figures["redeliveries_absorbed_by_inboxes"] = sum([
        await metric(http, b[name], "folio_events_consumed_total", outcome="duplicate")
        for name in ("ledger", "registry", "rotessa")
    ])  # fmt: skip
    figures["duplicates"] = len(wrong)

    # the journal's invariants, asked of the surviving ledger
    checked = await http.get(f"{b['ledger'].base}/api/ledger/journal/invariants", headers=staff,
                             params={"ledger": "folio"})  # fmt: skip
    assert checked.status_code == 200, checked.text
    assert checked.json() == {"ok": True, "problems": []}
    # the tamper-evidence chain both ledgers' sealers extended (one at a time) holds
    verified = await http.post(f"{b['ledger'].base}/api/ledger/journal/verify", headers=staff)
    assert verified.status_code == 200, verified.text
    chain = verified.json()
    assert chain["intact"] and chain["unsealed"] == 0 and not chain["problems"], chain
    figures["journal_sealed_and_intact"] = chain["sealed"]
    # the console session made on console-a serves on console-b, showing a paid invoice
    first = wave_1[0]
    shown = await http.get(
        f"{b['console'].base}/admin/payments/{first['entry_id']}",
        headers={"Cookie": f"folio_session={console_session}"},
    )
    assert shown.status_code == 200, shown.text
    assert '<span class="badge status-paid" id="entry-status">PAID</span>' in shown.text
    assert first["invoice_number"] in shown.text

    for name in NAMES:  # the survivor's relay is the one active now
        assert await metric(http, b[name], "folio_outbox_relay_active") == 1


async def broker_contents(bootstrap_servers: str) -> dict[str, Counter]:
    """Every message on the test's broker: topic → Counter of event ids (copies counted)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for topic in all_topics() for p in range(DEFAULT_PARTITIONS)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        contents: dict[str, Counter] = {}
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    event_id = json.loads(record.value)["event_id"]
                    contents.setdefault(tp.topic, Counter())[event_id] += 1
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return contents
    finally:
        await consumer.stop()
