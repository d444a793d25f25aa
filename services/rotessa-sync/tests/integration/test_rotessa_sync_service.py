# ruff: noqa: B023 - closures are awaited inside the loop iteration that defines them
"""Rotessa-sync against real Postgres and the real broker, Rotessa simulated in process.

The ledger is played by the test: it answers the commands this service published
with ``ledger.transaction.committed`` / ``ledger.command.rejected`` through Kafka.
"""

import asyncio
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from folio.devstack.testing import admin_headers, eventually, running_app
from folio.rotessa_sync.adapters.rotessa_client import RotessaClient
from folio.rotessa_sync.app import create_app
from folio.rotessa_sync.service.backfill import BackfillRunner
from folio.rotessa_sync.settings import RotessaSyncSettings
from folio.shared.contracts import (
    LedgerCommandRejected,
    LedgerPosting,
    LedgerTransactionCommitted,
    MortgageChanged,
    new_envelope,
)
from folio.shared.db import outbox
from folio.simulators.rotessa import create_app as create_simulator

pytestmark = pytest.mark.integration
TODAY = datetime.now(ZoneInfo("America/Toronto")).date()  # the service's business day
API = "/api/rotessa"


def unique_offset() -> int:
    return random.randint(1, 9_000) * 10_000_000


@pytest.fixture
async def settings(infra):
    url = await infra.service_database_url("rotessa")
    return RotessaSyncSettings(
        database_url=url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        sync_enabled=False,
        backfill_poll_seconds=0.2,
        backfill_lease_seconds=5,
        rotessa_base_url="http://rotessa.test/v1",
        rotessa_backoff_initial_seconds=0.01,
        rotessa_backoff_max_seconds=0.05,
        log_json=False,
    )


def make_simulator(**kwargs):
    kwargs.setdefault("today", TODAY)
    kwargs.setdefault("id_offset", unique_offset())
    return create_simulator(**kwargs)


async def publish(app, payload, **kwargs):
    """Publish as another service would (the app's own broker may still be connecting)."""
    envelope = new_envelope(payload, producer="test", **kwargs)
    producer = AIOKafkaProducer(
        bootstrap_servers=app.state.settings.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            envelope.event_type,
            value=envelope.model_dump_json().encode(),
            key=payload.aggregate_key().encode(),
        )
    finally:
        await producer.stop()
    return envelope


async def add_mortgage(app, mortgage_id: str, name: str = "Test Borrower", status="ACTIVE"):
    await publish(
        app,
        MortgageChanged(
            mortgage_id=mortgage_id,
            borrower_name=name,
            principal_minor=45_000_000,
            currency="CAD",
            status=status,
            version=1,
            changed_at=datetime.now(UTC),
        ),
    )

    async def present():
        async with app.state.uow_factory() as uow:
            return await uow.repo.get_mortgage(mortgage_id)

    await eventually(present)


async def published_commands(app, backfill_id: str | None = None) -> list[dict]:
    async with app.state.uow_factory() as uow:
        rows = await uow.session.execute(
            sa.select(outbox.c.value)
            .where(outbox.c.topic.in_(["payment.collected", "payment.reversed"]))
            .order_by(outbox.c.id)
        )
        envelopes = [json.loads(r.value) for r in rows]
    if backfill_id is not None:
        envelopes = [e for e in envelopes if e["data"].get("backfill_id") == backfill_id]
    return envelopes


async def answer_as_ledger(app, envelopes: list[dict], *, reject: set[str] = frozenset()):
    """Play the ledger: commit each command, or reject the given references."""
    for number, envelope in enumerate(envelopes):
        data = envelope["data"]
        reference = data.get("reversal_reference") or data["reference"]
        if reference in reject:
            payload = LedgerCommandRejected(
                source_event_id=envelope["event_id"],
                source_event_type=envelope["event_type"],
                reference=reference,
                code="REFERENCE_CONFLICT",
                reason="same reference, different amount",
            )
        else:
            payload = LedgerTransactionCommitted(
                ledger="folio",
                transaction_id=number + 1,
                reference=reference,
                timestamp=data.get("effective_at") or data.get("reversed_at"),
                inserted_at=datetime.now(UTC),
                postings=[
                    LedgerPosting(
                        source="world",
                        destination="rotessa:clearing",
                        amount=data["amount_minor"],
                        asset="CAD/2",
                    )
                ],
                source_event_id=envelope["event_id"],
            )
        await publish(app, payload)


async def refreshed_listing(client, headers) -> dict:
    """Refresh the schedule catalogue from Rotessa, wait for it, and list (the listing
    itself never reads Rotessa)."""
    asked = await client.post(f"{API}/schedules/refresh", headers=headers)
    assert asked.status_code == 202, asked.text
    before = asked.json()["refreshed_at"]

    async def moved():
        body = (await client.get(f"{API}/schedules/unlinked", headers=headers)).json()
        fresh = body["refreshed_at"] and body["refreshed_at"] != before
        return body if fresh and not body["refreshing"] else None

    return await eventually(moved)


async def unlinked_schedules(client, headers) -> list[dict]:
    return (await refreshed_listing(client, headers))["schedules"]


