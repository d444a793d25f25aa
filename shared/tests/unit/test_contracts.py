import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from folio.shared.contracts import (
    EVENT_MODELS,
    PaymentCollected,
    PaymentVerified,
    decode_envelope,
    minor_to_decimal,
    new_envelope,
    new_event_ids,
    to_minor,
)

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

SAMPLES = {
    "payment.verified": PaymentVerified(
        provider="moyasar", provider_payment_id="pay_1", provider_event_id="evt_1",
        invoice_number="INV-2026-000001", amount_minor=10000, currency="SAR", verified_at=NOW,
    ),
    "payment.collected": PaymentCollected(
        reference="rotessa:txn:7", mortgage_id="m-1", schedule_id=3, transaction_id=7,
        amount_minor=12345, currency="CAD", effective_at=NOW, process_date=date(2026, 1, 5),
        origin="backfill",
    ),
}


@pytest.mark.parametrize("payload", SAMPLES.values(), ids=SAMPLES.keys())
def test_envelope_json_round_trip_keeps_every_field(payload):
    envelope = new_envelope(payload, producer="test", correlation_id=uuid.uuid4())
    decoded = decode_envelope(envelope.model_dump_json())
    assert decoded == envelope
    assert decoded.payload() == payload
    assert EVENT_MODELS[(decoded.event_type, decoded.schema_version)] is type(payload)


def test_every_topic_model_is_frozen_and_tolerates_unknown_fields():
    payload = SAMPLES["payment.verified"]
    with pytest.raises(ValidationError):
        payload.amount_minor = 1  # frozen
    data = {**payload.model_dump(mode="json"), "added_in_a_later_release": 1}
    assert PaymentVerified.model_validate(data) == payload


def test_money_is_integer_minor_units():
    payload = SAMPLES["payment.verified"]
    with pytest.raises(ValidationError):
        PaymentVerified.model_validate({**payload.model_dump(mode="json"), "amount_minor": 100.5})
    with pytest.raises(ValidationError):
        PaymentVerified.model_validate({**payload.model_dump(mode="json"), "currency": "sar"})


def test_naive_times_are_refused():
    data = SAMPLES["payment.verified"].model_dump(mode="json")
    data["verified_at"] = "2026-11-21T10:00:00"
    with pytest.raises(ValidationError):
        PaymentVerified.model_validate(data)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("100.00", "SAR", 10000), ("0.01", "AED", 1), ("1.234", "KWD", 1234), ("7", "CAD", 700),
     (Decimal("19.9"), "USD", 1990)],
)
def test_to_minor_is_exact(amount, currency, minor):
    assert to_minor(amount, currency) == minor
    assert to_minor(minor_to_decimal(minor, currency), currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [("1.001", "SAR"), ("abc", "SAR"), ("1", "XYZ")])
def test_to_minor_refuses_what_it_cannot_represent(amount, currency):
    with pytest.raises(ValueError):
        to_minor(amount, currency)


def test_to_minor_refuses_floats():
    with pytest.raises(TypeError):
        to_minor(1.1, "SAR")


def test_unknown_event_type_has_no_payload():
    envelope = new_envelope(SAMPLES["payment.verified"], producer="t")
    other = envelope.model_copy(update={"event_type": "nope.nothing"})
    with pytest.raises(ValueError):
        other.payload()


def test_new_event_ids_are_distinct_time_ordered_uuids():
    before = time.time_ns() // 1_000_000
    ids = new_event_ids(1000)
    after = time.time_ns() // 1_000_000
    assert len(ids) == 1000 == len(set(ids))
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    # the first 48 bits are the Unix time in milliseconds (RFC 9562), so ids sort by time
    assert all(before <= i.int >> 80 <= after for i in ids)
    assert len({i.int & ((1 << 74) - 1) for i in ids}) == 1000  # the rest is random
    later = new_event_ids(1)[0]
    assert later.int >> 80 >= ids[0].int >> 80
    assert new_event_ids(0) == []
    assert new_envelope(SAMPLES["payment.verified"], producer="t").event_id.version == 7
