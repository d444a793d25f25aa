"""``emit_committed`` writes the same outbox message as ``uow.emit(committed_event(tx))``."""

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from folio.ledger.adapters.journal_repository import StoredTransaction
from folio.ledger.domain.journal import Posting
from folio.ledger.service.journal import committed_event, emit_committed
from folio.shared.contracts import LedgerTransactionCommitted, decode_envelope
from folio.shared.observability import set_correlation_id
from folio.shared.uow import UnitOfWork


def outbox_of(emit) -> list:
    """The outbox rows a unit of work queues (no database needed to queue them)."""
    uow = UnitOfWork(sessionmaker=None, producer="ledger")
    emit(uow)
    return uow._outbox_rows


TRANSACTIONS = [
    StoredTransaction(
        ledger="folio",
        id=41,
        postings=(Posting("world", "mortgages:m-1", 150_000, "CAD/2"),),
        timestamp=datetime(2024, 5, 1, 4, 0, tzinfo=UTC),
        inserted_at=datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC),
        reference="rotessa:txn:77",
        metadata={"mortgage_id": "m-1", "origin": "backfill", "note": "café ✓"},
        reverts_id=None,
        source_event_id=str(uuid.uuid4()),
    ),
    StoredTransaction(
        ledger="other",
        id=42,
        postings=(
            Posting("invoices:INV-2026-000001", "world", 5, "SAR/2"),
            Posting("world", "bank:main", 0, "SAR/2"),
        ),
        timestamp=datetime(2024, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
        inserted_at=datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
        reference=None,
        metadata={},
        reverts_id=7,
        source_event_id=None,
    ),
]


@pytest.mark.parametrize("correlation", [None, str(uuid.uuid4())])
def test_same_message_as_the_model_path(correlation):
    set_correlation_id(correlation)
    try:
        fast = outbox_of(lambda uow: emit_committed(uow, TRANSACTIONS))
        slow = outbox_of(
            lambda uow: [uow.emit(committed_event(tx)) for tx in TRANSACTIONS],
        )
    finally:
        set_correlation_id(None)
    assert len(fast) == len(slow) == len(TRANSACTIONS)
    for mine, reference in zip(fast, slow, strict=True):
        assert (mine.topic, mine.key, mine.headers) == (
            reference.topic,
            reference.key,
            reference.headers,
        )
        assert isinstance(mine.value, bytes)
        envelope = decode_envelope(mine.value)
        expected = decode_envelope(reference.value)
        assert envelope.event_id == mine.event_id
        assert (
            envelope.event_type,
            envelope.schema_version,
            envelope.producer,
            envelope.correlation_id,
        ) == (
            expected.event_type,
            expected.schema_version,
            expected.producer,
            expected.correlation_id,
        )
        # the payload validates against the contract and says exactly the same
        assert envelope.payload() == expected.payload()
        assert isinstance(envelope.payload(), LedgerTransactionCommitted)
        # and the JSON itself is the same data, field for field
        assert json.loads(mine.value)["data"] == json.loads(reference.value)["data"]
