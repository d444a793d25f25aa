"""The production path, booted without Docker: what each image installs, installed the same
way into a fresh virtualenv outside the checkout, running the compose `init` command and
each service's container command with production settings, against real PostgreSQL and
Kafka, behind the compose gateway (Caddy with deploy/Caddyfile) — then an invoice paid end
to end through the gateway with production secrets, and seen PAID in the console by an
admin the console's CLI created.

Each image's package list, lock, command, healthcheck and environment come from its
Dockerfile and docker-compose.yml (folio.devstack.images), so an image that would miss a
file (a migration, a template, a dependency) fails here. The only changes are the ones a
container engine makes: compose's host names become this machine's addresses, and the
container's port is published on a free one. A stage that makes files for the final
stage (the console's `assets`: `npm ci` from its lock) is redone from the Dockerfile too.
"""

import ast
import asyncio
import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from folio.devstack.embedded import EmbeddedKafka, free_port
from folio.devstack.gateway import caddy_argv
from folio.devstack.images import (
    Container,
    Image,
    Stage,
    compose_containers,
    in_stage,
    in_venv,
    localize,
    localize_gateway,
)
from folio.devstack.services import REPO_ROOT, SERVICES
from folio.devstack.testing import TEST_ROLE_PASSWORD
from folio.shared.auth import TokenSigner, local_dev_signer, mint_token
from folio.shared.settings import to_plain_url
from folio.simulators.payments.moyasar import MoyasarSimulator
from folio.simulators.payments.scenarios import PaymentProviders

pytestmark = pytest.mark.integration

DATABASE = "folio_boot"
UV = Path(sys.executable).with_name("uv")
#: The interpreter a python:3.11 image has: this machine's base Python, not the checkout's venv.
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done


class Builder:
    """Builds each image's runtime virtualenv like its Dockerfile: a build virtualenv
    from the build lock makes the wheels (non-editable), the runtime one gets the hashed
    lock (wheels only) and then those wheels with --no-deps. One virtualenv per distinct
    (lock, package list); wheels built once per package."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wheels: dict[str, Path] = {}
        self.venvs: dict[tuple, Path] = {}
        self.stages: dict[tuple[str, str | None], Path] = {}
        self.build_python: Path | None = None

    def _build_venv(self, build_lock: str) -> Path:
        if self.build_python is None:
            venv = self.root / "build-venv"
            run(
                [BASE_PYTHON, "-m", "venv", str(venv)]
            )  # with pip, as `python -m venv` in the image
            python = venv / "bin" / "python"
            run(
                [
                    str(UV),
                    "pip",
                    "install",
                    "--python",
                    str(python),
                    "--quiet",
                    "--only-binary",
                    ":all:",
                    "--require-hashes",
                    "-r",
                    str(REPO_ROOT / build_lock),
                ]
            )
            self.build_python = python
        return self.build_python

    def wheel(self, package: str, build_lock: str) -> Path:
        if package not in self.wheels:
            out = self.root / "wheels" / package.replace("/", "-")
            run(
                [
                    str(self._build_venv(build_lock)),
                    "-m",
                    "pip",
                    "wheel",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--no-build-isolation",
                    "--no-index",
                    "--wheel-dir",
                    str(out),
                    f"./{package}",
                ],
                cwd=REPO_ROOT,
            )
            [built] = out.glob("*.whl")
            self.wheels[package] = built
        return self.wheels[package]

    def venv(self, container: Container) -> Path:
        image = container.image
        key = (image.lock, image.packages)
        if key not in self.venvs:
            venv = self.root / f"venv-{len(self.venvs)}"
            run([BASE_PYTHON, "-m", "venv", "--without-pip", str(venv)])
            python = str(venv / "bin" / "python")
            run(
                [
                    str(UV),
                    "pip",
                    "install",
                    "--python",
                    python,
                    "--quiet",
                    "--only-binary",
                    ":all:",
                    "--require-hashes",
                    "-r",
                    str(REPO_ROOT / image.lock),
                ]
            )
            wheels = [str(self.wheel(p, image.build_lock)) for p in image.packages]
            run(
                [
                    str(UV),
                    "pip",
                    "install",
                    "--python",
                    python,
                    "--quiet",
                    "--no-deps",
                    "--no-index",
                    *wheels,
                ]
            )
            self.artifacts(image, venv)
            self.venvs[key] = venv
        return self.venvs[key]

    def _stage(self, dockerfile: str, stage: Stage) -> Path:
        """The stage redone: its COPYs from the checkout into a directory standing for its
        WORKDIR, then its RUNs there (the console's: `npm ci` from package-lock.json)."""
        key = (dockerfile, stage.name)
        if key not in self.stages:
            directory = self.root / "stages" / f"{Path(dockerfile).parent.name}-{stage.name}"
            directory.mkdir(parents=True)
            for sources, destination in stage.copies:
                target = in_stage(stage, destination, directory)
                into_directory = len(sources) > 1 or destination.endswith("/")
                for source in sources:
                    path = REPO_ROOT / source
                    copy = target / path.name if into_directory else target
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    if path.is_dir():
                        shutil.copytree(path, copy)
                    else:
                        shutil.copyfile(path, copy)
            for command in stage.runs:
                run(["sh", "-c", command], cwd=directory)
            self.stages[key] = directory
        return self.stages[key]

    def artifacts(self, image: Image, venv: Path) -> None:
        """The final stage's COPY --from=<stage> of what another stage made, into ``venv``
        where the image has it under its virtualenv."""
        for artifact in image.artifacts:
            directory = self._stage(image.dockerfile, artifact.stage)
            target = in_venv(artifact.destination, venv)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(in_stage(artifact.stage, artifact.source, directory), target)


def keygen(python: Path, cwd: Path) -> dict[str, str]:
    """`python -m folio.devstack keygen`, as an operator runs it, parsed."""
    out = run([str(python), "-m", "folio.devstack", "keygen"], cwd=cwd).stdout
    values = {}
    for line in out.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key] = ast.literal_eval(value) if value[:1] in "'\"" else value
    return values


