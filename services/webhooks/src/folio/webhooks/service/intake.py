"""Use cases of webhook intake: record a delivery, replay one, change payment methods.

Handlers take a unit of work and do everything in its one transaction: the
raw delivery, its dedupe decision, the payment facts and the outbox rows are
committed together, so a delivery is either fully accepted or not at all
(and the provider retries). Nothing here talks to the broker.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from folio.shared.contracts import event_type_of
from folio.webhooks.adapters.uow import WebhooksUnitOfWork
from folio.webhooks.domain.deliveries import (
    DeliveryState,
    Interpretation,
    fact_event_id,
)
from folio.webhooks.domain.emission import PaymentProgress, plan_emissions
from folio.webhooks.domain.interpretation import interpret_delivery
from folio.webhooks.domain.payment_methods import (
    METHODS_BY_KEY,
    PROVIDERS,
    PaymentMethodSetting,
    key_is_configured,
    settings_for,
)


@dataclass(frozen=True)
class RecordDelivery:
    """An authenticated delivery, ready to store (credentials already masked)."""

    channel: str
    stored_body: bytes
    raw_body_sha256: str
    headers: dict[str, str]
    query: dict[str, str]
    received_at: datetime
    interpretation: Interpretation


@dataclass(frozen=True)
class IntakeOutcome:
    delivery_id: uuid.UUID
    state: str
    events_emitted: int


class DeliveryNotFound(LookupError):
    pass


def _delivery_row(cmd: RecordDelivery, delivery_id: uuid.UUID) -> dict[str, Any]:
    meaning = cmd.interpretation
    return {
        "id": delivery_id,
        "channel": cmd.channel,
        "dedupe_key": meaning.dedupe_key,
        "state": meaning.state.value,
        "received_at": cmd.received_at,
        "headers": cmd.headers,
        "query": cmd.query,
        "body": cmd.stored_body,
        "body_sha256": cmd.raw_body_sha256,
        "event_name": meaning.event_name,
        "payment_provider": meaning.payment_provider,
        "provider_payment_id": meaning.provider_payment_id,
        "invoice_number": meaning.invoice_number,
        "reason": meaning.reason,
        "replay_count": 0,
    }


async def record_delivery(cmd: RecordDelivery, uow: WebhooksUnitOfWork) -> IntakeOutcome:
    """Store the delivery once per dedupe key and emit its new payment facts; commit."""
    [outcome] = await record_deliveries([cmd], uow)
    return outcome


async def record_deliveries(
    cmds: list[RecordDelivery], uow: WebhooksUnitOfWork
) -> list[IntakeOutcome]:
    """Store several deliveries in one transaction (group commit), each as if alone; commit.

    Set-based: one multi-row statement per step, whatever the batch size. Identical
    deliveries in the batch dedupe against each other as against earlier ones (the
    first in order wins the unique index), and deliveries about the same payment
    are planned in order against its locked progress.
    """
    rows = [_delivery_row(cmd, uuid.uuid4()) for cmd in cmds]
    firsts = await uow.deliveries.insert_firsts(rows)
    await uow.deliveries.insert_duplicates([r for r in rows if r["id"] not in firsts])

    with_facts = [
        (cmd, row)
        for cmd, row in zip(cmds, rows, strict=True)
        if row["id"] in firsts
        and cmd.interpretation.state is DeliveryState.ACCEPTED
        and cmd.interpretation.facts
    ]
    emitted: dict[uuid.UUID, int] = {}
    if with_facts:
        now = cmds[0].received_at
        payments = {
            cmd.interpretation.payment_key: cmd.interpretation.invoice_number
            for cmd, _ in with_facts
        }
        states = await uow.deliveries.lock_progresses(payments, now)  # type: ignore[arg-type]
        fact_rows: list[dict[str, Any]] = []
        reasons: list[tuple[uuid.UUID, str]] = []
        for cmd, row in with_facts:
            key = cmd.interpretation.payment_key
            assert key is not None
            progress, origins = states[key]
            planned = _plan_payment(uow, row["id"], cmd.interpretation, progress, origins, now)
            states[key] = (planned.progress, planned.parked_origins)
            fact_rows += planned.fact_rows
            emitted[row["id"]] = len(planned.fact_rows)
            if planned.note:
                reasons.append((row["id"], planned.note))
        await uow.deliveries.record_batch_outcome(fact_rows, states, reasons, now)
    await uow.commit()
    return [
        IntakeOutcome(
            row["id"],
            cmd.interpretation.state.value
            if row["id"] in firsts
            else DeliveryState.DUPLICATE.value,
            emitted.get(row["id"], 0),
        )
        for cmd, row in zip(cmds, rows, strict=True)
    ]


@dataclass(frozen=True)
class _PlannedPayment:
    progress: PaymentProgress
    parked_origins: dict[str, str]
    fact_rows: list[dict[str, Any]]
    note: str | None


def _plan_payment(
    uow: WebhooksUnitOfWork,
    delivery_id: uuid.UUID,
    meaning: Interpretation,
    progress: PaymentProgress,
    parked_origins: dict[str, str],
    now: datetime,
) -> _PlannedPayment:
    """Plan one delivery's facts against its payment's progress; queue the outbox rows."""
    assert meaning.payment_key is not None
    provider, payment_id = meaning.payment_key
    plan = plan_emissions(progress, meaning.facts)
    origins = dict(parked_origins)
    for fact in plan.parked:
        origins[fact.fact_key] = str(delivery_id)
    fact_rows = []
    for fact in plan.emit:
        origin = uuid.UUID(origins.pop(fact.fact_key, str(delivery_id)))
        event_id = fact_event_id(provider, fact.fact_key)
        uow.emit(fact.payload, event_id=event_id)
        event_type, _ = event_type_of(fact.payload)
        fact_rows.append(
            {
                "event_id": event_id,
                "payment_provider": provider,
                "provider_payment_id": payment_id,
                "fact_key": fact.fact_key,
                "event_type": event_type,
                "delivery_id": origin,
                "invoice_number": fact.payload.invoice_number,
                "amount_minor": fact.payload.amount_minor,
                "currency": fact.payload.currency,
                "emitted_at": now,
            }
        )
    notes = []
    if plan.parked:
        notes.append(f"{len(plan.parked)} refund(s) parked until the payment is verified")
    notes += [f"{key}: {why}" for key, why in plan.skipped if why != "already handled"]
    if not plan.emit and not plan.parked and not notes:
        notes.append("every fact was already emitted by an earlier delivery")
    return _PlannedPayment(plan.progress, origins, fact_rows, "; ".join(notes) or None)


async def _emit_new_facts(
    uow: WebhooksUnitOfWork, delivery_id: uuid.UUID, meaning: Interpretation, now: datetime
) -> tuple[int, str | None]:
    """One delivery (replay): lock its payment's progress, plan, write facts and progress."""
    assert meaning.payment_key is not None
    provider, payment_id = meaning.payment_key
    progress, parked_origins = await uow.deliveries.lock_progress(
        provider, payment_id, meaning.invoice_number, now
    )
    planned = _plan_payment(uow, delivery_id, meaning, progress, parked_origins, now)
    await uow.deliveries.record_facts(planned.fact_rows)
    await uow.deliveries.save_progress(
        provider, payment_id, planned.progress, planned.parked_origins, now
    )
    return len(planned.fact_rows), planned.note


