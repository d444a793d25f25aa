"""`make run`: the whole system on one machine, no Docker.

Starts embedded PostgreSQL (data under .local/pgdata, survives restarts) and the
Tansu broker (memory storage), creates one role + schema per service, migrates,
creates topics, then runs the services, the provider simulators and the gateway
(Caddy with deploy/Caddyfile, the one address) as supervised processes (restarted
with backoff if they die). Ctrl-C stops all.
"""

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from folio.devstack.embedded import EmbeddedKafka, EmbeddedPostgres, wait_for_port
from folio.devstack.gateway import CONSOLE_PORT, caddy_argv, gateway_env
from folio.devstack.services import REPO_ROOT, SERVICES, SIMULATORS
from folio.shared.auth import mint_token, signer_from_environment
from folio.shared.messaging import ensure_topics
from folio.shared.migrations import ensure_service_role, role_url, upgrade

STATE_DIR = Path(os.environ.get("FOLIO_STACK_DIR", REPO_ROOT / ".local"))
PG_PORT = int(os.environ.get("FOLIO_PG_PORT", "15432"))
KAFKA_PORT = int(os.environ.get("FOLIO_KAFKA_PORT", "19092"))
#: Services listen on base+1..4 and simulators on base+101..103 (DESIGN.md: 8101.., 8201..).
PORT_BASE = int(os.environ.get("FOLIO_STACK_PORT_BASE", "8100"))
#: The one address a user opens: the gateway in front of the console and every service.
#: 8080, or base+80 when the ports are moved (so a second stack does not collide).
GATEWAY_PORT = int(
    os.environ.get("FOLIO_GATEWAY_PORT", 8080 if PORT_BASE == 8100 else PORT_BASE + 80)
)
GATEWAY_URL = f"http://127.0.0.1:{GATEWAY_PORT}"
DATABASE = "folio"


def port_of(default_port: int) -> int:
    return PORT_BASE + default_port - 8100


@dataclass
class Supervised:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    pump: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        self.started_at = time.monotonic()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.process and self.process.stdout
        width = 13
        for line in self.process.stdout:
            sys.stdout.write(f"{self.name:<{width}}| {line.decode(errors='replace')}")
            sys.stdout.flush()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def secret_file(name: str) -> str:
    """A per-checkout random secret kept under .local (never a shared default)."""
    path = STATE_DIR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def prepare_database(pg: EmbeddedPostgres) -> dict[str, str]:
    pg.create_database(DATABASE)
    admin_url = f"postgresql://postgres@127.0.0.1:{pg.port}/{DATABASE}"
    urls = {}
    for spec in SERVICES:
        password = secret_file(f"db-{spec.role}")
        asyncio.run(ensure_service_role(admin_url, spec.schema, spec.role, password))
        url = role_url(admin_url, spec.role, password)
        if spec.migrations.exists():
            upgrade(spec.migrations, url, spec.schema)
            print(f"migrated      | {spec.name} (schema {spec.schema}, role {spec.role})")
        urls[spec.name] = url
    return urls


def init_from_environment() -> None:
    """Production one-shot (docker-compose `init`): the admin DATABASE_URL creates each
    service's role with its password from FOLIO_DB_PASSWORD_<SCHEMA>, makes topics, migrates.

    Topics first: a schema at its head revision then also means the topics exist, which is
    what a service's initContainer (folio.shared.wait_migrated) waits for in Kubernetes."""
    admin_url = os.environ["DATABASE_URL"]
    # a single-broker compose keeps 1 copy; a real cluster wants 3 (deploy/k8s/README.md)
    topics = {"replication_factor": int(os.environ.get("FOLIO_KAFKA_REPLICATION_FACTOR", "1"))}
    if os.environ.get("FOLIO_KAFKA_PARTITIONS"):
        topics["partitions"] = int(os.environ["FOLIO_KAFKA_PARTITIONS"])
    asyncio.run(ensure_topics(os.environ["KAFKA_BOOTSTRAP_SERVERS"], **topics))
    print("topics ready")
    for spec in SERVICES:
        password = os.environ[f"FOLIO_DB_PASSWORD_{spec.schema.upper()}"]
        asyncio.run(ensure_service_role(admin_url, spec.schema, spec.role, password))
        upgrade(spec.migrations, role_url(admin_url, spec.role, password), spec.schema)
        print(f"migrated {spec.name} to {head_revision(spec)}")


