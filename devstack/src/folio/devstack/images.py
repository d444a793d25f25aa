"""What each image installs and runs, read from its Dockerfile and docker-compose.yml.

No container engine runs here, so the production path is proved by doing what the images
do (tests/production/test_boot.py) — and both that test and tests/test_compose.py read the
images through this module, so what the boot test runs is, by construction, what the
Dockerfiles and the compose file say.
"""

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Image:
    dockerfile: str  # relative to the repository root
    packages: tuple[str, ...]  # Folio package directories the image installs (FOLIO_PACKAGES)
    copied: tuple[str, ...]  # directories the build stage copies from the context
    lock: str  # the hashed lock its runtime virtualenv installs
    build_lock: str  # the hashed lock of its build stage (the wheel builder)
    env: dict[str, str]  # ENV of the final stage
    cmd: tuple[str, ...]
    healthcheck: tuple[str, ...] | None  # None for HEALTHCHECK NONE
    user: str
    stages: int


@dataclass(frozen=True)
class Container:
    name: str
    image: Image
    command: tuple[str, ...]
    environment: dict[str, str]  # the image's ENV overlaid with compose's (interpolated)
    depends_on: dict[str, str] = field(default_factory=dict)  # service -> condition


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped, except
    hadolint's pragmas (which stay as ("#", text))."""
    joined: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        joined.append((keyword.upper(), rest.strip()))
    return joined


def _env_pairs(arguments: str) -> dict[str, str]:
    pairs = {}
    for word in shlex.split(arguments):
        key, _, value = word.partition("=")
        pairs[key] = value
    return pairs


def parse_dockerfile(repo_root: Path, dockerfile: str) -> Image:
    instructions = _instructions((repo_root / dockerfile).read_text())
    packages: tuple[str, ...] = ()
    copied: list[str] = []
    locks: dict[str, str] = {}
    env: dict[str, str] = {}
    cmd: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] | None = None
    user = "root"
    stages = 0
    for keyword, arguments in instructions:
        if keyword == "FROM":
            stages += 1
            env = {}  # only the final stage's ENV reaches the container
        elif keyword == "ARG" and arguments.startswith("FOLIO_PACKAGES="):
            value = shlex.split(arguments.partition("=")[2])[0]
            packages = tuple(p.removeprefix("./") for p in value.split())
        elif keyword == "COPY" and not arguments.startswith("--from"):
            source = arguments.split()[0]
            if not source.endswith(".lock"):
                copied.append(source)
        elif keyword == "RUN":
            for step in arguments.split("&&"):
                found = re.search(r"--require-hashes.*?-r\s+(\S+)", step)
                if found:
                    target = "build" if "/opt/build/bin/pip" in step else "runtime"
                    locks[target] = found.group(1)
        elif keyword == "ENV":
            env.update(_env_pairs(arguments))
        elif keyword == "USER":
            user = arguments
        elif keyword == "CMD":
            cmd = tuple(json.loads(arguments))
        elif keyword == "HEALTHCHECK":
            if arguments.strip() == "NONE":
                healthcheck = None
            else:
                healthcheck = tuple(json.loads(arguments[arguments.index("CMD") + 3 :]))
    return Image(
        dockerfile=dockerfile,
        packages=packages,
        copied=tuple(copied),
        lock=locks["runtime"],
        build_lock=locks["build"],
        env=env,
        cmd=cmd,
        healthcheck=healthcheck,
        user=user,
        stages=stages,
    )


_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:\?|:-)(?P<arg>[^}]*))?\}"
)


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:?message} (required) and ${NAME:-default}."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op = match.group("name"), match.group("op")
        value = variables.get(name)
        if value:
            return value
        if op == ":-":
            return match.group("arg")
        if op == ":?" or name not in variables:
            raise KeyError(f"{name} is required: {match.group('arg') or 'unset'}")
        return ""

    return _VARIABLE.sub(substitute, value)


def compose_containers(
    repo_root: Path, compose: dict, variables: Mapping[str, str]
) -> dict[str, Container]:
    """Every compose service built from a Dockerfile here, as it would run."""
    containers = {}
    for name, service in compose["services"].items():
        build = service.get("build")
        if not build:
            continue
        image = parse_dockerfile(repo_root, build["dockerfile"])
        environment = dict(image.env)
        for key, value in (service.get("environment") or {}).items():
            environment[key] = interpolate(str(value), variables)
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {d: "service_started" for d in depends}
        else:
            depends = {d: spec.get("condition", "service_started") for d, spec in depends.items()}
        containers[name] = Container(
            name=name,
            image=image,
            command=tuple(service.get("command") or image.cmd),
            environment=environment,
            depends_on=depends,
        )
    return containers


#: The only variables the boot test changes: where Postgres, Kafka and the HTTP port are
#: (compose's host names become this machine's addresses). Everything else runs as written.
LOCALIZED = frozenset(
    {"PATH", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "UVICORN_HOST", "UVICORN_PORT"}
)
#: Where the images' runtime virtualenv lives (the final stage's PATH names it).
IMAGE_VENV = "/opt/folio"


def localize(
    environment: Mapping[str, str],
    *,
    postgres: tuple[str, int, str],
    kafka: str,
    http_port: int | None,
    venv: Path,
) -> dict[str, str]:
    """The environment with compose's network (postgres:5432/folio, kafka:9092, the
    container's port) mapped to real endpoints and the image's virtualenv to ``venv``;
    credentials and everything else kept."""
    host, port, database = postgres
    local = dict(environment)
    local["PATH"] = local["PATH"].replace(IMAGE_VENV, str(venv)).replace("$PATH", "/usr/bin:/bin")
    if "DATABASE_URL" in local:
        url = make_url(local["DATABASE_URL"]).set(host=host, port=port, database=database)
        local["DATABASE_URL"] = url.render_as_string(hide_password=False)
    if "KAFKA_BOOTSTRAP_SERVERS" in local:
        local["KAFKA_BOOTSTRAP_SERVERS"] = kafka
    if "UVICORN_PORT" in local:
        assert http_port is not None
        local["UVICORN_HOST"] = "127.0.0.1"  # a published port, not every interface here
        local["UVICORN_PORT"] = str(http_port)
    return local
