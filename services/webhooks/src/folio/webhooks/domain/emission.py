"""Which facts to emit, given what was already emitted for the same payment.

Deliveries overlap (a Tabby snapshot repeats earlier captures, a Moyasar refund
implies the payment) and arrive out of order. Planning against a per-payment
:class:`PaymentProgress` makes every fact go out exactly once and in an order
the ledger can apply: the payment is verified before any refund of it (a
refund that arrives first is parked until then), and an authorization or
failure arriving after the payment was verified is superseded, not emitted.
"""

from dataclasses import dataclass, field, replace
from typing import Any

from folio.webhooks.domain.deliveries import FactKind, PaymentFact

_REFUND_KINDS = {FactKind.REFUNDED, FactKind.REFUND_TOTAL}


@dataclass(frozen=True)
class PaymentProgress:
    """What intake has already done for one provider payment."""

    fact_keys: frozenset[str] = frozenset()
    verified: bool = False
    #: Sum of refunds emitted from cumulative totals (Moyasar), the refund watermark.
    refunded_total_minor: int = 0
    parked: tuple[PaymentFact, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "fact_keys": sorted(self.fact_keys),
            "verified": self.verified,
            "refunded_total_minor": self.refunded_total_minor,
            "parked": [fact.to_json() for fact in self.parked],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> "PaymentProgress":
        if not raw:
            return cls()
        return cls(
            fact_keys=frozenset(raw.get("fact_keys", ())),
            verified=bool(raw.get("verified", False)),
            refunded_total_minor=int(raw.get("refunded_total_minor", 0)),
            parked=tuple(PaymentFact.from_json(f) for f in raw.get("parked", ())),
        )


@dataclass(frozen=True)
class EmissionPlan:
    emit: tuple[PaymentFact, ...]
    progress: PaymentProgress
    parked: tuple[PaymentFact, ...] = ()
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (fact_key, why)


def plan_emissions(progress: PaymentProgress, facts: tuple[PaymentFact, ...]) -> EmissionPlan:
    """Emit new facts in ledger order; park refunds until the payment is verified."""
    known = set(progress.fact_keys)
    parked_keys = {fact.fact_key for fact in progress.parked}
    fresh: list[PaymentFact] = []
    skipped: list[tuple[str, str]] = []
    for fact in facts:
        if fact.fact_key in known or fact.fact_key in parked_keys:
            skipped.append((fact.fact_key, "already handled"))
        elif fact.fact_key not in {f.fact_key for f in fresh}:
            fresh.append(fact)

    verified = progress.verified
    refunded_total = progress.refunded_total_minor
    emit: list[PaymentFact] = []
    newly_parked: list[PaymentFact] = []

    for fact in (f for f in fresh if f.kind is FactKind.VERIFIED):
        emit.append(fact)
        known.add(fact.fact_key)
        verified = True

    for fact in (f for f in fresh if f.kind in {FactKind.AUTHORIZED, FactKind.FAILED}):
        known.add(fact.fact_key)
        if verified:
            skipped.append((fact.fact_key, "superseded: payment already verified"))
        else:
            emit.append(fact)

    # Refunds: previously parked ones first (they happened earlier), then fresh ones.
    pending_refunds = list(progress.parked) + [f for f in fresh if f.kind in _REFUND_KINDS]
    # Cumulative totals in ascending order so each partial refund is its own event.
    pending_refunds.sort(key=lambda f: f.cumulative_refunded_minor or 0)
    still_parked: list[PaymentFact] = []
    for fact in pending_refunds:
        if not verified:
            still_parked.append(fact)
            if fact not in progress.parked:
                newly_parked.append(fact)
            continue
        known.add(fact.fact_key)
        if fact.kind is FactKind.REFUND_TOTAL:
            cumulative = fact.cumulative_refunded_minor or 0
            increment = cumulative - refunded_total
            if increment <= 0:
                skipped.append((fact.fact_key, "refund total already reached"))
                continue
            refunded_total = cumulative
            refund = fact.payload.model_copy(update={"amount_minor": increment})
            fact = replace(fact, kind=FactKind.REFUNDED, payload=refund)
        emit.append(fact)

    return EmissionPlan(
        emit=tuple(emit),
        parked=tuple(newly_parked),
        skipped=tuple(skipped),
        progress=PaymentProgress(
            fact_keys=frozenset(known),
            verified=verified,
            refunded_total_minor=refunded_total,
            parked=tuple(still_parked),
        ),
    )