def head_revision(spec) -> str:
    """The head revision of a service's migrations as this installation ships them."""
    from alembic.script import ScriptDirectory

    from folio.shared.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config(spec.migrations, "", spec.schema))
    return ",".join(sorted(script.get_heads()))


def downgrade_from_environment(service_name: str, revision: str) -> None:
    """Rollback (README): the schema of one service back to ``revision`` — the head of the
    release being rolled back to — run from the *newer* release's init image, which holds
    the downgrades. Same environment as `init` (admin DATABASE_URL, FOLIO_DB_PASSWORD_*);
    the downgrade runs as the service's role, the owner of its schema."""
    from folio.devstack.services import service
    from folio.shared.migrations import downgrade

    spec = service(service_name)
    admin_url = os.environ["DATABASE_URL"]
    password = os.environ[f"FOLIO_DB_PASSWORD_{spec.schema.upper()}"]
    downgrade(spec.migrations, role_url(admin_url, spec.role, password), spec.schema, revision)
    print(f"downgraded {spec.name} to {revision}")


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FOLIO_ENV="local",
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{KAFKA_PORT}",
        FOLIO_LOG_JSON="false",
        FOLIO_ROTESSA_BASE_URL=f"http://127.0.0.1:{port_of(8201)}/v1",
        FOLIO_BEDS24_BASE_URL=f"http://127.0.0.1:{port_of(8202)}/v2",
        # Providers post to the public address, so the simulators do too; the console
        # calls the services' public APIs there as well.
        FOLIO_WEBHOOKS_URL=GATEWAY_URL,
        FOLIO_GATEWAY_URL=GATEWAY_URL,
        PYTHONUNBUFFERED="1",
    )
    return env


def uvicorn_argv(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "--no-server-header", "--log-level", "warning"]