def production_secrets() -> dict[str, str]:
    random = secrets.token_urlsafe
    return {
        "POSTGRES_PASSWORD": random(18),
        "LEDGER_DB_PASSWORD": random(18),
        "REGISTRY_DB_PASSWORD": random(18),
        "ROTESSA_DB_PASSWORD": random(18),
        "WEBHOOKS_DB_PASSWORD": random(18),
        "CONSOLE_DB_PASSWORD": random(18),
        "ROTESSA_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # never called here
        "ROTESSA_API_KEY": random(24),
        "MOYASAR_WEBHOOK_SECRET": random(24),
        "TABBY_WEBHOOK_SECRET": random(24),
        "TAMARA_NOTIFICATION_TOKEN": random(32),
        "STANDARD_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(24)).decode(),
    }


def process_env(environment: dict[str, str], home: Path) -> dict[str, str]:
    """Only what the container has: its environment, no PYTHONPATH, no checkout venv."""
    return {**environment, "HOME": str(home), "LANG": "C.UTF-8"}


def wait_healthy(name: str, process: subprocess.Popen, healthcheck, env, cwd, timeout=90.0):
    """Run the image's own HEALTHCHECK until it passes (or the process dies)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"{name} exited with {process.returncode}:\n{output}")
        probe = subprocess.run(list(healthcheck), env=env, cwd=cwd, capture_output=True, timeout=10)
        if probe.returncode == 0:
            return
        assert time.monotonic() < deadline, f"{name} never became healthy: {probe.stderr!r}"
        time.sleep(0.2)


def wait_ready(name: str, url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{name} never answered 200 on {url}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def boot_database(infra):
    """A database of its own on the session's server (roles are cluster-wide: reset after)."""
    admin = to_plain_url(infra.admin_database_url)

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
    url = make_url(admin)
    yield (url.host or "127.0.0.1", url.port or 5432, DATABASE)
    asyncio.run(
        execute(
            f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
            *(
                # only the roles init got to (a failed boot may have stopped early)
                f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{s.role}') THEN "
                f"ALTER ROLE \"{s.role}\" WITH PASSWORD '{TEST_ROLE_PASSWORD}'; END IF; END $$"
                for s in SERVICES
            ),
        )
    )


