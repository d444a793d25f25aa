"""Seeded fuzz (QUALITY.md §7): any provider story, duplicated and shuffled, ends in the
same totals with the payment verified before any refund. A failing seed replays exactly."""

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from folio.simulators.payments.scenarios import PaymentProviders
from folio.webhooks.domain.deliveries import FactKind
from folio.webhooks.domain.emission import PaymentProgress, plan_emissions
from folio.webhooks.domain.interpretation import interpret_delivery

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def story(rng: random.Random, provider: str):
    """Pay in full, then up to three partial refunds; returns deliveries and expected totals."""
    providers = PaymentProviders()
    currency = rng.choice(["SAR", "KWD"]) if provider == "tabby" else "SAR"
    exponent = 3 if currency == "KWD" else 2
    amount_minor = rng.randrange(1_000, 1_000_000)

    def as_text(minor: int) -> str:
        return str(Decimal(minor).scaleb(-exponent))

    paid = providers.pay(provider, "INV-2026-000777", as_text(amount_minor), currency)
    deliveries = list(paid.deliveries)
    refunded = 0
    for _ in range(rng.randrange(0, 4)):
        refund_minor = rng.randrange(1, max(2, (amount_minor - refunded) // 2))
        if refunded + refund_minor > amount_minor:
            break
        refunded += refund_minor
        deliveries += providers.refund(provider, paid.payment_id, as_text(refund_minor)).deliveries
    return deliveries, amount_minor, refunded


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("provider", ["moyasar", "tabby", "tamara"])
def test_any_order_and_repetition_gives_the_same_totals(provider, seed):
    rng = random.Random(f"{provider}:{seed}")
    deliveries, paid_minor, refunded_minor = story(rng, provider)
    arrived = deliveries + rng.choices(deliveries, k=rng.randrange(0, 2 * len(deliveries)))
    rng.shuffle(arrived)

    progress, emitted, seen_keys = PaymentProgress(), [], set()
    for delivery in arrived:
        meaning = interpret_delivery(provider, delivery.body, delivery.headers, NOW)
        if meaning.dedupe_key in seen_keys:  # intake stores it as a duplicate: no planning
            continue
        seen_keys.add(meaning.dedupe_key)
        plan = plan_emissions(progress, meaning.facts)
        progress = PaymentProgress.from_json(plan.progress.to_json())
        emitted.extend(plan.emit)

    kinds = [f.kind for f in emitted]
    verified = sum(f.payload.amount_minor for f in emitted if f.kind is FactKind.VERIFIED)
    refunds = sum(f.payload.amount_minor for f in emitted if f.kind is FactKind.REFUNDED)
    assert (verified, refunds) == (paid_minor, refunded_minor), f"seed {seed}"
    if refunds:
        assert kinds.index(FactKind.VERIFIED) < kinds.index(FactKind.REFUNDED)
    assert len({f.fact_key for f in emitted}) == len(emitted)
    assert progress.parked == ()
