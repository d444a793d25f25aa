"""Real-format deliveries (from the simulators) become the right payment facts."""

import json
from datetime import UTC, datetime

import pytest

from folio.shared.contracts import PaymentFailed, PaymentRefunded, PaymentVerified
from folio.simulators.payments.moyasar import MoyasarSimulator
from folio.simulators.payments.standard import StandardWebhooksSender
from folio.simulators.payments.tabby import TabbySimulator
from folio.simulators.payments.tamara import TamaraSimulator
from folio.webhooks.domain import moyasar, standard, tabby, tamara
from folio.webhooks.domain.deliveries import DeliveryState, FactKind, MalformedDelivery

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def moyasar_interpret(delivery):
    return moyasar.interpret(moyasar.parse_event(delivery.body), NOW)


# --- Moyasar --------------------------------------------------------------------


def test_moyasar_paid_becomes_verified_with_integer_halalas_and_invoice_from_metadata():
    sim = MoyasarSimulator()
    payment = sim.new_payment("INV-2026-000001", "1234.56", "SAR", method="mada_card")
    delivery = sim.pay(payment)
    result = moyasar_interpret(delivery)
    assert result.state is DeliveryState.ACCEPTED
    assert result.dedupe_key == json.loads(delivery.body)["id"]
    [fact] = result.facts
    assert fact.kind is FactKind.VERIFIED
    assert isinstance(fact.payload, PaymentVerified)
    assert fact.payload.amount_minor == 123456
    assert fact.payload.invoice_number == "INV-2026-000001"
    assert fact.payload.method == "mada_card"
    assert fact.payload.provider_payment_id == payment.id


@pytest.mark.parametrize(
    ("method", "expected"),
    [("apple_pay", "apple_pay"), ("google_pay", "google_pay"), ("credit_card", "credit_card")],
)
def test_moyasar_methods_are_recognised_from_the_source(method, expected):
    sim = MoyasarSimulator()
    result = moyasar_interpret(sim.pay(sim.new_payment("INV-2026-000002", "10.00", method=method)))
    assert result.facts[0].payload.method == expected


def test_moyasar_retry_keeps_the_event_id_as_dedupe_key():
    sim = MoyasarSimulator()
    delivery = sim.pay(sim.new_payment("INV-2026-000003", "5.00"))
    assert moyasar_interpret(delivery).dedupe_key == moyasar_interpret(delivery).dedupe_key


def test_moyasar_refund_reports_cumulative_total_and_implies_the_payment():
    sim = MoyasarSimulator()
    payment = sim.new_payment("INV-2026-000004", "100.00")
    sim.pay(payment)
    result = moyasar_interpret(sim.refund(payment, "30.00"))
    kinds = [f.kind for f in result.facts]
    assert kinds == [FactKind.VERIFIED, FactKind.REFUND_TOTAL]
    assert result.facts[1].cumulative_refunded_minor == 3000
    assert result.facts[0].payload.amount_minor == 10000


def test_moyasar_failed_and_authorized():
    sim = MoyasarSimulator()
    failed = moyasar_interpret(sim.fail(sim.new_payment("INV-2026-000005", "1.00")))
    assert failed.facts[0].kind is FactKind.FAILED
    assert failed.facts[0].payload.reason == "INSUFFICIENT_FUNDS"
    authorized = moyasar_interpret(sim.authorize(sim.new_payment("INV-2026-000005", "1.00")))
    assert authorized.facts[0].kind is FactKind.AUTHORIZED


def test_moyasar_without_invoice_metadata_is_unmapped_not_dropped():
    sim = MoyasarSimulator()
    result = moyasar_interpret(sim.pay(sim.new_payment(None, "10.00")))
    assert result.state is DeliveryState.UNMAPPED
    assert "invoice" in result.reason
    assert result.provider_payment_id is not None
    assert result.facts == ()


def test_moyasar_float_amount_or_unknown_currency_is_rejected():
    sim = MoyasarSimulator()
    delivery = sim.pay(sim.new_payment("INV-2026-000006", "10.00"))
    body = json.loads(delivery.body)
    body["data"]["amount"] = 1000.5
    result = moyasar.interpret(moyasar.parse_event(json.dumps(body).encode()), NOW)
    assert result.state is DeliveryState.REJECTED
    body["data"]["amount"] = 1000
    body["data"]["currency"] = "XXX"
    result = moyasar.interpret(moyasar.parse_event(json.dumps(body).encode()), NOW)
    assert result.state is DeliveryState.REJECTED


