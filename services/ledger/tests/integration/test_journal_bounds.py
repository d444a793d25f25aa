"""Nothing is stored that the journal cannot read back (issue 11, item 2): times outside
years 1-9999 in UTC, amounts and resulting volumes beyond bigint are refused before any
write, and rows stored before that was so (or malformed by hand) wedge neither the
sealer, nor ``verify``, nor any read."""

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from folio.ledger.adapters.uow import unit_of_work_factory
from folio.ledger.service.journal import ensure_ledger, seal_pending, verify_journal
from folio.shared.contracts import PaymentCollected

from .conftest import envelope, unique
from .own_ledger import own_ledger
from .test_formance_api import new_ledger, post_tx
from .test_formance_api import posting as p
from .test_payment_events import consumer, outbox_events, record

MAX = 2**63 - 1
LATE = "9999-12-31T23:59:59-12:00"  # 10000-01-01T11:59:59Z
EARLY = "0001-01-01T00:00:00+05:00"  # 0000-12-31T19:00:00Z (1 BC)


async def transactions_of(client, admin, ledger):
    response = await client.get(
        f"/api/ledger/v2/{ledger}/transactions", params={"pageSize": 1000}, headers=admin
    )
    assert response.status_code == 200, response.text
    return response.json()["cursor"]["data"]


async def volumes_of(client, admin, ledger):
    response = await client.get(
        f"/api/ledger/v2/{ledger}/volumes", params={"pageSize": 1000}, headers=admin
    )
    assert response.status_code == 200, response.text
    return {
        (v["account"], v["asset"]): (v["input"], v["output"])
        for v in response.json()["cursor"]["data"]
    }


