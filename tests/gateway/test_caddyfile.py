"""deploy/Caddyfile, read by Caddy itself: valid with the variables each launcher
(`make run`, docker-compose) gives it, formatted, and routing each prefix to its
upstream; every variable it needs is given by both."""

import json
import os
import re
import subprocess

import pytest
import yaml

from folio.devstack.gateway import CADDYFILE, UPSTREAMS, caddy_argv, gateway_env
from folio.devstack.services import REPO_ROOT, SERVICES
from folio.shared.settings import ServiceSettings

LOCAL_PORTS = {name: 9000 + i for i, name in enumerate(UPSTREAMS)}


def local_env(tmp_path) -> dict[str, str]:
    return gateway_env(18080, LOCAL_PORTS, tmp_path / "access.log", tmp_path / "caddy")


def compose_env() -> dict[str, str]:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return {k: str(v) for k, v in compose["services"]["gateway"]["environment"].items()}


def caddy(command: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    home = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    return subprocess.run(
        caddy_argv(command), env={**home, **env}, capture_output=True, text=True, timeout=60
    )


def adapted(env: dict[str, str], tmp_path) -> dict:
    result = caddy("adapt", env, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def routes_to(config: dict) -> dict[str, set[str]]:
    """Path pattern → the upstream addresses the requests matching it are proxied to."""

    def dials(node) -> set[str]:
        if isinstance(node, dict):
            found = {node["dial"]} if "dial" in node else set()
            return found.union(*(dials(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(dials(v) for v in node))
        return set()

    server = config["apps"]["http"]["servers"]["srv0"]
    table: dict[str, set[str]] = {}
    for route in server["routes"]:
        for match in route.get("match", [{}]):
            for pattern in match.get("path", ["*"] if not match else []):
                table.setdefault(pattern, set()).update(dials(route.get("handle", [])))
    return table


@pytest.mark.parametrize("launcher", ["make run", "docker-compose"])
def test_caddy_validates_the_caddyfile_with_each_launchers_variables(launcher, tmp_path):
    env = local_env(tmp_path) if launcher == "make run" else compose_env()
    result = caddy("validate", env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


def test_a_broken_caddyfile_fails_validation(tmp_path):
    broken = tmp_path / "Caddyfile"
    broken.write_text(CADDYFILE.read_text().replace("reverse_proxy {$", "revers_proxy {$", 1))
    argv = [a if a != str(CADDYFILE) else str(broken) for a in caddy_argv("validate")]
    result = subprocess.run(argv, env={"HOME": str(tmp_path)}, capture_output=True, timeout=60)
    assert result.returncode != 0


def test_the_caddyfile_is_in_caddys_own_format(tmp_path):
    formatted = subprocess.run(
        [caddy_argv()[0], "fmt", str(CADDYFILE)], capture_output=True, text=True, timeout=60
    )
    assert formatted.stdout == CADDYFILE.read_text()


def test_each_prefix_goes_to_its_service_and_everything_else_to_the_console(tmp_path):
    table = routes_to(adapted(local_env(tmp_path), tmp_path))
    for spec in SERVICES:
        if spec.name != "console":
            assert table[f"/api/{spec.name}/*"] == {f"127.0.0.1:{LOCAL_PORTS[spec.name]}"}
    console = {f"127.0.0.1:{LOCAL_PORTS['console']}"}
    assert table["/api/console/*"] == console
    assert table["/api/*"] == set()  # another /api/ path: the gateway's 404
    assert table["*"] >= console


def test_compose_routes_each_prefix_to_its_container(tmp_path):
    table = routes_to(adapted(compose_env(), tmp_path))
    for spec in SERVICES:
        if spec.name != "console":
            assert table[f"/api/{spec.name}/*"] == {f"{spec.name}:{spec.port}"}
    assert table["/api/console/*"] == {"console:8105"}


def test_every_variable_without_a_default_is_given_by_both_launchers(tmp_path):
    text = CADDYFILE.read_text()
    required = set(re.findall(r"\{\$([A-Z0-9_]+)\}", text))
    assert required == {f"FOLIO_{name.upper()}_UPSTREAM" for name in UPSTREAMS}
    assert required <= set(local_env(tmp_path))
    assert required <= set(compose_env())


def test_the_gateway_limit_is_the_services_limit(tmp_path):
    default = ServiceSettings.model_fields["max_body_bytes"].default
    config = adapted(local_env(tmp_path), tmp_path)
    text = json.dumps(config)
    assert f'"max_size": {default}' in text
    assert f"> {default}" in text  # the declared-length check


def test_make_run_logs_requests_as_json_to_a_file_and_compose_to_stdout(tmp_path):
    local = adapted(local_env(tmp_path), tmp_path)["logging"]["logs"]["log0"]
    assert local["writer"] == {"output": "file", "filename": str(tmp_path / "access.log")}
    assert local["encoder"]["wrap"]["format"] == "json"
    deployed = adapted(compose_env(), tmp_path)["logging"]["logs"]["log0"]
    assert deployed["writer"] == {"output": "stdout"}


def test_slow_clients_are_timed_out_but_long_answers_are_not(tmp_path):
    server = adapted(local_env(tmp_path), tmp_path)["apps"]["http"]["servers"]["srv0"]
    assert server["read_header_timeout"] and server["read_timeout"] and server["idle_timeout"]
    assert "write_timeout" not in server