@dataclass(frozen=True)
class ReplayOutcome:
    delivery_id: uuid.UUID
    state: str
    events_republished: int
    events_emitted: int


async def replay_delivery(
    delivery_id: uuid.UUID, actor: str, uow: WebhooksUnitOfWork, now: datetime
) -> ReplayOutcome:
    """Re-interpret a stored delivery and send its events again through the outbox.

    Events it already produced are re-published under their original ids (every
    consumer's inbox makes that a no-op if they were processed); facts that are
    new now (e.g. an unmapped delivery that maps after a fix) are emitted once.
    A duplicate replays the delivery it duplicates.
    """
    stored = await uow.deliveries.get(delivery_id)
    if stored is None:
        raise DeliveryNotFound(delivery_id)
    target_id = stored["duplicate_of"] or delivery_id
    if target_id != delivery_id:
        stored = await uow.deliveries.get(target_id)
        assert stored is not None
    meaning = interpret_delivery(
        stored["channel"], bytes(stored["body"]), stored["headers"], stored["received_at"]
    )
    previous_events = [f["event_id"] for f in await uow.deliveries.facts_of(target_id)]
    republished = await uow.deliveries.republish(previous_events)
    emitted, note = 0, meaning.reason
    if meaning.state is DeliveryState.ACCEPTED and meaning.facts:
        emitted, note = await _emit_new_facts(uow, target_id, meaning, now)
    if stored["stored_state"] != DeliveryState.DUPLICATE.value:
        await uow.deliveries.set_outcome(
            target_id,
            state=meaning.state.value,
            reason=note,
            event_name=meaning.event_name,
            payment_provider=meaning.payment_provider,
            provider_payment_id=meaning.provider_payment_id,
            invoice_number=meaning.invoice_number,
        )
    await uow.deliveries.mark_replayed(target_id, now)
    await uow.audit(
        actor,
        "delivery.replayed",
        "webhook_delivery",
        str(target_id),
        {
            "requested_for": str(delivery_id),
            "events_republished": republished,
            "events_emitted": emitted,
            "state": meaning.state.value,
        },
    )
    await uow.commit()
    return ReplayOutcome(target_id, meaning.state.value, republished, emitted)


# --- payment-method settings (seed 003 §6) ------------------------------------------


async def payment_method_settings(uow: WebhooksUnitOfWork) -> list[PaymentMethodSetting]:
    return settings_for(
        await uow.payment_methods.toggles(), await uow.payment_methods.provider_keys()
    )


async def toggle_payment_method(
    method_key: str, enabled: bool, actor: str, uow: WebhooksUnitOfWork, now: datetime
) -> PaymentMethodSetting:
    if method_key not in METHODS_BY_KEY:
        raise KeyError(method_key)
    previous = await uow.payment_methods.set_enabled(method_key, enabled, actor, now)
    await uow.audit(
        actor,
        "payment_method.toggled",
        "payment_method",
        method_key,
        {"toggle": METHODS_BY_KEY[method_key].toggle, "from": previous, "to": enabled},
    )
    current = next(s for s in await payment_method_settings(uow) if s.method_key == method_key)
    await uow.commit()
    return current


async def set_provider_api_key(
    provider: str, api_key: str | None, actor: str, uow: WebhooksUnitOfWork, now: datetime
) -> bool:
    """Store (or clear) a provider's API key; returns whether one is now configured.

    The audit record says that the key changed and never what it is.
    """
    if provider not in PROVIDERS:
        raise KeyError(provider)
    cleaned = api_key.strip() if api_key else None
    await uow.payment_methods.set_api_key(provider, cleaned or None, actor, now)
    configured = key_is_configured(cleaned)
    await uow.audit(
        actor,
        "provider_key.set" if configured else "provider_key.cleared",
        "payment_provider",
        provider,
        {"api_key_configured": configured},
    )
    await uow.commit()
    return configured
