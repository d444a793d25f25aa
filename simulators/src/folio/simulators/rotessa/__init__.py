"""Local simulator of Rotessa's API (PROVIDERS.md), used by tests, the local stack and benchmarks.

``create_app(seed=...)`` returns a FastAPI app serving ``/v1/customers``,
``/v1/customers/{id}`` and ``/v1/transaction_report`` in Rotessa's wire format,
with deterministic seeded data, fault modes and a ``/_sim`` control surface.
"""

from folio.simulators.rotessa.app import create_app
from folio.simulators.rotessa.faults import FaultPlan
from folio.simulators.rotessa.state import RotessaSimulator, SimTransaction

__all__ = ["FaultPlan", "RotessaSimulator", "SimTransaction", "create_app"]