def run() -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    logs = STATE_DIR / "logs"
    logs.mkdir(exist_ok=True)
    pg = EmbeddedPostgres(STATE_DIR / "pgdata", PG_PORT)
    kafka = EmbeddedKafka(KAFKA_PORT)
    children: list[Supervised] = []
    stopping = False

    def shutdown(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        print(f"postgres      | starting on 127.0.0.1:{PG_PORT} (data in {pg.data_dir})")
        pg.start(log_file=open(logs / "postgres.log", "ab"))
        print(f"kafka         | starting Tansu on 127.0.0.1:{KAFKA_PORT} (memory storage)")
        kafka.start(log_file=open(logs / "tansu.log", "ab"))
        urls = prepare_database(pg)
        asyncio.run(ensure_topics(kafka.bootstrap_servers))
        env = base_env()
        for sim in SIMULATORS:
            port = port_of(sim.port)
            children.append(Supervised(sim.name, uvicorn_argv(sim.app, port), env, port))
        for spec in SERVICES:
            port = port_of(spec.port)
            service_env = {**env, "DATABASE_URL": urls[spec.name], "FOLIO_HTTP_PORT": str(port)}
            children.append(Supervised(spec.name, uvicorn_argv(spec.app, port), service_env, port))
        upstreams = {s.name: port_of(s.port) for s in SERVICES}
        upstreams.setdefault("console", port_of(CONSOLE_PORT))
        access_log = logs / "gateway-access.log"
        caddy_env = {**env, **gateway_env(GATEWAY_PORT, upstreams, access_log, STATE_DIR / "caddy")}
        children.append(Supervised("gateway", caddy_argv(), caddy_env, GATEWAY_PORT))
        for child in children:
            child.start()
        for child in children:
            wait_for_port(child.port, 60)
        print_banner(logs)
        print_console_admin(urls["console"])
        while not stopping:
            time.sleep(0.5)
            if stopping:
                break
            if kafka.process and kafka.process.poll() is not None:
                print("kafka         | broker exited; restarting it (memory storage starts empty)")
                kafka.start(log_file=open(logs / "tansu.log", "ab"))
                asyncio.run(ensure_topics(kafka.bootstrap_servers))
            for child in children:
                if child.process and child.process.poll() is not None and not stopping:
                    delay = min(2 ** child.restarts, 30)
                    print(f"{child.name:<13}| exited with {child.process.returncode}; "
                          f"restarting in {delay}s")
                    time.sleep(delay)
                    child.restarts += 1
                    child.start()
    finally:
        print("\nstopping …")
        for child in reversed(children):
            child.stop()
        kafka.stop()
        pg.stop()
        print("stopped.")


def local_token(subject: str = "local-admin", roles: list[str] | None = None,
                ttl_seconds: int = 12 * 3600) -> str:
    return mint_token(subject, roles or ["admin"], signer_from_environment(),
                      ttl_seconds=ttl_seconds)


def demo() -> int:
    """`make demo`: the demo portfolio, into the stack `make run` started."""
    from folio.devstack.demo import load_demo

    if not wait_ready(30):
        print(f"Folio is not running at {GATEWAY_URL}: start it with `make run` first.")
        return 1
    simulators = {
        "payments": f"http://127.0.0.1:{port_of(8203)}",
        "beds24": f"http://127.0.0.1:{port_of(8202)}",
        "rotessa": f"http://127.0.0.1:{port_of(8201)}",
    }
    token = local_token("demo-loader", ["admin"], ttl_seconds=3600)
    print(f"loading the demo portfolio into {GATEWAY_URL} …")
    report = asyncio.run(load_demo(GATEWAY_URL, token, simulators))
    if report.nothing_added:
        print("the demo portfolio is already loaded: nothing added.")
    for what, count in sorted(report.created.items()):
        print(f"  {count:>5}  {what}")
    print(f"\nopen {GATEWAY_URL}/ and sign in (the credentials `make run` printed).")
    return 0


def print_banner(logs: Path) -> None:
    print(f"\nFolio is up: {GATEWAY_URL}/\n")
    print(f"  console      {GATEWAY_URL}/")
    for spec in SERVICES:
        if spec.name != "console":  # the console is the gateway's / above
            base = f"{GATEWAY_URL}/api/{spec.name}"
            print(f"  {spec.name:<12} {base}/docs   ready: {base}/readyz")
    print("\n  Provider simulators (each page lists its routes):")
    for sim in SIMULATORS:
        print(f"  {sim.name:<12} http://127.0.0.1:{port_of(sim.port)}/")
    print(f"\n  Gateway access log (JSON lines): {logs / 'gateway-access.log'}")
    print(f"  Postgres   postgresql://postgres@127.0.0.1:{PG_PORT}/{DATABASE}")
    print(f"  Kafka      127.0.0.1:{KAFKA_PORT}")
    print(f"\n  Admin token (12 h; `make token` mints another):\n  {local_token()}\n")
    print("  Ctrl-C stops everything.\n")


def print_console_admin(console_database_url: str) -> None:
    """The local console admin: created on the first run, its credentials on every one."""
    from folio.console.cli import ensure_local_admin

    email, password, created = ensure_local_admin(console_database_url, STATE_DIR)
    note = "created now" if created else "kept in .local/secrets/console-admin-password"
    print(f"  Console    {GATEWAY_URL}/  sign in as {email}")
    print(f"             password {password}  ({note}; `make user ARGS=...` adds users)\n")


def wait_ready(timeout: float = 120) -> bool:
    """Used by scripts: poll every /readyz, through the gateway, until all answer 200."""
    import httpx

    deadline = time.monotonic() + timeout
    pending = {s.name: f"{GATEWAY_URL}/api/{s.name}/readyz" for s in SERVICES}
    while pending and time.monotonic() < deadline:
        for name, url in list(pending.items()):
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    pending.pop(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    return not pending


