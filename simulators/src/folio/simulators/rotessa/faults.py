"""Fault modes of the simulator: what a hardened client must survive."""

import random
from dataclasses import dataclass, field

FAULT_MESSAGES = {
    429: ("rate_limited", "Too many requests"),
    500: ("internal_server_error", "Something went wrong"),
    503: ("service_unavailable", "Service temporarily unavailable"),
}


@dataclass
class FaultPlan:
    """Faults applied to the public ``/v1`` API (never to ``/_sim``).

    - ``fail_next``: the next N requests answer ``fail_status``.
    - ``every_nth``: every N-th request answers ``every_status`` (deterministic).
    - ``rate``: that fraction of requests answers ``rate_status`` (seeded RNG).
    - ``delay_seconds``: every transaction report page is this slow.
    - ``retry_after``: sent as ``Retry-After`` with 429/503.
    - ``endpoints``: restrict faults to these endpoint names (``customers``,
      ``customer``, ``transaction_report``); empty means all.
    """

    fail_next: int = 0
    fail_status: int = 503
    every_nth: int = 0
    every_status: int = 429
    rate: float = 0.0
    rate_status: int = 503
    delay_seconds: float = 0.0
    retry_after: int | None = None
    endpoints: set[str] = field(default_factory=set)


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self.plan = FaultPlan()
        self._rng = random.Random(seed ^ 0x5EED)  # noqa: S311 - seeded, reproducible faults
        self._seen = 0

    def configure(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._seen = 0

    def clear(self) -> None:
        self.configure(FaultPlan())

    def status_for(self, endpoint: str) -> int | None:
        """The error status this request must get, or None to serve it normally."""
        plan = self.plan
        if plan.endpoints and endpoint not in plan.endpoints:
            return None
        self._seen += 1
        if plan.fail_next > 0:
            plan.fail_next -= 1
            return plan.fail_status
        if plan.every_nth > 0 and self._seen % plan.every_nth == 0:
            return plan.every_status
        if plan.rate > 0 and self._rng.random() < plan.rate:
            return plan.rate_status
        return None

    def delay_for(self, endpoint: str) -> float:
        plan = self.plan
        if plan.endpoints and endpoint not in plan.endpoints:
            return 0.0
        return plan.delay_seconds if endpoint == "transaction_report" else 0.0
