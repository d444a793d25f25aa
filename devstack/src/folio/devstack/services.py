"""The services and simulators the local stack runs (DESIGN.md §7 ports)."""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

#: The checkout this module sits in — only meaningful for an editable install (`make run`'s
#: state under .local, tests). Nothing an image runs may depend on it: in a regular install
#: it points into site-packages.
REPO_ROOT = Path(__file__).resolve().parents[4]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # URL prefix /api/<name>/ and FOLIO_SERVICE_NAME
    app: str  # "module:factory" for uvicorn --factory
    port: int
    schema: str  # its own Postgres schema (and role <schema>_svc)
    directory: str  # relative to the repo root

    @property
    def package(self) -> str:
        """The service's import package, e.g. folio.rotessa_sync."""
        return self.app.split(":")[0].rsplit(".", 1)[0]

    @property
    def migrations(self) -> Path:
        """The Alembic directory shipped inside the service's package (package data), so an
        installed wheel — an image — migrates with exactly the revisions it was built with."""
        location = resources.files(self.package) / "migrations"
        if not isinstance(location, Path):  # a zipped install: Alembic needs real files
            raise RuntimeError(f"{self.package} is not installed as files; cannot migrate")
        return location

    @property
    def role(self) -> str:
        return f"{self.schema}_svc"


@dataclass(frozen=True)
class SimulatorSpec:
    name: str
    app: str
    port: int


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("ledger", "folio.ledger.app:create_app", 8101, "ledger", "services/ledger"),
    ServiceSpec("registry", "folio.registry.app:create_app", 8102, "registry", "services/registry"),
    ServiceSpec(
        "rotessa",
        "folio.rotessa_sync.app:create_app",
        8103,
        "rotessa_sync",
        "services/rotessa-sync",
    ),
    ServiceSpec("webhooks", "folio.webhooks.app:create_app", 8104, "webhooks", "services/webhooks"),
    ServiceSpec("console", "folio.console.app:create_app", 8105, "console", "services/console"),
)

SIMULATORS: tuple[SimulatorSpec, ...] = (
    SimulatorSpec("rotessa-sim", "folio.simulators.rotessa:create_app", 8201),
    SimulatorSpec("beds24-sim", "folio.simulators.beds24:create_app", 8202),
    SimulatorSpec("payments-sim", "folio.simulators.payments:create_app", 8203),
)


def service(name: str) -> ServiceSpec:
    return next(s for s in SERVICES if s.name == name)