async def backfill_status(client, backfill_id, headers):
    response = await client.get(f"{API}/backfills/{backfill_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_admin_flow_link_with_backfill_until_the_ledger_confirms(settings):
    simulator = make_simulator(seed=21, customers=3)
    sim = simulator.state.simulator
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id = f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        await add_mortgage(app, mortgage_id, "Amira Haddad")
        unlinked = await unlinked_schedules(client, headers)
        ours = {s["schedule_id"] for s in unlinked} & set(sim.schedules)
        assert len(ours) == 3
        pick = next(s for s in unlinked if s["schedule_id"] in sim.schedules)
        assert pick["customer_name"] and pick["amount_minor"] > 0
        assert pick["frequency"] and pick["next_process_date"]
        mortgages = (await client.get(f"{API}/mortgages/unlinked", headers=headers)).json()
        assert mortgage_id in {m["mortgage_id"] for m in mortgages}

        linked = await client.post(
            f"{API}/links",
            json={"mortgage_id": mortgage_id, "schedule_id": pick["schedule_id"],
                  "customer_id": pick["customer_id"], "start_backfill": True},
            headers=headers,
        )  # fmt: skip
        assert linked.status_code == 201, linked.text
        backfill_id = linked.json()["backfill_id"]

        expected = [  # the backfill reads up to today: the next Future debit is not there yet
            t
            for t in sim.transactions.values()
            if t.schedule_id == pick["schedule_id"] and t.process_date <= TODAY
        ]
        approved = [t for t in expected if t.status in ("Approved", "Chargeback")]
        chargebacks = [t for t in expected if t.status == "Chargeback"]

        async def read_everything():
            body = await backfill_status(client, backfill_id, headers)
            return body if body["progress"]["report_finished"] else None

        body = await eventually(read_everything)
        assert body["status"] == "RUNNING"  # waiting for the ledger
        metrics = body["metrics"]
        assert metrics["fetched"] == len(expected)
        assert metrics["approved"] == len(approved)
        assert metrics["published"] == len(approved) + len(chargebacks)
        assert metrics["declined_skipped"] == sum(t.status == "Declined" for t in expected)
        assert metrics["pending_skipped"] == sum(
            t.status in ("Pending", "Future") for t in expected
        )

        commands = await published_commands(app, backfill_id)
        collected = [c for c in commands if c["event_type"] == "payment.collected"]
        assert {c["data"]["reference"] for c in collected} == {
            f"rotessa:txn:{t.id}" for t in approved
        }
        first = min(approved, key=lambda t: t.process_date)
        event = next(c for c in collected if c["data"]["transaction_id"] == first.id)
        assert event["data"]["amount_minor"] == first.amount_minor
        assert event["data"]["mortgage_id"] == mortgage_id
        assert datetime.fromisoformat(event["data"]["effective_at"]).date() == first.process_date

        await answer_as_ledger(app, commands)

        async def completed():
            body = await backfill_status(client, backfill_id, headers)
            return body if body["status"] == "COMPLETED" else None

        body = await eventually(completed)
        assert body["metrics"]["confirmed"] == len(commands)
        assert body["completed_at"]

        history = (
            await client.get(f"{API}/mortgages/{mortgage_id}/backfills", headers=headers)
        ).json()
        assert [h["backfill_id"] for h in history] == [backfill_id]
        by_status = (
            await client.get(f"{API}/backfills", params={"status": "COMPLETED"}, headers=headers)
        ).json()
        assert backfill_id in {h["backfill_id"] for h in by_status}

        # a rerun sends nothing new: every payment is a duplicate
        rerun = await client.post(
            f"{API}/backfills", json={"mortgage_id": mortgage_id}, headers=headers
        )
        assert rerun.status_code == 202, rerun.text
        rerun_id = rerun.json()["backfill_id"]
        body = await eventually(lambda: _status_is(client, rerun_id, headers, "COMPLETED"))
        assert body["metrics"]["published"] == 0
        assert body["metrics"]["duplicates"] == len(commands)
        assert len(await published_commands(app, rerun_id)) == 0

        async with app.state.uow_factory() as uow:
            trail = await uow.audit_trail("mortgage", mortgage_id)
        assert [t["action"] for t in trail] == ["schedule.linked"]


async def _status_is(client, backfill_id, headers, status):
    body = await backfill_status(client, backfill_id, headers)
    return body if body["status"] == status else None


async def test_link_conflicts_bad_input_and_auth_change_nothing(settings):
    simulator = make_simulator(seed=22, customers=2)
    sim = simulator.state.simulator
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    first, second = f"mtg-{uuid.uuid4()}", f"mtg-{uuid.uuid4()}"
    schedule_a, schedule_b = sorted(sim.schedules)
    async with running_app(app) as client:
        await add_mortgage(app, first)
        await add_mortgage(app, second)
        ok = await client.post(
            f"{API}/links", json={"mortgage_id": first, "schedule_id": schedule_a}, headers=headers
        )
        assert ok.status_code == 201, ok.text
        again = await client.post(
            f"{API}/links", json={"mortgage_id": first, "schedule_id": schedule_a}, headers=headers
        )
        assert again.status_code == 201 and again.json()["created"] is False

        cases = [
            ({"mortgage_id": second, "schedule_id": schedule_a}, 409, "schedule-already-linked"),
            ({"mortgage_id": first, "schedule_id": schedule_b}, 409, "mortgage-already-linked"),
            ({"mortgage_id": "mtg-unknown", "schedule_id": schedule_b}, 404, "mortgage-not-found"),
            ({"mortgage_id": second, "schedule_id": 1}, 422, "schedule-not-found"),
            (
                {"mortgage_id": second, "schedule_id": schedule_b, "status": "x"},
                422,
                "validation-error",
            ),
            ({"mortgage_id": second}, 422, "validation-error"),
            # the input policy: no control character in text, strict integers in range
            ({"mortgage_id": "e\u0000x", "schedule_id": schedule_b}, 422, "validation-error"),
            ({"mortgage_id": second, "schedule_id": str(schedule_b)}, 422, "validation-error"),
            ({"mortgage_id": second, "schedule_id": 2**70}, 422, "validation-error"),
        ]
        for body, status, kind in cases:
            response = await client.post(f"{API}/links", json=body, headers=headers)
            assert response.status_code == status, (body, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["type"] == f"urn:folio:problem:{kind}"

        # a customer Rotessa does not know: 404, and Rotessa's own text is not echoed
        unknown = await client.post(
            f"{API}/links",
            json={"mortgage_id": second, "schedule_id": schedule_b, "customer_id": 987_654},
            headers=headers,
        )
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["type"] == "urn:folio:problem:rotessa-not-found"
        assert "error_code" not in unknown.text and "987654" not in unknown.text

        assert (
            await client.post(
                f"{API}/links", json={"mortgage_id": second, "schedule_id": schedule_b}
            )
        ).status_code == 401
        viewer = admin_headers(settings, roles=("viewer",))
        forbidden = await client.post(
            f"{API}/links", json={"mortgage_id": second, "schedule_id": schedule_b}, headers=viewer
        )
        assert forbidden.status_code == 403
        assert (await client.get(f"{API}/backfills", headers=viewer)).status_code == 200
        assert (await client.get(f"{API}/backfills")).status_code == 401
        missing = await client.get(f"{API}/backfills/{uuid.uuid4()}", headers=headers)
        assert missing.status_code == 404
        not_linked = await client.post(
            f"{API}/backfills", json={"mortgage_id": second}, headers=headers
        )
        assert not_linked.status_code == 409
        # the fuzzer's finding: a NUL in a backfill's mortgage id was a 500 from asyncpg
        for mortgage_id in ("e\u000e)\u0006\u0091\u008a9\U0009e58c\u0080\u0000\u0092", "a\u0000"):
            refused = await client.post(
                f"{API}/backfills", json={"mortgage_id": mortgage_id}, headers=headers
            )
            assert refused.status_code == 422, refused.text

        links = (await client.get(f"{API}/links", headers=headers)).json()
        ours = [link for link in links if link["mortgage_id"] in (first, second)]
        assert [(link["mortgage_id"], link["schedule_id"]) for link in ours] == [
            (first, schedule_a)
        ]
        async with app.state.uow_factory() as uow:
            assert len(await uow.audit_trail("mortgage", first)) == 1
            assert await uow.audit_trail("mortgage", second) == []


async def test_concurrent_links_of_one_schedule_one_wins(settings):
    simulator = make_simulator(seed=23, customers=1)
    schedule_id = next(iter(simulator.state.simulator.schedules))
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgages = [f"mtg-{uuid.uuid4()}" for _ in range(4)]
    async with running_app(app) as client:
        for m in mortgages:
            await add_mortgage(app, m)
        responses = await asyncio.gather(*(
            client.post(f"{API}/links", json={"mortgage_id": m, "schedule_id": schedule_id}, headers=headers)
            for m in mortgages
        ))  # fmt: skip
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]


async def test_backfill_killed_midway_and_resumed_equals_a_clean_run(settings):
    """Two identical Rotessa accounts (ids shifted): one backfill is killed after a page
    and resumed by another runner, the other runs cleanly; the commands are the same."""
    results = []
    for kill in (True, False):
        offset = unique_offset()
        simulator = make_simulator(seed=24, customers=0, id_offset=offset)
        sim = simulator.state.simulator
        customer = sim.add_customer(name="Bulk Borrower")
        schedule = sim.add_schedule(
            customer_id=customer.id, amount_minor=123_45, process_date=date(2015, 1, 1)
        )
        first_id, _ = sim.add_bulk_transactions(
            schedule_id=schedule.id, count=2600, first_date=date(2015, 1, 1), per_day=3
        )
        for tid in range(first_id, first_id + 2600, 97):
            sim.set_status(tid, "Chargeback", "NSF")
        app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
        mortgage_id = f"mtg-{uuid.uuid4()}"
        app.state.settings.run_messaging = False  # this test drives the runner itself
        async with running_app(app) as client:
            async with app.state.uow_factory() as uow:
                from folio.shared.contracts import MortgageChanged as MC

                await uow.repo.upsert_mortgage(
                    MC(
                        mortgage_id=mortgage_id,
                        borrower_name="B",
                        principal_minor=1,
                        currency="CAD",
                        status="ACTIVE",
                        version=1,
                        changed_at=datetime.now(UTC),
                    )
                )
                await uow.commit()
            linked = await client.post(
                f"{API}/links",
                json={
                    "mortgage_id": mortgage_id,
                    "schedule_id": schedule.id,
                    "start_backfill": True,
                },
                headers=admin_headers(settings),
            )
            backfill_id = uuid.UUID(linked.json()["backfill_id"])

            def runner():
                return BackfillRunner(
                    client_factory=lambda: RotessaClient(
                        "http://rotessa.test/v1",
                        "sim-rotessa-key",
                        transport=httpx.ASGITransport(app=simulator),
                    ),
                    uow_factory=app.state.uow_factory,
                    concurrency=1,
                    lease_seconds=2,
                    poll_seconds=0.1,
                    timezone="America/Toronto",
                    prefetch=0,
                )

            if kill:
                sim_faults = simulator.state.faults
                sim_faults.plan.delay_seconds = 0.3  # slow pages: the kill lands mid-report
                doomed = runner()
                claimed = await doomed.claim()
                task = asyncio.create_task(doomed.run_one(claimed))

                async def one_page_committed():
                    async with app.state.uow_factory() as uow:
                        row = await uow.repo.get_backfill(backfill_id)
                    return row.next_page >= 2

                await eventually(one_page_committed, timeout=10, interval=0.02)
                task.cancel()  # the process "dies": no cleanup, the lease stays taken
                with pytest.raises(asyncio.CancelledError):
                    await task
                sim_faults.plan.delay_seconds = 0
                async with app.state.uow_factory() as uow:
                    row = await uow.repo.get_backfill(backfill_id)
                    assert not row.report_finished and row.lease_owner == doomed.owner
                await asyncio.sleep(2.1)  # the lease expires
            survivor = runner()
            claimed = await survivor.claim()
            assert claimed is not None and claimed.backfill_id == backfill_id
            await survivor.run_one(claimed)
            commands = await published_commands(app, str(backfill_id))
            async with app.state.uow_factory() as uow:
                row = await uow.repo.get_backfill(backfill_id)
        normalized = sorted(
            (c["event_type"], c["data"]["transaction_id"] - offset, c["data"]["amount_minor"],
             c["data"].get("effective_at"), c["data"].get("reversed_at") is not None)
            for c in commands
        )  # fmt: skip
        results.append((normalized, row.metrics, row.report_finished, row.next_page))
    killed, clean = results
    assert killed[0] == clean[0]
    assert len(clean[0]) == 2600 + len(range(0, 2600, 97))
    assert len({n[1] for n in clean[0]}) == 2600
    assert killed[1] == clean[1] and killed[2] is clean[2] is True and killed[3] == clean[3] == 4


async def test_rotessa_faults_are_survived_and_a_dead_rotessa_fails_then_retry_resumes(settings):
    simulator = make_simulator(seed=25, customers=1)
    sim = simulator.state.simulator
    schedule_id = next(iter(sim.schedules))
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id = f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        await add_mortgage(app, mortgage_id)
        simulator.state.faults.configure(
            type(simulator.state.faults.plan)(
                every_nth=2, every_status=503, endpoints={"transaction_report"}
            )
        )
        linked = await client.post(
            f"{API}/links",
            json={"mortgage_id": mortgage_id, "schedule_id": schedule_id, "start_backfill": True},
            headers=headers,
        )
        assert linked.status_code == 201, linked.text
        backfill_id = linked.json()["backfill_id"]

        async def finished_reading():
            body = await backfill_status(client, backfill_id, headers)
            return body if body["progress"]["report_finished"] else None

        body = await eventually(finished_reading)
        assert body["metrics"]["fetched"] == sum(
            t.schedule_id == schedule_id and t.process_date <= TODAY
            for t in sim.transactions.values()
        )

        # Rotessa down for good: the backfill FAILS, then a retry resumes it.
        commands = await published_commands(app, backfill_id)
        await answer_as_ledger(app, commands)
        await eventually(lambda: _status_is(client, backfill_id, headers, "COMPLETED"))
        simulator.state.faults.configure(
            type(simulator.state.faults.plan)(fail_next=1000, fail_status=503)
        )
        second = await client.post(
            f"{API}/backfills", json={"mortgage_id": mortgage_id}, headers=headers
        )
        second_id = second.json()["backfill_id"]
        failed = await eventually(lambda: _status_is(client, second_id, headers, "FAILED"))
        assert failed["errors"][0]["kind"] == "rotessa_unavailable"
        assert (
            await client.post(f"{API}/backfills/{backfill_id}/retry", headers=headers)
        ).status_code == 409
        simulator.state.faults.clear()
        retried = await client.post(f"{API}/backfills/{second_id}/retry", headers=headers)
        assert retried.status_code == 202 and retried.json()["backfill_id"] == second_id
        done = await eventually(lambda: _status_is(client, second_id, headers, "COMPLETED"))
        assert done["attempts"] == 2 and done["metrics"]["published"] == 0


async def test_ledger_rejection_makes_partial_and_retry_resends_only_rejected(settings):
    simulator = make_simulator(seed=26, customers=1)
    sim = simulator.state.simulator
    schedule_id = next(iter(sim.schedules))
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id = f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        await add_mortgage(app, mortgage_id)
        linked = await client.post(
            f"{API}/links",
            json={"mortgage_id": mortgage_id, "schedule_id": schedule_id, "start_backfill": True},
            headers=headers,
        )
        backfill_id = linked.json()["backfill_id"]
        await eventually(lambda: _reading_done(client, backfill_id, headers))
        commands = await published_commands(app, backfill_id)
        victim = next(c for c in commands if c["event_type"] == "payment.collected")["data"][
            "reference"
        ]
        await answer_as_ledger(app, commands, reject={victim})
        partial = await eventually(lambda: _status_is(client, backfill_id, headers, "PARTIAL"))
        assert partial["metrics"]["rejected"] == 1
        assert partial["metrics"]["confirmed"] == len(commands) - 1
        assert any(
            e["kind"] == "ledger_rejected" and e["reference"] == victim for e in partial["errors"]
        )

        retried = await client.post(f"{API}/backfills/{backfill_id}/retry", headers=headers)
        assert retried.status_code == 202
        retry_id = retried.json()["backfill_id"]
        assert retry_id != backfill_id
        await eventually(lambda: _reading_done(client, retry_id, headers))
        resent = await published_commands(app, retry_id)
        assert [c["data"]["reference"] for c in resent] == [victim]
        await answer_as_ledger(app, resent)
        done = await eventually(lambda: _status_is(client, retry_id, headers, "COMPLETED"))
        assert done["retry_of"] == backfill_id
        # the original keeps its history
        assert (await backfill_status(client, backfill_id, headers))["metrics"]["rejected"] == 1


async def _reading_done(client, backfill_id, headers):
    body = await backfill_status(client, backfill_id, headers)
    return body if body["progress"]["report_finished"] else None


async def test_periodic_sync_posts_new_payments_and_chargebacks(settings):
    simulator = make_simulator(seed=27, customers=1)
    sim = simulator.state.simulator
    schedule_id = next(iter(sim.schedules))
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id = f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        await add_mortgage(app, mortgage_id)
        await client.post(
            f"{API}/links",
            json={"mortgage_id": mortgage_id, "schedule_id": schedule_id},
            headers=headers,
        )
        fresh = sim.add_transaction(
            schedule_id=schedule_id, process_date=TODAY - timedelta(days=1), status="Pending"
        )
        first = await client.post(f"{API}/sync", headers=headers)
        assert first.status_code == 200, first.text
        before = {
            c["data"].get("reversal_reference") or c["data"]["reference"]
            for c in await published_commands(app)
        }
        assert f"rotessa:txn:{fresh.id}" not in before  # pending: not money yet

        sim.set_status(fresh.id, "Approved")
        await client.post(f"{API}/sync", headers=headers)
        sim.set_status(fresh.id, "Chargeback", "NSF")
        third = (await client.post(f"{API}/sync", headers=headers)).json()
        assert third["metrics"]["published"] == 1
        mine = [c for c in await published_commands(app) if c["data"]["transaction_id"] == fresh.id]
        assert [(c["event_type"], c["data"].get("origin")) for c in mine] == [
            ("payment.collected", "sync"), ("payment.reversed", None),
        ]  # fmt: skip
        assert mine[1]["data"]["reference"] == f"rotessa:txn:{fresh.id}"
        assert mine[1]["data"]["reason"] == "NSF"
        again = (await client.post(f"{API}/sync", headers=headers)).json()
        assert again["metrics"]["published"] == 0
        status = (await client.get(f"{API}/sync", headers=headers)).json()
        assert status["last_finished_at"] and status["last_error"] is None


async def test_link_known_to_the_registry_counts_and_backfills_from_rotessa_details(settings):
    simulator = make_simulator(seed=28, customers=2)
    sim = simulator.state.simulator
    schedule_id, other_schedule = sorted(sim.schedules)
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id, rival = f"mtg-{uuid.uuid4()}", f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        await publish(
            app,
            MortgageChanged(
                mortgage_id=mortgage_id, borrower_name="Registry Linked", principal_minor=1,
                currency="CAD", status="ACTIVE", rotessa_schedule_id=schedule_id, version=3,
                changed_at=datetime.now(UTC),
            ),
        )  # fmt: skip
        await add_mortgage(app, rival)

        async def registry_link():
            links = (await client.get(f"{API}/links", headers=headers)).json()
            return next((x for x in links if x["mortgage_id"] == mortgage_id), None)

        link = await eventually(registry_link)
        assert (link["schedule_id"], link["source"], link["first_process_date"]) == (
            schedule_id, "registry", None,
        )  # fmt: skip
        unlinked = {s["schedule_id"] for s in await unlinked_schedules(client, headers)}
        assert schedule_id not in unlinked and other_schedule in unlinked
        free = {
            m["mortgage_id"]
            for m in (await client.get(f"{API}/mortgages/unlinked", headers=headers)).json()
        }
        assert mortgage_id not in free and rival in free
        taken = await client.post(
            f"{API}/links", json={"mortgage_id": rival, "schedule_id": schedule_id}, headers=headers
        )
        assert taken.status_code == 409

        started = await client.post(
            f"{API}/backfills", json={"mortgage_id": mortgage_id}, headers=headers
        )
        assert started.status_code == 202, started.text
        body = await backfill_status(client, started.json()["backfill_id"], headers)
        assert body["window"]["start"] == sim.schedules[schedule_id].process_date.isoformat()


async def test_a_backfill_whose_last_answer_raced_its_last_page_is_still_finished(settings):
    """The last page and the last ledger answer may commit concurrently, each seeing
    the other as unfinished; the runner's sweep completes such a backfill."""
    simulator = make_simulator(seed=29, customers=1)
    schedule_id = next(iter(simulator.state.simulator.schedules))
    settings.run_messaging = False  # no runner loop: the test plays the race's outcome
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    mortgage_id = f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        async with app.state.uow_factory() as uow:
            await uow.repo.upsert_mortgage(
                MortgageChanged(
                    mortgage_id=mortgage_id, borrower_name="Race", principal_minor=1,
                    currency="CAD", status="ACTIVE", version=1, changed_at=datetime.now(UTC),
                )
            )  # fmt: skip
            await uow.commit()
        headers = admin_headers(settings)
        linked = await client.post(
            f"{API}/links",
            json={"mortgage_id": mortgage_id, "schedule_id": schedule_id, "start_backfill": True},
            headers=headers,
        )
        backfill_id = uuid.UUID(linked.json()["backfill_id"])
        async with app.state.uow_factory() as uow:
            await uow.repo.update_backfill(backfill_id, report_finished=True)
            await uow.commit()
        assert (await backfill_status(client, backfill_id, headers))["status"] == "RUNNING"
        await app.state.backfill_runner.finalize_settled()
        assert (await backfill_status(client, backfill_id, headers))["status"] == "COMPLETED"


ADMIN_ROUTES = [
    ("GET", "/schedules/unlinked", False),
    ("POST", "/schedules/refresh", True),
    ("GET", "/mortgages/unlinked", False),
    ("GET", "/links", False),
    ("POST", "/links", True),
    ("POST", "/backfills", True),
    ("GET", "/backfills", False),
    ("GET", f"/backfills/{uuid.uuid4()}", False),
    ("POST", f"/backfills/{uuid.uuid4()}/retry", True),
    ("GET", "/mortgages/m-1/backfills", False),
    ("POST", "/sync", True),
    ("GET", "/sync", False),
    ("GET", "/admin/dead-letters", False),
]


async def test_every_admin_route_denies_anonymous_and_weak_roles(settings):
    settings.run_messaging = False
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=make_simulator(seed=30)))
    viewer = admin_headers(settings, roles=("viewer",))
    stranger = admin_headers(settings, roles=("tenant",))
    forged = {"Authorization": "Bearer " + "x" * 40}
    async with running_app(app) as client:
        for method, path, writes in ADMIN_ROUTES:
            for headers, expected in ((None, 401), (forged, 401), (stranger, 403)):
                response = await client.request(method, API + path, headers=headers, json={})
                assert response.status_code == expected, (method, path, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
            if writes:
                response = await client.request(method, API + path, headers=viewer, json={})
                assert response.status_code == 403, (method, path)
        # another method on a read route is not a way in
        assert (await client.delete(f"{API}/links", headers=viewer)).status_code == 405


async def test_periodic_sync_runs_on_its_own_interval(settings):
    simulator = make_simulator(seed=31, customers=1)
    sim = simulator.state.simulator
    schedule_id = next(iter(sim.schedules))
    settings.sync_enabled = True
    settings.sync_interval_seconds = 0.3
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id = f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        await add_mortgage(app, mortgage_id)
        linked = await client.post(
            f"{API}/links",
            json={"mortgage_id": mortgage_id, "schedule_id": schedule_id},
            headers=headers,
        )
        assert linked.status_code == 201
        fresh = sim.add_transaction(schedule_id=schedule_id, process_date=TODAY - timedelta(days=2))

        async def collected_by_sync():
            commands = await published_commands(app)
            return [
                c for c in commands
                if c["data"]["transaction_id"] == fresh.id and c["data"].get("origin") == "sync"
            ]  # fmt: skip

        (event,) = await eventually(collected_by_sync, timeout=20)
        assert event["data"]["mortgage_id"] == mortgage_id


async def test_a_rerun_after_refusals_resends_exactly_those(settings):
    """Issue 11.1: a rerun (POST /backfills) over a run the ledger partly refused sends
    the refused references again, and only them, instead of reporting every one as a
    duplicate and COMPLETED while the books stay wrong."""
    simulator = make_simulator(seed=33, customers=0)
    sim = simulator.state.simulator
    customer = sim.add_customer(name="Rerun Borrower")
    schedule = sim.add_schedule(
        customer_id=customer.id, amount_minor=120_000, process_date=date(2024, 1, 10)
    )
    statuses = ["Approved"] * 6 + ["Chargeback"] * 2 + ["Declined"]
    for month, status in enumerate(statuses, start=1):
        sim.add_transaction(
            schedule_id=schedule.id, process_date=date(2024, month, 10), status=status
        )
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id = f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        await add_mortgage(app, mortgage_id)
        linked = await client.post(
            f"{API}/links",
            json={"mortgage_id": mortgage_id, "schedule_id": schedule.id, "start_backfill": True},
            headers=headers,
        )
        first_id = linked.json()["backfill_id"]
        await eventually(lambda: _reading_done(client, first_id, headers))
        commands = await published_commands(app, first_id)
        refused = {
            c["data"]["reversal_reference"]
            for c in commands
            if c["event_type"] == "payment.reversed"
        }
        refused.add(
            next(c for c in commands if c["event_type"] == "payment.collected")["data"]["reference"]
        )
        await answer_as_ledger(app, commands, reject=refused)
        await eventually(lambda: _status_is(client, first_id, headers, "PARTIAL"))

        rerun = await client.post(
            f"{API}/backfills", json={"mortgage_id": mortgage_id}, headers=headers
        )
        assert rerun.status_code == 202, rerun.text
        rerun_id = rerun.json()["backfill_id"]
        await eventually(lambda: _reading_done(client, rerun_id, headers))
        resent = await published_commands(app, rerun_id)
        assert sorted(
            c["data"].get("reversal_reference") or c["data"]["reference"] for c in resent
        ) == sorted(refused)
        running = await backfill_status(client, rerun_id, headers)
        assert running["status"] == "RUNNING"  # not COMPLETED before the ledger answers
        assert running["metrics"]["published"] == len(refused)
        assert running["metrics"]["duplicates"] == len(commands) - len(refused)
        await answer_as_ledger(app, resent)
        done = await eventually(lambda: _status_is(client, rerun_id, headers, "COMPLETED"))
        assert done["errors"] == [] and done["metrics"]["confirmed"] == len(refused)


async def test_concurrent_retries_answer_one_202_and_409s_never_500(settings):
    """Issue 11.4: ten admins retry one PARTIAL backfill at once."""
    simulator = make_simulator(seed=34, customers=1)
    schedule_id = next(iter(simulator.state.simulator.schedules))
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id = f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        await add_mortgage(app, mortgage_id)
        linked = await client.post(
            f"{API}/links",
            json={"mortgage_id": mortgage_id, "schedule_id": schedule_id, "start_backfill": True},
            headers=headers,
        )
        backfill_id = linked.json()["backfill_id"]
        await eventually(lambda: _reading_done(client, backfill_id, headers))
        commands = await published_commands(app, backfill_id)
        victims = {c["data"]["reference"] for c in commands[:3]}
        await answer_as_ledger(app, commands, reject=victims)
        await eventually(lambda: _status_is(client, backfill_id, headers, "PARTIAL"))

        answers = await asyncio.gather(
            *(
                client.post(f"{API}/backfills/{backfill_id}/retry", headers=headers)
                for _ in range(10)
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [202] + [409] * 9, [a.text for a in answers]
        for answer in answers:
            if answer.status_code == 409:
                body = answer.json()
                assert body["type"].endswith(("backfill-running", "backfill-not-retryable"))
                assert body["detail"]
        retries = (
            await client.get(f"{API}/mortgages/{mortgage_id}/backfills", headers=headers)
        ).json()
        assert sum(r["retry_of"] == backfill_id for r in retries) == 1


async def _partial_backfill(client, app, headers, simulator) -> tuple[str, str]:
    """A linked mortgage whose backfill ended PARTIAL (the ledger refused one command)."""
    schedule_id = next(iter(simulator.state.simulator.schedules))
    mortgage_id = f"mtg-{uuid.uuid4()}"
    await add_mortgage(app, mortgage_id)
    linked = await client.post(
        f"{API}/links",
        json={"mortgage_id": mortgage_id, "schedule_id": schedule_id, "start_backfill": True},
        headers=headers,
    )
    backfill_id = linked.json()["backfill_id"]
    await eventually(lambda: _reading_done(client, backfill_id, headers))
    commands = await published_commands(app, backfill_id)
    await answer_as_ledger(app, commands, reject={commands[0]["data"]["reference"]})
    await eventually(lambda: _status_is(client, backfill_id, headers, "PARTIAL"))
    return mortgage_id, backfill_id


async def test_idempotency_key_replays_refuses_reuse_and_bounds_its_length(settings):
    """Issue 11.3: a retried click gets the first answer, not a second effect."""
    simulator = make_simulator(seed=35, customers=1)
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    async with running_app(app) as client:
        mortgage_id, backfill_id = await _partial_backfill(client, app, headers, simulator)
        keyed = {**headers, "Idempotency-Key": f"retry-{uuid.uuid4()}"}
        retry_url = f"{API}/backfills/{backfill_id}/retry"
        first = await client.post(retry_url, headers=keyed)
        assert first.status_code == 202 and "Idempotency-Hit" not in first.headers
        again = await client.post(retry_url, headers=keyed)
        assert again.status_code == 202, again.text
        assert again.headers["Idempotency-Hit"] == "true"
        assert again.json() == first.json()
        unkeyed = await client.post(retry_url, headers=headers)  # without a key: a new request
        assert unkeyed.status_code == 409
        history = (
            await client.get(f"{API}/mortgages/{mortgage_id}/backfills", headers=headers)
        ).json()
        assert sum(h["retry_of"] == backfill_id for h in history) == 1
        await eventually(lambda: _reading_done(client, first.json()["backfill_id"], headers))

        # the same key on another request of the route: refused, nothing done
        other = await client.post(f"{API}/backfills/{uuid.uuid4()}/retry", headers=keyed)
        assert other.status_code == 409
        assert other.json()["type"] == "urn:folio:problem:idempotency-key-reused"
        # a key is scoped to the route: the same key starts a backfill elsewhere
        await answer_as_ledger(app, await published_commands(app, first.json()["backfill_id"]))
        await eventually(
            lambda: _status_is(client, first.json()["backfill_id"], headers, "COMPLETED")
        )
        start = {**headers, "Idempotency-Key": keyed["Idempotency-Key"]}
        started = await client.post(
            f"{API}/backfills", json={"mortgage_id": mortgage_id}, headers=start
        )
        assert started.status_code == 202, started.text
        replayed = await client.post(
            f"{API}/backfills", json={"mortgage_id": mortgage_id}, headers=start
        )
        assert replayed.headers["Idempotency-Hit"] == "true"
        assert replayed.json() == started.json()
        reused = await client.post(
            f"{API}/backfills", json={"mortgage_id": "mtg-other"}, headers=start
        )
        assert reused.status_code == 409
        assert reused.json()["type"] == "urn:folio:problem:idempotency-key-reused"

        # (nothing left to send: that rerun completes by itself, no backfill stays running)
        await eventually(
            lambda: _status_is(client, started.json()["backfill_id"], headers, "COMPLETED")
        )
        too_long = {**headers, "Idempotency-Key": "k" * 256}
        refused = await client.post(retry_url, headers=too_long)
        assert refused.status_code == 400
        assert refused.json()["type"] == "urn:folio:problem:idempotency-key-invalid"
        longest = {**headers, "Idempotency-Key": str(uuid.uuid4()).ljust(255, "k")}
        accepted = await client.post(retry_url, headers=longest)
        assert accepted.status_code == 202, accepted.text  # 255 characters: not 400
        await eventually(lambda: _reading_done(client, accepted.json()["backfill_id"], headers))

        spec = (await client.get(f"{API}/openapi.json")).json()
        for path in ("/links", "/backfills", "/backfills/{backfill_id}/retry"):
            parameters = spec["paths"][API + path]["post"]["parameters"]
            header = next(p for p in parameters if p["name"] == "Idempotency-Key")
            assert header["in"] == "header" and "255" in header["description"]


async def test_concurrent_link_requests_with_one_key_have_one_effect(settings):
    simulator = make_simulator(seed=36, customers=1)
    schedule_id = next(iter(simulator.state.simulator.schedules))
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id = f"mtg-{uuid.uuid4()}"
    async with running_app(app) as client:
        await add_mortgage(app, mortgage_id)
        keyed = {**headers, "Idempotency-Key": f"link-{uuid.uuid4()}"}
        body = {"mortgage_id": mortgage_id, "schedule_id": schedule_id, "start_backfill": True}
        answers = await asyncio.gather(
            *(client.post(f"{API}/links", json=body, headers=keyed) for _ in range(10))
        )
        assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
        # one answer, told ten times
        assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1
        assert sum(a.headers.get("Idempotency-Hit") == "true" for a in answers) == 9
        history = (
            await client.get(f"{API}/mortgages/{mortgage_id}/backfills", headers=headers)
        ).json()
        assert len(history) == 1
        async with app.state.uow_factory() as uow:
            trail = await uow.audit_trail("mortgage", mortgage_id)
        assert [t["action"] for t in trail] == ["schedule.linked"]


async def test_a_retry_that_hits_a_deadlock_is_run_again(settings, monkeypatch):
    """Route units of work go through ``retry_transient``: a deadlock is not a 500."""
    from folio.rotessa_sync.entrypoints import api as api_module

    simulator = make_simulator(seed=37, customers=1)
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    real = api_module.retry_backfill_in
    calls = []

    async def deadlock_once(command, uow):
        calls.append(command)
        if len(calls) == 1:  # PostgreSQL reports a deadlock (SQLSTATE 40P01) in this unit
            await uow.session.execute(
                sa.text(
                    "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected'"
                    " USING ERRCODE = '40P01'; END $$"
                )
            )
        return await real(command, uow)

    monkeypatch.setattr(api_module, "retry_backfill_in", deadlock_once)
    async with running_app(app) as client:
        _, backfill_id = await _partial_backfill(client, app, headers, simulator)
        retried = await client.post(f"{API}/backfills/{backfill_id}/retry", headers=headers)
        assert retried.status_code == 202, retried.text
        assert len(calls) == 2
        await eventually(lambda: _reading_done(client, retried.json()["backfill_id"], headers))


def rotessa_calls(simulator) -> int:
    return sum(simulator.state.request_counts.values())


async def test_the_unlinked_listing_reads_the_catalogue_not_rotessa(settings):
    """Issue 12: each view of the listing cost 1 + N Rotessa requests (the customer list,
    then every customer). A refresh pays that once; views pay nothing and show the age;
    what Rotessa gains appears after the next refresh."""
    simulator = make_simulator(seed=40, customers=4)
    sim = simulator.state.simulator
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    async with running_app(app) as client:
        listing = await refreshed_listing(client, headers)
        assert set(sim.schedules) <= {s["schedule_id"] for s in listing["schedules"]}
        assert simulator.state.request_counts == {"customers": 1, "customer": 4}
        assert listing["age_seconds"] is not None and listing["last_error"] is None

        before = rotessa_calls(simulator)
        for _ in range(3):
            again = await client.get(f"{API}/schedules/unlinked", headers=headers)
            assert again.status_code == 200
            assert again.json()["refreshed_at"] == listing["refreshed_at"]
        assert rotessa_calls(simulator) == before  # 0 Rotessa requests per view

        customer = sim.add_customer(name="Newly Added")
        added = sim.add_schedule(
            customer_id=customer.id, amount_minor=98_765, process_date=TODAY + timedelta(days=3)
        )
        stale = (await client.get(f"{API}/schedules/unlinked", headers=headers)).json()
        assert added.id not in {s["schedule_id"] for s in stale["schedules"]}
        fresh = await refreshed_listing(client, headers)
        shown = next(s for s in fresh["schedules"] if s["schedule_id"] == added.id)
        assert (shown["customer_name"], shown["amount_minor"], shown["currency"]) == (
            "Newly Added", 98_765, "CAD",
        )  # fmt: skip
        assert rotessa_calls(simulator) == before + 1 + 5  # one refresh: list + 5 customers


async def test_a_refresh_replaces_the_catalogue_in_bounded_statements(settings, monkeypatch):
    """Set-based writes: the upsert goes in chunks of CATALOGUE_CHUNK rows, never one
    statement per schedule; schedules Rotessa no longer lists leave the catalogue."""
    from folio.rotessa_sync.adapters import repository
    from folio.rotessa_sync.adapters.orm import schedule_catalogue

    monkeypatch.setattr(repository, "CATALOGUE_CHUNK", 4)
    simulator = make_simulator(seed=41, customers=5)  # a schedule per customer
    sim = simulator.state.simulator
    settings.run_messaging = False
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if "schedule_catalogue" in statement:
            statements.append(statement.split()[0].upper())

    async with running_app(app):
        async with app.state.uow_factory() as uow:  # a schedule Rotessa does not have
            await uow.session.execute(
                sa.insert(schedule_catalogue).values(
                    schedule_id=unique_offset() + 9_999_999, customer_id=1, customer_name="Gone",
                    amount_minor=1, currency="CAD", frequency="Monthly",
                    refreshed_at=datetime(2000, 1, 1, tzinfo=UTC),
                )
            )  # fmt: skip
            await uow.commit()
        engine = app.state.runtime.engine.sync_engine
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            assert await app.state.catalogue.refresh() == len(sim.schedules) == 5
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        assert statements == ["INSERT", "INSERT", "DELETE"]  # 5 rows: 4 + 1, then the gone
        async with app.state.uow_factory() as uow:
            held = {s.schedule_id for s in await uow.repo.catalogue()}
        assert held == set(sim.schedules)


async def test_linking_checks_rotessa_not_the_catalogue(settings):
    """A stale catalogue may list a schedule Rotessa no longer has: linking asks Rotessa
    and refuses it; a Rotessa failure during a refresh keeps the previous catalogue."""
    from folio.rotessa_sync.adapters.orm import schedule_catalogue
    from folio.simulators.rotessa.faults import FaultPlan

    simulator = make_simulator(seed=42, customers=1)
    sim = simulator.state.simulator
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    headers = admin_headers(settings)
    mortgage_id = f"mtg-{uuid.uuid4()}"
    ghost = unique_offset() + 9_999_998
    async with running_app(app) as client:
        await add_mortgage(app, mortgage_id)
        listing = await refreshed_listing(client, headers)
        async with app.state.uow_factory() as uow:
            await uow.session.execute(
                sa.insert(schedule_catalogue).values(
                    schedule_id=ghost, customer_id=next(iter(sim.customers)),
                    customer_name="Stale", amount_minor=1, currency="CAD", frequency="Monthly",
                    refreshed_at=datetime.now(UTC),
                )
            )  # fmt: skip
            await uow.commit()
        shown = (await client.get(f"{API}/schedules/unlinked", headers=headers)).json()
        assert ghost in {s["schedule_id"] for s in shown["schedules"]}
        refused = await client.post(
            f"{API}/links", json={"mortgage_id": mortgage_id, "schedule_id": ghost}, headers=headers
        )
        assert refused.status_code == 422 and refused.json()["type"].endswith("schedule-not-found")

        simulator.state.faults.configure(FaultPlan(fail_next=1_000, fail_status=500))
        assert await app.state.catalogue.refresh() is None
        kept = (await client.get(f"{API}/schedules/unlinked", headers=headers)).json()
        assert kept["refreshed_at"] == listing["refreshed_at"] and kept["last_error"]
        assert ghost in {s["schedule_id"] for s in kept["schedules"]}
        simulator.state.faults.clear()


async def test_the_catalogue_refreshes_itself_on_its_interval(settings):
    """Nobody asks: the periodic refresh fills the catalogue (read from the database
    directly, since a view of a stale catalogue would itself ask for a refresh)."""
    from folio.rotessa_sync.service.catalogue import CATALOGUE_NAME

    simulator = make_simulator(seed=43, customers=2)
    sim = simulator.state.simulator
    settings.run_messaging = False
    settings.catalogue_refresh_seconds = 0.3
    app = create_app(settings, rotessa_transport=httpx.ASGITransport(app=simulator))
    async with running_app(app):

        async def catalogued():
            async with app.state.uow_factory() as uow:
                held = {s.schedule_id for s in await uow.repo.catalogue()}
                state = await uow.repo.get_sync(CATALOGUE_NAME)
            return state if set(sim.schedules) <= held else None

        state = await eventually(catalogued)
        assert state.last_finished_at is not None and state.metrics["schedules"] == 2
    assert simulator.state.request_counts["customers"] >= 1