def test_moyasar_informational_events_emit_nothing():
    sim = MoyasarSimulator()
    delivery = sim.event("webhook_verification", sim.new_payment("INV-2026-000007", "1.00"))
    result = moyasar_interpret(delivery)
    assert result.state is DeliveryState.ACCEPTED
    assert result.facts == ()


def test_moyasar_unparseable_body_cannot_even_be_authenticated():
    with pytest.raises(MalformedDelivery):
        moyasar.parse_event(b"{not json")
    with pytest.raises(MalformedDelivery):
        moyasar.parse_event(b"[1, 2]")
    with pytest.raises(MalformedDelivery):
        moyasar.parse_event(b'{"id": 1, "type": "payment_paid", "amount": NaN}')


# --- Tabby ----------------------------------------------------------------------


def test_tabby_capture_becomes_verified_and_authorized_snapshot_is_authorized():
    sim = TabbySimulator()
    payment = sim.new_payment("INV-2026-000010", "250.00", "SAR")
    authorized = tabby.interpret(sim.authorize(payment).body, NOW)
    assert [f.kind for f in authorized.facts] == [FactKind.AUTHORIZED]
    captured = tabby.interpret(sim.capture(payment).body, NOW)
    assert [f.kind for f in captured.facts] == [FactKind.VERIFIED]
    assert captured.facts[0].payload.amount_minor == 25000
    assert captured.facts[0].payload.capture_id == payment.captures[0]["id"]
    assert captured.invoice_number == "INV-2026-000010"
    assert authorized.dedupe_key != captured.dedupe_key


def test_tabby_kwd_has_three_decimals():
    sim = TabbySimulator()
    payment = sim.new_payment("INV-2026-000011", "12.345", "KWD")
    result = tabby.interpret(sim.capture(payment).body, NOW)
    assert result.facts[0].payload.amount_minor == 12345
    assert result.facts[0].payload.currency == "KWD"


def test_tabby_amount_with_too_many_decimals_is_rejected_not_rounded():
    sim = TabbySimulator()
    payment = sim.new_payment("INV-2026-000012", "10.00", "SAR")
    body = json.loads(sim.capture(payment).body)
    body["captures"][0]["amount"] = "10.001"
    result = tabby.interpret(json.dumps(body).encode(), NOW)
    assert result.state is DeliveryState.REJECTED


def test_tabby_dedupe_key_changes_with_captures_and_refunds_but_not_on_resend():
    sim = TabbySimulator()
    payment = sim.new_payment("INV-2026-000013", "100.00")
    first = sim.capture(payment, "40.00")
    assert (
        tabby.interpret(first.body, NOW).dedupe_key == tabby.interpret(first.body, NOW).dedupe_key
    )
    second = sim.capture(payment, "60.00")
    refund = sim.refund(payment, "10.00")
    keys = {tabby.interpret(d.body, NOW).dedupe_key for d in (first, second, refund)}
    assert len(keys) == 3


def test_tabby_refund_snapshot_carries_every_capture_and_refund():
    sim = TabbySimulator()
    payment = sim.new_payment("INV-2026-000014", "100.00")
    sim.capture(payment)
    sim.refund(payment, "30.00")
    result = tabby.interpret(sim.refund(payment, "20.00").body, NOW)
    kinds = [f.kind for f in result.facts]
    assert kinds == [FactKind.VERIFIED, FactKind.REFUNDED, FactKind.REFUNDED]
    assert [f.payload.amount_minor for f in result.facts[1:]] == [3000, 2000]
    assert all(isinstance(f.payload, PaymentRefunded) for f in result.facts[1:])


def test_tabby_rejected_expired_and_closed_without_capture_fail():
    sim = TabbySimulator()
    for transition, reason in [
        (sim.reject, "rejected"),
        (sim.expire, "expired"),
        (sim.close, "closed without capture"),
    ]:
        result = tabby.interpret(transition(sim.new_payment("INV-2026-000015", "5.00")).body, NOW)
        assert isinstance(result.facts[0].payload, PaymentFailed)
        assert result.facts[0].payload.reason == reason