async def invariants_ok(client, admin, ledger):
    response = await client.get(
        "/api/ledger/journal/invariants", params={"ledger": ledger}, headers=admin
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("timestamp", [LATE, EARLY, "9999-12-31T23:00:00-01:00"])
async def test_a_time_outside_utc_years_1_to_9999_is_refused_before_any_write(
    client, admin, timestamp
):
    ledger = await new_ledger(client, admin)
    response = await post_tx(
        client,
        admin,
        ledger,
        [p("world", "users:1", 100)],
        timestamp=timestamp,
        reference="edge",
        headers={"Idempotency-Key": unique("k")},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "VALIDATION"
    assert await transactions_of(client, admin, ledger) == []
    assert await volumes_of(client, admin, ledger) == {}
    # the refusal used neither the reference nor the key: a valid retry goes through
    assert (
        await post_tx(client, admin, ledger, [p("world", "users:1", 1)], reference="edge")
    ).status_code == 200


async def test_the_last_and_first_utc_instants_are_accepted_and_read_back(client, admin):
    ledger = await new_ledger(client, admin)
    for timestamp in (
        "9999-12-31T23:59:59.999999Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T05:00:00+05:00",
    ):
        response = await post_tx(
            client, admin, ledger, [p("world", "users:1", 100)], timestamp=timestamp
        )
        assert response.status_code == 200, response.text
        tx_id = response.json()["data"]["id"]
        got = await client.get(f"/api/ledger/v2/{ledger}/transactions/{tx_id}", headers=admin)
        assert got.status_code == 200, got.text
        assert datetime.fromisoformat(got.json()["data"]["timestamp"]) == datetime.fromisoformat(
            timestamp.replace("Z", "+00:00")
        )
    # the move at 9999-12-31T23:59:59.999999Z counts in the recomputation too
    assert await invariants_ok(client, admin, ledger) == {"ok": True, "problems": []}
    account = await client.get(f"/api/ledger/v2/{ledger}/accounts/users:1", headers=admin)
    assert account.status_code == 200 and account.json()["data"]["volumes"]["SAR/2"]["input"] == 300
    assert (await client.post("/api/ledger/journal/verify", headers=admin)).status_code == 200


@pytest.mark.parametrize("moment", [LATE, EARLY, "0001-01-01T00:00:00.000001+00:01"])
async def test_query_times_at_calendar_edges_answer_400(client, admin, moment):
    ledger = await new_ledger(client, admin)
    assert (await post_tx(client, admin, ledger, [p("world", "users:1", 100)])).status_code == 200
    base = f"/api/ledger/v2/{ledger}"
    requests = [
        ("GET", f"{base}/transactions", {"pit": moment}, None),
        ("GET", f"{base}/transactions", {"startTime": moment}, None),
        ("GET", f"{base}/transactions", {"endTime": moment}, None),
        ("GET", f"{base}/transactions", {}, {"$lt": {"timestamp": moment}}),
        ("GET", f"{base}/accounts/users:1", {"pit": moment}, None),
        ("GET", f"{base}/aggregate/balances", {"pit": moment}, None),
        ("GET", f"{base}/volumes", {"startTime": moment}, None),
        ("GET", f"{base}/volumes", {"endTime": moment}, None),
    ]
    for method, url, params, body in requests:
        response = await client.request(method, url, params=params, json=body, headers=admin)
        assert response.status_code == 400, (url, params, response.text)
        assert response.json()["errorCode"] == "VALIDATION"


async def test_amounts_beyond_bigint_are_refused_and_volumes_past_it_keep_adding_up(client, admin):
    """A single amount is a bigint; an account's volumes are not bounded by it. Before,
    one accepted posting of 2^63-1 from ``world`` filled world's volume for good: every
    later payment or collection in that asset failed (seen by hand: payment.verified
    dead-lettered with VolumeOverflow)."""
    ledger = await new_ledger(client, admin)
    too_big = await post_tx(client, admin, ledger, [p("world", "users:1", MAX + 1)])
    assert too_big.status_code == 400 and too_big.json()["errorCode"] == "VALIDATION"
    assert await volumes_of(client, admin, ledger) == {}

    summed = await post_tx(
        client, admin, ledger, [p("world", "users:1", MAX), p("world", "users:1", 1)]
    )
    assert summed.status_code == 200, summed.text
    later = await post_tx(client, admin, ledger, [p("world", "users:2", 1)])
    assert later.status_code == 200, later.text  # world keeps taking money
    volumes = await volumes_of(client, admin, ledger)
    assert volumes[("world", "SAR/2")] == (0, MAX + 2)
    assert volumes[("users:1", "SAR/2")] == (MAX + 1, 0)
    back = await post_tx(client, admin, ledger, [p("users:1", "world", 5)])
    assert back.status_code == 200, back.text
    assert await invariants_ok(client, admin, ledger) == {"ok": True, "problems": []}


START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def collection(reference: str, mortgage: str, amount: int, effective_at: datetime = START):
    return record(
        envelope(
            PaymentCollected(
                reference=reference,
                mortgage_id=mortgage,
                schedule_id=1,
                transaction_id=int(reference.rsplit(":", 1)[-1]),
                amount_minor=amount,
                currency="CAD",
                effective_at=effective_at,
                process_date=date(2024, 5, 1),
                origin="backfill",
            )
        )
    )


async def test_a_collection_beyond_bigint_is_rejected_alone_in_its_batch(
    fresh_ledger, journal_config
):
    """The consumer path: an amount beyond bigint or a time beyond year 9999 rejects
    only its own collection; world's volume passing bigint rejects nothing."""
    factory = unit_of_work_factory(fresh_ledger, producer="ledger")
    async with factory() as uow:
        await ensure_ledger(uow, journal_config.ledger)
        await uow.commit()
    c = consumer(factory, journal_config)
    base = uuid.uuid4().int % 10**9
    refs = [f"rotessa:txn:{base + i}" for i in range(5)]
    far = datetime.fromisoformat(LATE)
    await c.process(
        [
            collection(refs[0], "m1", 100),
            collection(refs[1], "m2", MAX),  # world's output passes bigint: fine
            collection(refs[2], "m3", 50),
            collection(refs[3], "m4", MAX + 1),  # an amount beyond bigint
            collection(refs[4], "m5", 10, effective_at=far),  # year 10000 in UTC
        ]
    )
    async with factory() as uow:
        posted = await uow.journal.by_references(journal_config.ledger, refs)
        volumes = await uow.journal.volumes_of(journal_config.ledger)
    assert sorted(posted) == sorted([refs[0], refs[1], refs[2]])
    assert volumes[("world", "CAD/2")].output == MAX + 150
    for ref in refs[3:]:
        rejected = await outbox_events(factory, "ledger.command.rejected", ref)
        assert [e["data"]["code"] for e in rejected] == ["VALIDATION"], ref
    await c.process([collection(f"rotessa:txn:{base + 9}", "m2", MAX)])
    async with factory() as uow:
        volumes = await uow.journal.volumes_of(journal_config.ledger)
        assert volumes[("world", "CAD/2")].output == 2 * MAX + 150
        assert await seal_pending(uow) == 4
        await uow.commit()
    async with factory() as uow:
        assert (await verify_journal(uow))[2] == []


LEGACY_ROWS = """
WITH own AS MATERIALIZED (SELECT pg_current_xact_id()),
l AS (INSERT INTO ledgers (name, bucket) VALUES (:ledger, '_default')),
t AS (
    INSERT INTO transactions (ledger, id, reference, timestamp, inserted_at, postings)
    SELECT :ledger, nextval('transaction_ids'), x.ref, CAST(x.ts AS timestamptz), now(),
           jsonb_build_array(jsonb_build_object(
               'source', 'world', 'destination', x.dest, 'amount', 5, 'asset', 'USD/2'))
    FROM own, (VALUES ('late', :late, 'acct:late'), ('early', :early, 'acct:early')) AS x(ref, ts, dest)
    RETURNING id, timestamp, postings->0->>'destination' AS dest
),
m AS (
    INSERT INTO moves (ledger, transaction_id, address, asset, input, output, effective_at, inserted_at)
    SELECT :ledger, id, a, 'USD/2', i, o, timestamp, now()
    FROM t, LATERAL (VALUES ('world', 0, 5), (t.dest, 5, 0)) AS s(a, i, o)
),
v AS (
    INSERT INTO volumes (ledger, address, asset, input, output)
    VALUES (:ledger, 'world', 'USD/2', 0, 10), (:ledger, 'acct:late', 'USD/2', 5, 0),
           (:ledger, 'acct:early', 'USD/2', 5, 0)
)
INSERT INTO accounts (ledger, address, first_usage, insertion_date)
SELECT :ledger, dest, timestamp, now() FROM t
UNION ALL SELECT :ledger, 'world', min(timestamp), now() FROM t
RETURNING address
"""


async def test_rows_stored_before_the_bounds_wedge_nothing(infra, ledger_settings, admin):
    """Rows written by today's code for the issue's two requests (stored as the database
    keeps them) are sealed, verified and read like any other."""
    async with own_ledger(infra, ledger_settings) as own:
        client, ledger = own.client, "legacy"
        async with own.uow_factory() as uow:
            await uow.session.execute(
                text(LEGACY_ROWS), {"ledger": ledger, "late": LATE, "early": EARLY}
            )
            await uow.commit()
        async with own.uow_factory() as uow:  # what the background sealer runs
            assert await seal_pending(uow) == 2
            await uow.commit()
        report = await client.post("/api/ledger/journal/verify", headers=admin)
        assert report.status_code == 200, report.text
        assert report.json() == {"intact": True, "sealed": 2, "unsealed": 0, "problems": []}
        assert await invariants_ok(client, admin, ledger) == {"ok": True, "problems": []}

        listed = await transactions_of(client, admin, ledger)
        # the database's fixed UTC rendering, era included (Python cannot hold these)
        assert [t["timestamp"] for t in listed] == [
            "0001-12-31T19:00:00.000000Z BC",
            "10000-01-01T11:59:59.000000Z AD",
        ]
        base = f"/api/ledger/v2/{ledger}"
        for tx in listed:
            got = await client.get(f"{base}/transactions/{tx['id']}", headers=admin)
            assert got.status_code == 200 and got.json()["data"] == tx
        reads = [
            (f"{base}/transactions", {"pit": "2026-01-01T00:00:00Z"}),
            (f"{base}/transactions", {"pageSize": 1}),
            (f"{base}/accounts", {"expand": "volumes"}),
            (f"{base}/accounts/acct:early", {}),
            (f"{base}/accounts/acct:late", {"pit": "9999-12-31T23:59:59Z"}),
            (f"{base}/aggregate/balances", {}),
            (f"{base}/volumes", {"endTime": "2026-01-01T00:00:00Z"}),
        ]
        for url, params in reads:
            response = await client.get(url, params=params, headers=admin)
            assert response.status_code == 200, (url, response.text)
        early = await client.get(f"{base}/accounts/acct:early", headers=admin)
        assert early.json()["data"]["firstUsage"] == "0001-12-31T19:00:00.000000Z BC"
        # reverting at its effective date would store the time again: refused, not a 500
        late_id = listed[1]["id"]
        revert = await client.post(
            f"{base}/transactions/{late_id}/revert",
            params={"atEffectiveDate": "true"},
            headers=admin,
        )
        assert revert.status_code == 400 and revert.json()["errorCode"] == "VALIDATION"
        assert (
            await client.post(f"{base}/transactions/{late_id}/revert", headers=admin)
        ).status_code == 201


async def test_an_unreadable_row_is_reported_by_id_and_the_rest_is_sealed(
    infra, ledger_settings, admin
):
    async with own_ledger(infra, ledger_settings) as own:
        ledger = "tampered"
        good = await own.client.post(f"/api/ledger/v2/{ledger}", headers=admin)
        assert good.status_code == 204
        before = await post_tx(own.client, admin, ledger, [p("world", "a", 1)])
        async with own.uow_factory() as uow:
            # malformed postings (only a hand edit or a bug can write them)
            bad_id = (
                await uow.session.execute(
                    text(
                        "INSERT INTO transactions (ledger, id, timestamp, inserted_at, postings) "
                        "VALUES (:l, nextval('transaction_ids'), now(), now(), "
                        '\'{"source": "world"}\') RETURNING id'
                    ),
                    {"l": ledger},
                )
            ).scalar_one()
            await uow.commit()
        after = await post_tx(own.client, admin, ledger, [p("world", "a", 2)])
        async with own.uow_factory() as uow:
            assert await seal_pending(uow) == 2  # the two readable ones
            await uow.commit()
        report = await own.client.post("/api/ledger/journal/verify", headers=admin)
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["intact"] is False and body["sealed"] == 2 and body["unsealed"] == 1
        assert [(x["seal_seq"], x["transaction_id"]) for x in body["problems"]] == [(None, bad_id)]
        assert body["problems"][0]["problem"].startswith("row unreadable, not sealed")
        async with own.uow_factory() as uow:
            sealed = await uow.session.execute(
                text("SELECT transaction_id FROM journal_seals ORDER BY seal_seq")
            )
            assert [r[0] for r in sealed] == [
                before.json()["data"]["id"],
                after.json()["data"]["id"],
            ]


async def test_concurrent_transactions_past_bigint_all_add_up(client, admin):
    """Any two of these pass bigint in world's output; all are stored and the volume is
    their exact sum, whatever the interleaving."""
    ledger = await new_ledger(client, admin)
    responses = await asyncio.gather(
        *(post_tx(client, admin, ledger, [p("world", f"users:{i}", 2**62)]) for i in range(8))
    )
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert len(await transactions_of(client, admin, ledger)) == 8
    volumes = await volumes_of(client, admin, ledger)
    assert volumes[("world", "SAR/2")] == (0, 8 * 2**62)
    assert await invariants_ok(client, admin, ledger) == {"ok": True, "problems": []}


async def test_concurrent_batches_past_bigint_both_post(fresh_ledger, journal_config):
    """Two consumer batches racing on world's volume row, together past bigint: both are
    posted and the volume is their exact sum, in every round."""
    factory = unit_of_work_factory(fresh_ledger, producer="ledger")
    for round_ in range(5):
        config = replace(journal_config, ledger=f"race{round_}")
        async with factory() as uow:
            await ensure_ledger(uow, config.ledger)
            await uow.commit()
        base = uuid.uuid4().int % 10**9
        refs = [f"rotessa:txn:{base}", f"rotessa:txn:{base + 1}"]
        await asyncio.gather(
            consumer(factory, config).process([collection(refs[0], "m1", MAX - 10)]),
            consumer(factory, config).process([collection(refs[1], "m2", 20)]),
        )
        async with factory() as uow:
            posted = await uow.journal.by_references(config.ledger, refs)
            volumes = await uow.journal.volumes_of(config.ledger)
        assert sorted(posted) == sorted(refs), round_
        assert volumes[("world", "CAD/2")].output == MAX + 10