def test_the_images_boot_migrate_and_pay_an_invoice_in_production_mode(infra, boot_database):
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    root = Path(tempfile.mkdtemp(prefix="folio-boot-"))
    assert not root.resolve().is_relative_to(REPO_ROOT)
    workdir = root / "run"  # every process's cwd: nothing of the checkout is importable
    workdir.mkdir()
    processes: list[tuple[str, subprocess.Popen]] = []
    # A broker of its own: this deployment has its own database, and on the session's
    # shared broker its services would consume (and commit the offsets of) other tests'
    # events, and other tests' ledgers would later apply its payments to their own
    # invoices of the same number.
    kafka = EmbeddedKafka(free_port())
    kafka.start(log_file=open(root / "tansu.log", "ab"))
    try:
        builder = Builder(root)
        init_venv = builder.venv(compose_containers(REPO_ROOT, compose, _Any())["init"])
        keys = keygen(init_venv / "bin" / "python", workdir)
        variables = {
            **production_secrets(),
            **{k: keys[k] for k in ("FOLIO_JWT_PUBLIC_KEYS", "FOLIO_JWT_PRIVATE_KEY",
                                    "FOLIO_JWT_KEY_ID")},
        }  # fmt: skip
        containers = compose_containers(REPO_ROOT, compose, variables)
        ports = {name: free_port() for name in containers if name != "init"}
        gateway_port = free_port()

        def environment_of(container: Container, venv: Path) -> dict[str, str]:
            return process_env(
                localize(
                    container.environment,
                    postgres=boot_database,
                    kafka=kafka.bootstrap_servers,
                    http_port=ports.get(container.name),
                    venv=venv,
                    gateway=f"127.0.0.1:{gateway_port}",
                ),
                root,
            )

        # every image is really installed, not linked to the checkout
        for container in containers.values():
            venv = builder.venv(container)
            for package in {s.package for s in SERVICES if s.directory in container.image.packages}:
                where = run(
                    [
                        str(venv / "bin" / "python"),
                        "-c",
                        f"import {package}; print({package}.__file__)",
                    ],
                    cwd=workdir,
                ).stdout
                assert Path(where.strip()).is_relative_to(venv), where

        def wait_migrated(spec, seconds: int) -> subprocess.CompletedProcess:
            """The Kubernetes initContainer of the service's Deployment (deploy/k8s)."""
            container = containers[spec.name]
            env = {
                **environment_of(container, builder.venv(container)),
                "FOLIO_MIGRATION_WAIT_SECONDS": str(seconds),
            }
            argv = ["python", "-m", "folio.shared.wait_migrated", spec.package, spec.schema]
            return subprocess.run(
                argv, env=env, cwd=workdir, capture_output=True, text=True, timeout=60
            )

        assert wait_migrated(SERVICES[0], 0).returncode == 1  # before init: not migrated

        # 1. the compose init: roles, schemas, every service's migrations, topics
        init = containers["init"]
        venv = builder.venv(init)
        done = subprocess.run(
            list(init.command),
            env=environment_of(init, venv),
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"init failed:\n{done.stdout}\n{done.stderr}"
        for spec in SERVICES:
            assert f"migrated {spec.name}" in done.stdout
        assert "topics ready" in done.stdout

        # 2. every service's container command, each on its own role
        for spec in SERVICES:
            container = containers[spec.name]
            assert container.depends_on.get("init") == "service_completed_successfully"
            venv = builder.venv(container)
            env = environment_of(container, venv)
            assert make_url(env["DATABASE_URL"]).username == spec.role
            waited = wait_migrated(spec, 30)
            assert waited.returncode == 0, waited.stdout + waited.stderr
            process = subprocess.Popen(
                list(container.command),
                env=env,
                cwd=workdir,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            processes.append((spec.name, process))
        for spec in SERVICES:
            container = containers[spec.name]
            env = environment_of(container, builder.venv(container))
            process = dict(processes)[spec.name]
            wait_healthy(spec.name, process, container.image.healthcheck, env, workdir)
            wait_ready(spec.name, f"http://127.0.0.1:{ports[spec.name]}/api/{spec.name}/readyz")

        # 3. compose's gateway: Caddy with deploy/Caddyfile (the file compose mounts) and
        # compose's environment, its upstreams moved to the services' ports here
        gateway_environment = compose["services"]["gateway"]["environment"]
        gateway_log = root / "gateway.log"
        with gateway_log.open("w") as log:  # the access log goes to stdout, as in compose
            caddy = subprocess.Popen(
                caddy_argv(),
                env={
                    **localize_gateway(gateway_environment, port=gateway_port, upstreams=ports),
                    "XDG_CONFIG_HOME": str(root / "caddy" / "config"),
                    "XDG_DATA_HOME": str(root / "caddy" / "data"),
                    "HOME": str(root),
                },
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(("gateway", caddy))
        gateway = f"http://127.0.0.1:{gateway_port}"
        for spec in SERVICES:
            wait_ready(f"{spec.name} through the gateway", f"{gateway}/api/{spec.name}/readyz")

        # 4. an invoice paid end to end through the gateway with the production secrets
        ledger = f"{gateway}/api/ledger"
        signer = TokenSigner.from_pem(keys["FOLIO_JWT_PRIVATE_KEY"], keys["FOLIO_JWT_KEY_ID"])
        staff = {"Authorization": f"Bearer {mint_token('boot-admin', ['admin'], signer)}"}
        local = {"Authorization": f"Bearer {mint_token('x', ['admin'], local_dev_signer())}"}
        body = {"entry_type": "RENT", "amount_minor": 350_000, "currency": "SAR"}
        with httpx.Client(timeout=10) as http:
            refused = http.post(f"{ledger}/entries", json=body, headers=local)
            assert refused.status_code == 401, "production must refuse the local development key"
            created = http.post(f"{ledger}/entries", json=body, headers=staff)
            assert created.status_code == 201, created.text
            entry = created.json()
            providers = PaymentProviders(
                moyasar=MoyasarSimulator(secret_token=variables["MOYASAR_WEBHOOK_SECRET"])
            )
            story = providers.pay("moyasar", entry["invoice_number"], "3500.00", "SAR")
            for delivery in story.deliveries:
                answer = http.post(
                    gateway + delivery.path,
                    content=delivery.body,
                    headers=delivery.headers,
                    params=delivery.query,
                )
                assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 60
            while True:
                got = http.get(f"{ledger}/entries/{entry['entry_id']}", headers=staff).json()
                if got["status"] == "PAID":
                    break
                assert time.monotonic() < deadline, f"never PAID: {got}"
                time.sleep(0.2)
            assert got["paid_minor"] == 350_000

        # 5. the console's first admin, made with its CLI from its image's virtualenv (as an
        # operator runs it in the console's container), signs in through the gateway and
        # sees the entry PAID: the console calls the ledger through the gateway with a token
        # it signs with the issuer's key
        console = containers["console"]
        console_env = environment_of(console, builder.venv(console))
        email = "boot-admin@example.com"
        added = run(
            ["python", "-m", "folio.console.cli", "add-user", "--email", email, "--role", "admin"],
            env=console_env,
            cwd=workdir,
        )
        assert f"added {email} (admin)" in added.stdout
        [password] = re.findall(r"^password: (\S+)$", added.stdout, re.MULTILINE)
        page = f"/admin/payments/{entry['entry_id']}"
        with httpx.Client(base_url=gateway, timeout=10) as http:
            htmx = http.get("/static/vendor/htmx.min.js")
            assert htmx.status_code == 200
            # the bytes npm ci put in the image are the ones `make install`'s npm ci checked
            installed = REPO_ROOT / "services/console/node_modules/htmx.org/dist/htmx.min.js"
            assert htmx.content == installed.read_bytes()
            form = http.get("/sign-in", params={"next": page})
            assert form.status_code == 200 and "<h1>Sign in</h1>" in form.text
            [token] = re.findall(r'name="sign_in_token" value="([^"]+)"', form.text)
            # production cookies are Secure, which an HTTP client keeps to HTTPS: sent by
            # hand here, as a browser does for a TLS origin (the Ingress ends TLS)
            assert "secure" in form.headers["set-cookie"].lower()
            signed_in = http.post(
                "/sign-in",
                data={"email": email, "password": password, "sign_in_token": token,
                      "next": page},
                headers={"Cookie": f"folio_sign_in={form.cookies['folio_sign_in']}"},
            )  # fmt: skip
            assert signed_in.status_code == 303, signed_in.text
            assert signed_in.headers["location"] == page
            session = signed_in.cookies.get("folio_session")
            assert session
            shown = http.get(page, headers={"Cookie": f"folio_session={session}"})
            assert shown.status_code == 200, shown.text
            assert '<span class="badge status-paid" id="entry-status">PAID</span>' in shown.text
            assert entry["invoice_number"] in shown.text

        # 6. a rollback as the README says: services stopped, the schema downgraded to the
        # revision the older release started from (from this release's init image), which
        # the older release's pods then wait for; the next release's init upgrades again
        for _, process in processes:
            process.terminate()
            process.wait(30)
        init_env = environment_of(init, builder.venv(init))
        python = str(builder.venv(init) / "bin" / "python")
        heads = dict(
            line.split()
            for line in run(
                [python, "-m", "folio.devstack", "revisions"], env=init_env, cwd=workdir
            ).stdout.splitlines()
        )
        ledger_spec = SERVICES[0]
        previous = (
            ScriptDirectory(str(ledger_spec.migrations))
            .get_revision(heads[ledger_spec.name])
            .down_revision
        )
        downgraded = run(
            [python, "-m", "folio.devstack", "downgrade", ledger_spec.name, previous],
            env=init_env,
            cwd=workdir,
        )
        assert f"downgraded ledger to {previous}" in downgraded.stdout
        assert wait_migrated(ledger_spec, 0).returncode == 1  # the newer pods would wait
        again = subprocess.run(
            list(init.command),
            env=init_env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert again.returncode == 0, again.stderr
        assert f"migrated ledger to {heads['ledger']}" in again.stdout
        assert wait_migrated(ledger_spec, 0).returncode == 0
    finally:
        for _, process in processes:
            process.terminate()
        kafka.stop()
        for name, process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                print(f"--- {name}\n{process.stdout.read()[-4000:]}")
        gateway_log = root / "gateway.log"
        if gateway_log.exists():
            print(f"--- gateway\n{gateway_log.read_text()[-4000:]}")
        shutil.rmtree(root, ignore_errors=True)


class _Any(dict):
    """Variables for reading the compose file before the secrets exist."""

    def get(self, key, default=None):
        return "unset"

    def __contains__(self, key):
        return True
