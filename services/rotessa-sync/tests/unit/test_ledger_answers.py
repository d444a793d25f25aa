"""Only the ledger's answers to rotessa-sync's own commands reach its confirmation
statement: a rent payment's commit (reference an invoice, a source event id from the
webhooks) costs no UPDATE."""

import uuid
from datetime import UTC, datetime

from folio.rotessa_sync.service.handlers import when_ledger_committed_confirm_commands
from folio.shared.contracts import LedgerTransactionCommitted
from folio.shared.contracts.envelope import new_envelope


class RecordingRepository:
    def __init__(self) -> None:
        self.calls: list[list] = []

    async def apply_ledger_answers(self, answers, now):
        self.calls.append(list(answers))
        return set()


class AnswersOnlyUow:
    def __init__(self) -> None:
        self.repo = RecordingRepository()

    async def now(self) -> datetime:
        return datetime(2026, 12, 4, tzinfo=UTC)


def committed(reference: str | None, source_event_id: str | None) -> object:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    payload = LedgerTransactionCommitted(
        ledger="folio", transaction_id=7, reference=reference, timestamp=now, inserted_at=now,
        postings=[], source_event_id=source_event_id,
    )  # fmt: skip
    return new_envelope(payload, producer="ledger")


async def test_a_rent_payment_commit_runs_no_confirmation():
    uow = AnswersOnlyUow()
    rent = committed("webhooks:moyasar:pay-1", str(uuid.uuid4()))
    formance = committed(None, None)
    await when_ledger_committed_confirm_commands([rent, formance], uow)
    assert uow.repo.calls == []


async def test_a_rotessa_collection_and_its_chargeback_are_confirmed():
    uow = AnswersOnlyUow()
    ours = [committed("rotessa:txn:100389", str(uuid.uuid4())),
            committed("rotessa:txn:100389:chargeback", None)]  # fmt: skip
    await when_ledger_committed_confirm_commands([committed("INV-1", "x"), *ours], uow)
    [answers] = uow.repo.calls
    assert [a.reference for a in answers] == ["rotessa:txn:100389", "rotessa:txn:100389:chargeback"]