def test_tabby_missing_reference_is_unmapped_and_garbage_is_rejected():
    sim = TabbySimulator()
    result = tabby.interpret(sim.capture(sim.new_payment(None, "5.00")).body, NOW)
    assert result.state is DeliveryState.UNMAPPED
    garbage = tabby.interpret(b"\xff\xfe", NOW)
    assert garbage.state is DeliveryState.REJECTED
    assert garbage.dedupe_key.startswith("malformed:")


# --- Tamara ---------------------------------------------------------------------


def test_tamara_capture_amount_is_an_exact_json_number():
    sim = TamaraSimulator()
    order = sim.new_order("INV-2026-000020", "0.30", "SAR")
    delivery = sim.capture(order)
    assert b'"amount":0.30' in delivery.body
    result = tamara.interpret(delivery.body, NOW)
    [fact] = result.facts
    assert fact.payload.amount_minor == 30
    assert fact.payload.capture_id == order.capture_ids[0]
    assert result.dedupe_key == f"{order.order_id}:order_captured:{order.capture_ids[0]}"


def test_tamara_refund_and_partial_captures_each_have_their_own_key():
    sim = TamaraSimulator()
    order = sim.new_order("INV-2026-000021", "9.999", "KWD")
    first = tamara.interpret(sim.capture(order, "4.999").body, NOW)
    second = tamara.interpret(sim.capture(order, "5.000").body, NOW)
    refund = tamara.interpret(sim.refund(order, "1.001").body, NOW)
    assert first.facts[0].payload.amount_minor == 4999
    assert second.facts[0].payload.amount_minor == 5000
    assert refund.facts[0].kind is FactKind.REFUNDED
    assert refund.facts[0].payload.amount_minor == 1001
    assert len({first.dedupe_key, second.dedupe_key, refund.dedupe_key}) == 3


def test_tamara_declined_canceled_expired_fail_and_approved_is_informational():
    sim = TamaraSimulator()
    order = sim.new_order("INV-2026-000022", "10.00")
    declined = tamara.interpret(sim.decline(order).body, NOW)
    assert declined.facts[0].payload.reason == "declined: insufficient credit"
    canceled = tamara.interpret(sim.cancel(order).body, NOW)
    assert canceled.facts[0].payload.amount_minor == 1000
    assert tamara.interpret(sim.expire(order).body, NOW).facts[0].payload.reason == "expired"
    approved = tamara.interpret(sim.approve(order).body, NOW)
    assert approved.state is DeliveryState.ACCEPTED and approved.facts == ()


def test_tamara_missing_reference_is_unmapped():
    sim = TamaraSimulator()
    result = tamara.interpret(sim.capture(sim.new_order(None, "10.00")).body, NOW)
    assert result.state is DeliveryState.UNMAPPED


# --- Standard Webhooks ------------------------------------------------------------


def test_standard_payment_verified_is_normalized():
    delivery = StandardWebhooksSender().delivery(
        "payment.verified",
        {
            "provider": "moyasar",
            "payment_id": "pay_1",
            "invoice_number": "INV-2026-000030",
            "amount": "99.99",
            "currency": "SAR",
        },
        webhook_id="msg_abc",
    )
    result = standard.interpret("msg_abc", delivery.body, NOW)
    assert result.dedupe_key == "msg_abc"
    assert result.facts[0].payload.amount_minor == 9999


def test_standard_unknown_type_is_unmapped_and_refund_needs_id():
    sender = StandardWebhooksSender()
    other = sender.delivery("invoice.created", {})
    assert standard.interpret("m1", other.body, NOW).state is DeliveryState.UNMAPPED
    refund = sender.delivery(
        "payment.refunded",
        {
            "provider": "tabby",
            "payment_id": "p",
            "invoice_number": "INV-2026-000031",
            "amount": "1.00",
            "currency": "SAR",
        },
    )
    assert standard.interpret("m2", refund.body, NOW).state is DeliveryState.REJECTED
