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
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Stage:
    """A build stage, as far as the boot test redoes it: what it copies from the context
    and what it runs, in its working directory."""

    name: str | None  # FROM ... AS <name>
    base: str
    workdir: str
    copies: tuple[tuple[tuple[str, ...], str], ...]  # (sources in the context, destination)
    runs: tuple[str, ...]


@dataclass(frozen=True)
class Artifact:
    """A file the final stage copies from a stage other than `build` (the virtualenv's):
    the console's htmx from its `assets` stage."""

    stage: Stage
    source: str  # absolute, inside that stage
    destination: str  # absolute, inside the image


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
    base: str = ""  # the final stage's FROM
    artifacts: tuple[Artifact, ...] = ()


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


def _absolute(path: str, workdir: str) -> str:
    if path.startswith("/"):
        return path
    joined = f"{workdir.rstrip('/')}/{path.removeprefix('./')}"
    return joined if path not in (".", "./") else workdir.rstrip("/") + "/"


def parse_dockerfile(repo_root: Path, dockerfile: str) -> Image:
    instructions = _instructions((repo_root / dockerfile).read_text())
    packages: tuple[str, ...] = ()
    copied: list[str] = []
    locks: dict[str, str] = {}
    env: dict[str, str] = {}
    cmd: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] | None = None
    user = "root"
    stages: list[Stage] = []
    from_stage: list[tuple[str, str, str]] = []  # the current stage's COPY --from=

    def stage(**changes) -> None:
        current = stages[-1]
        stages[-1] = Stage(**{**current.__dict__, **changes})

    for keyword, arguments in instructions:
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(name=name, base=words[0], workdir="/", copies=(), runs=()))
            env = {}  # only the final stage's ENV reaches the container
            from_stage = []
        elif keyword == "WORKDIR":
            stage(workdir=_absolute(arguments, stages[-1].workdir))
        elif keyword == "ARG" and arguments.startswith("FOLIO_PACKAGES="):
            value = shlex.split(arguments.partition("=")[2])[0]
            packages = tuple(p.removeprefix("./") for p in value.split())
        elif keyword == "COPY" and arguments.startswith("--from="):
            origin, source, destination = arguments.split()
            from_stage.append((origin.removeprefix("--from="), source, destination))
        elif keyword == "COPY":
            *sources, destination = arguments.split()
            copied += [source for source in sources if not source.endswith(".lock")]
            stage(copies=(*stages[-1].copies, (tuple(sources), destination)))
        elif keyword == "RUN":
            stage(runs=(*stages[-1].runs, arguments))
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
    named = {s.name: s for s in stages if s.name}
    final = stages[-1]
    artifacts = tuple(
        Artifact(
            stage=named[origin],
            source=_absolute(source, named[origin].workdir),
            destination=_absolute(destination, final.workdir),
        )
        for origin, source, destination in from_stage
        if origin != "build"  # the virtualenv, which the boot test builds itself
    )
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
        stages=len(stages),
        base=final.base,
        artifacts=artifacts,
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


#: The only variables the boot test changes: where Postgres, Kafka, the gateway and the HTTP
#: port are (compose's host names become this machine's addresses) and paths inside the
#: image's virtualenv. Everything else runs as written.
LOCALIZED = frozenset(
    {
        "PATH",
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "UVICORN_HOST",
        "UVICORN_PORT",
        "FOLIO_GATEWAY_URL",
        "FOLIO_ASSETS_DIR",
    }
)
#: Where the images' runtime virtualenv lives (the final stage's PATH names it).
IMAGE_VENV = "/opt/folio"


def in_stage(stage: Stage, path: str, directory: Path) -> Path:
    """``path`` of ``stage`` (absolute, or relative to its WORKDIR) in ``directory``, which
    stands for that WORKDIR when the boot test redoes the stage."""
    return directory / Path(_absolute(path, stage.workdir)).relative_to(stage.workdir)


def in_venv(path: str, venv: Path) -> Path:
    """A path of the image's virtualenv (/opt/folio/...) in the virtualenv ``venv``."""
    relative = Path(path).relative_to(IMAGE_VENV)
    return venv / relative


def localize(
    environment: Mapping[str, str],
    *,
    postgres: tuple[str, int, str],
    kafka: str,
    http_port: int | None,
    venv: Path,
    gateway: str,
) -> dict[str, str]:
    """The environment with compose's network (postgres:5432/folio, kafka:9092,
    gateway:8080, the container's port) mapped to real endpoints (``gateway``: host:port)
    and the image's virtualenv to ``venv``; credentials and everything else kept."""
    host, port, database = postgres
    local = dict(environment)
    local["PATH"] = local["PATH"].replace(IMAGE_VENV, str(venv)).replace("$PATH", "/usr/bin:/bin")
    if "DATABASE_URL" in local:
        url = make_url(local["DATABASE_URL"]).set(host=host, port=port, database=database)
        local["DATABASE_URL"] = url.render_as_string(hide_password=False)
    if "KAFKA_BOOTSTRAP_SERVERS" in local:
        local["KAFKA_BOOTSTRAP_SERVERS"] = kafka
    if "FOLIO_GATEWAY_URL" in local:
        parts = urlsplit(local["FOLIO_GATEWAY_URL"])
        local["FOLIO_GATEWAY_URL"] = urlunsplit(parts._replace(netloc=gateway))
    if "FOLIO_ASSETS_DIR" in local:
        local["FOLIO_ASSETS_DIR"] = str(in_venv(local["FOLIO_ASSETS_DIR"], venv))
    if "UVICORN_PORT" in local:
        assert http_port is not None
        local["UVICORN_HOST"] = "127.0.0.1"  # a published port, not every interface here
        local["UVICORN_PORT"] = str(http_port)
    return local


#: What the boot test changes in compose's gateway environment: where it listens and where
#: each upstream is.
GATEWAY_LOCALIZED = frozenset({"FOLIO_GATEWAY_BIND", "FOLIO_GATEWAY_PORT"})


def localize_gateway(
    environment: Mapping[str, str], *, port: int, upstreams: Mapping[str, int]
) -> dict[str, str]:
    """Compose's gateway environment on 127.0.0.1:``port``, each FOLIO_<NAME>_UPSTREAM
    (``<compose service>:<its port>``) pointed at that service's published port here
    (``upstreams``: compose service name -> port)."""
    local = {key: str(value) for key, value in environment.items()}
    local["FOLIO_GATEWAY_BIND"] = "127.0.0.1"
    local["FOLIO_GATEWAY_PORT"] = str(port)
    for key, value in environment.items():
        if key.startswith("FOLIO_") and key.endswith("_UPSTREAM"):
            service = str(value).rsplit(":", 1)[0]
            local[key] = f"127.0.0.1:{upstreams[service]}"
    return local
