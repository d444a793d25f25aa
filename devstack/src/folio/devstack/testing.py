"""pytest plugin: real Postgres and a real Kafka-protocol broker for integration tests.

Resolution order for each: ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` when
set; testcontainers when a Docker engine answers; otherwise the embedded pair
(one throw-away PostgreSQL and one Tansu broker per test session).
"""

import asyncio
import json
import os
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from folio.devstack.embedded import EmbeddedKafka, EmbeddedPostgres, free_port, remove_tree
from folio.devstack.services import service
from folio.devstack.stack import uvicorn_argv
from folio.shared.messaging import ensure_topics
from folio.shared.migrations import ensure_service_role, role_url, upgrade_async

TEST_ROLE_PASSWORD = "folio-test"


@dataclass
class Infra:
    admin_database_url: str
    kafka_bootstrap_servers: str
    _service_urls: dict[str, str] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def service_database_url(self, name: str) -> str:
        """Create the service's role and schema and migrate it (once per session)."""
        async with self._lock:
            if name not in self._service_urls:
                spec = service(name)
                await ensure_service_role(
                    self.admin_database_url, spec.schema, spec.role, TEST_ROLE_PASSWORD
                )
                url = role_url(self.admin_database_url, spec.role, TEST_ROLE_PASSWORD)
                await upgrade_async(spec.migrations, url, spec.schema)
                self._service_urls[name] = url
            return self._service_urls[name]


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def infra() -> Infra:
    database_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    stops: list[Callable[[], None]] = []
    workdir = Path(tempfile.mkdtemp(prefix="folio-test-"))
    use_docker = (not database_url or not bootstrap) and docker_available()
    try:
        if not database_url:
            if use_docker:
                from testcontainers.postgres import PostgresContainer

                pg_container = PostgresContainer("postgres:16-alpine", driver=None)
                pg_container.start()
                stops.append(pg_container.stop)
                database_url = pg_container.get_connection_url()
            else:
                pg = EmbeddedPostgres(workdir / "pg", free_port(), durable=False)
                pg.start(log_file=open(workdir / "postgres.log", "ab"))
                stops.append(pg.stop)
                pg.create_database("folio_test")
                database_url = pg.admin_url.rsplit("/", 1)[0] + "/folio_test"
        if not bootstrap:
            if use_docker:
                from testcontainers.kafka import KafkaContainer

                kafka_container = KafkaContainer().with_kraft()
                kafka_container.start()
                stops.append(kafka_container.stop)
                bootstrap = kafka_container.get_bootstrap_server()
            else:
                kafka = EmbeddedKafka(free_port())
                kafka.start(log_file=open(workdir / "tansu.log", "ab"))
                stops.append(kafka.stop)
                bootstrap = kafka.bootstrap_servers
        asyncio.run(ensure_topics(bootstrap))
        yield Infra(admin_database_url=database_url, kafka_bootstrap_servers=bootstrap)
    finally:
        for stop in reversed(stops):
            stop()
        remove_tree(workdir)


@asynccontextmanager
async def running_app(app) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (consumers, relay) and talk to it in-process over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@contextmanager
def started(argv: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """A subprocess writing to ``log_path``, stopped (SIGTERM, then SIGKILL) on exit."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(ready: Callable[[], bool], process: subprocess.Popen, log_path: Path,
               timeout: float = 90) -> None:
    """Poll ``ready()``; fail with the log's tail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            exited = process.poll() is not None
            state = f"exited with {process.returncode}" if exited else "not ready"
            pytest.fail(f"{process.args[:4]} {state}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)


def answers_200(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return check


@contextmanager
def service_processes(
    infra: Infra, names: Sequence[str], log_dir: Path, env: dict[str, str] | None = None
) -> Iterator[dict[str, int]]:
    """The named services as `make run` runs them (uvicorn subprocesses), migrated and
    on free ports, against ``infra``: yields name → port once every /readyz answers 200.
    For synchronous fixtures (it runs the migrations with ``asyncio.run``)."""
    nowhere = f"http://127.0.0.1:{free_port()}"  # never a developer's running simulators
    base = {
        **os.environ,
        "FOLIO_ENV": "test",
        "FOLIO_LOG_JSON": "false",
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "FOLIO_ROTESSA_BASE_URL": f"{nowhere}/v1",
        "FOLIO_BEDS24_BASE_URL": f"{nowhere}/v2",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    ports: dict[str, int] = {}
    with ExitStack() as stack:
        waits = []
        for name in names:
            port = ports[name] = free_port()
            url = asyncio.run(infra.service_database_url(name))
            service_env = {**base, "DATABASE_URL": url, "FOLIO_HTTP_PORT": str(port)}
            log_path = log_dir / f"{name}.log"
            argv = uvicorn_argv(service(name).app, port)
            process = stack.enter_context(started(argv, service_env, log_path))
            ready = answers_200(f"http://127.0.0.1:{port}/api/{name}/readyz")
            waits.append((ready, process, log_path))
        for ready, process, log_path in waits:  # started together, waited for in turn
            wait_until(ready, process, log_path)
        yield ports


def admin_headers(settings, roles=("admin",), subject="test-admin") -> dict[str, str]:
    from folio.shared.auth import local_dev_signer, mint_token

    # Tests run with the services' default (local development) public key.
    token = mint_token(subject, list(roles), local_dev_signer())
    return {"Authorization": f"Bearer {token}"}


async def eventually(check: Callable, timeout: float = 20.0, interval: float = 0.1):  # noqa: ASYNC109
    """Await ``check()`` until it returns a truthy value (or raise its last assertion)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def rows_read_by_generic_plan(connection, sql: str, *args) -> int:
    """The most rows one step of ``sql``'s generic plan reads in one pass.

    Runs ``EXPLAIN ANALYZE`` with ``plan_cache_mode = force_generic_plan`` (the plan a
    prepared statement settles on after a few runs) on an asyncpg ``connection``, in a
    transaction that is rolled back. A batch statement whose figure follows its
    table's size rather than its batch's scans that table: it slows down as the
    table grows.
    """
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        plan = await connection.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    finally:
        await transaction.rollback()
    if isinstance(plan, str):  # no json codec on this connection
        plan = json.loads(plan)
    return _most_rows(plan[0]["Plan"])


def _most_rows(node: dict) -> int:
    """Rows a plan node read per loop (returned or filtered out), the largest in its tree."""
    read = (
        node.get("Actual Rows", 0)
        + node.get("Rows Removed by Filter", 0)
        + node.get("Rows Removed by Join Filter", 0)
        + node.get("Rows Removed by Index Recheck", 0)
    )
    return max([int(read), *(_most_rows(child) for child in node.get("Plans", []))])
