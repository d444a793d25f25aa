"""Overlapping, repeated and reordered deliveries emit every fact exactly once, in ledger order."""

import itertools
from datetime import UTC, datetime

from folio.simulators.payments.moyasar import MoyasarSimulator
from folio.simulators.payments.tabby import TabbySimulator
from folio.simulators.payments.tamara import TamaraSimulator
from folio.webhooks.domain import moyasar, tabby, tamara
from folio.webhooks.domain.deliveries import FactKind
from folio.webhooks.domain.emission import PaymentProgress, plan_emissions

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def run(interpretations):
    """Feed interpretations through the planner as the service would; return all emitted."""
    progress = PaymentProgress()
    emitted = []
    for interpretation in interpretations:
        plan = plan_emissions(progress, interpretation.facts)
        progress = PaymentProgress.from_json(plan.progress.to_json())  # survives storage
        emitted.extend(plan.emit)
    return emitted, progress


def summary(emitted):
    return [(f.kind.value, f.payload.amount_minor) for f in emitted]


def test_tabby_snapshots_in_any_order_emit_capture_then_refunds_once():
    sim = TabbySimulator()
    payment = sim.new_payment("INV-2026-000100", "100.00")
    deliveries = [
        sim.authorize(payment),
        sim.capture(payment),
        sim.refund(payment, "30.00"),
        sim.refund(payment, "20.00"),
    ]
    interpretations = [tabby.interpret(d.body, NOW) for d in deliveries]
    expected_total = {"verified": 10000, "refunded": 5000}
    for order in itertools.permutations(interpretations):
        emitted, progress = run(list(order) + list(order))  # every delivery twice
        kinds = [f.kind for f in emitted]
        assert kinds.index(FactKind.VERIFIED) < kinds.index(FactKind.REFUNDED)
        assert FactKind.AUTHORIZED not in kinds[kinds.index(FactKind.VERIFIED) :]
        totals = {"verified": 0, "refunded": 0}
        for f in emitted:
            if f.kind.value in totals:
                totals[f.kind.value] += f.payload.amount_minor
        assert totals == expected_total
        assert len({f.fact_key for f in emitted}) == len(emitted)
        assert progress.parked == ()


def test_moyasar_partial_refunds_out_of_order_sum_to_the_final_total():
    sim = MoyasarSimulator()
    payment = sim.new_payment("INV-2026-000101", "100.00")
    paid = moyasar.interpret(moyasar.parse_event(sim.pay(payment).body), NOW)
    first = moyasar.interpret(moyasar.parse_event(sim.refund(payment, "30.00").body), NOW)
    second = moyasar.interpret(moyasar.parse_event(sim.refund(payment, "20.00").body), NOW)

    in_order, _ = run([paid, first, second])
    assert summary(in_order) == [("verified", 10000), ("refunded", 3000), ("refunded", 2000)]

    reversed_order, progress = run([second, first, paid, second])
    assert summary(reversed_order) == [("verified", 10000), ("refunded", 5000)]
    assert progress.refunded_total_minor == 5000


def test_tamara_refund_before_capture_is_parked_until_the_capture_arrives():
    sim = TamaraSimulator()
    order = sim.new_order("INV-2026-000102", "100.00")
    capture = tamara.interpret(sim.capture(order).body, NOW)
    refund = tamara.interpret(sim.refund(order, "40.00").body, NOW)

    plan = plan_emissions(PaymentProgress(), refund.facts)
    assert plan.emit == ()
    assert len(plan.parked) == 1
    again = plan_emissions(plan.progress, refund.facts)  # a retry while parked
    assert again.emit == () and again.parked == ()
    released = plan_emissions(again.progress, capture.facts)
    assert summary(released.emit) == [("verified", 10000), ("refunded", 4000)]
    assert released.progress.parked == ()


def test_failure_or_authorization_after_verification_is_superseded():
    sim = MoyasarSimulator()
    payment = sim.new_payment("INV-2026-000103", "10.00")
    authorized = moyasar.interpret(moyasar.parse_event(sim.authorize(payment).body), NOW)
    captured = moyasar.interpret(moyasar.parse_event(sim.capture(payment).body), NOW)
    emitted, _ = run([captured, authorized])
    assert summary(emitted) == [("verified", 1000)]
    emitted, _ = run([authorized, captured])
    assert summary(emitted) == [("authorized", 1000), ("verified", 1000)]
