"""The services and simulators the local stack runs (DESIGN.md §7 ports)."""

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # URL prefix /api/<name>/ and FOLIO_SERVICE_NAME
    app: str  # "module:factory" for uvicorn --factory
    port: int
    schema: str  # its own Postgres schema (and role <schema>_svc)
    directory: str  # relative to the repo root

    @property
    def migrations(self) -> Path:
        return REPO_ROOT / self.directory / "migrations"

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
