"""The page path's direct envelope writer emits what ``uow.emit`` would."""

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from folio.rotessa_sync.service.pages import emit_payment_events
from folio.shared.contracts import PaymentCollected, PaymentReversed, decode_envelope
from folio.shared.observability import set_correlation_id
from folio.shared.uow import UnitOfWork

COLLECTED = PaymentCollected(
    reference="rotessa:txn:77",
    mortgage_id="m-1",
    schedule_id=5001,
    transaction_id=77,
    amount_minor=125_000,
    currency="CAD",
    effective_at=datetime(2024, 1, 5, 5, tzinfo=UTC),
    process_date=date(2024, 1, 5),
    origin="backfill",
    backfill_id=str(uuid.uuid4()),
)
REVERSED = PaymentReversed(
    reference="rotessa:txn:77",
    reversal_reference="rotessa:txn:77:chargeback",
    mortgage_id="m-1",
    transaction_id=77,
    amount_minor=125_000,
    currency="CAD",
    reason="NSF",
    reversed_at=datetime(2024, 2, 1, 12, 30, 15, 123456, tzinfo=UTC),
)


def _without_time(value: bytes) -> dict:
    body = json.loads(value)
    assert datetime.fromisoformat(body.pop("occurred_at")).tzinfo is not None
    return body


@pytest.mark.parametrize("correlation", [None, str(uuid.uuid4())])
@pytest.mark.parametrize("event", [COLLECTED, REVERSED], ids=["collected", "reversed"])
def test_direct_envelopes_equal_uow_emit(event, correlation) -> None:
    set_correlation_id(correlation)
    try:
        event_id = uuid.uuid4()
        expected, direct = (UnitOfWork(None, producer="rotessa") for _ in range(2))
        expected.emit(event, event_id=event_id)
        emit_payment_events(direct, [(event, event_id)])
    finally:
        set_correlation_id(None)
    (want,), (got,) = expected._outbox_rows, direct._outbox_rows
    for field in ("event_id", "topic", "key", "headers"):
        assert getattr(got, field) == getattr(want, field), field
    assert _without_time(got.value) == _without_time(want.value)
    envelope = decode_envelope(got.value)
    assert envelope.payload() == event
    assert envelope.producer == "rotessa" and envelope.event_id == event_id
