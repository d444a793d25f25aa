"""Issue 18: the rest of the Formance Ledger v2 surface, through the official SDK —
ledger info, counts, stats, ledger metadata (more below per route family)."""

import asyncio
import json

import httpx
import pytest
from formance_sdk_python import SDK
from formance_sdk_python.models import ledger as sdk_models
from sqlalchemy import text

from .conftest import unique


@pytest.fixture
async def sdk(app, admin):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, headers=admin) as async_client:
        yield SDK(server_url="http://testserver", async_client=async_client)


@pytest.fixture
async def reader_sdk(app, viewer):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, headers=viewer) as async_client:
        yield SDK(server_url="http://testserver", async_client=async_client)


def posting(source, destination, amount, asset="SAR/2"):
    return {"source": source, "destination": destination, "amount": amount, "asset": asset}


async def new_ledger(sdk) -> str:
    name = unique("lg")
    await sdk.ledger.v2.create_ledger_async(
        request={"ledger": name, "v2_create_ledger_request": {}}
    )
    return name


async def create_tx(sdk, ledger, postings, **body):
    response = await sdk.ledger.v2.create_transaction_async(
        request={
            "ledger": ledger,
            "v2_post_transaction": {"postings": postings, "metadata": {}, **body},
        }
    )
    return response.v2_create_transaction_response.data


async def test_info_stats_and_counts(sdk, reader_sdk):
    ledger = await new_ledger(sdk)
    await create_tx(sdk, ledger, [posting("world", "users:1", 100)], reference="a")
    await create_tx(sdk, ledger, [posting("world", "users:2", 50)])
    await create_tx(sdk, ledger, [posting("users:1", "users:2", 10)])

    info = await reader_sdk.ledger.v2.get_ledger_info_async(request={"ledger": ledger})
    data = info.v2_ledger_info_response.data
    assert data.name == ledger and data.storage.migrations[0].state == "DONE"

    stats = await reader_sdk.ledger.v2.read_stats_async(request={"ledger": ledger})
    assert stats.v2_stats_response.data.transactions == 3
    assert stats.v2_stats_response.data.accounts == 3

    counted = await reader_sdk.ledger.v2.count_transactions_async(
        request={"ledger": ledger, "request_body": {}}
    )
    assert counted.status_code == 204 and counted.headers["count"] == ["3"]
    # the same filters as the list
    by_account = await reader_sdk.ledger.v2.count_transactions_async(
        request={"ledger": ledger, "request_body": {"$match": {"account": "users:1"}}}
    )
    assert by_account.headers["count"] == ["2"]
    by_reference = await reader_sdk.ledger.v2.count_transactions_async(
        request={"ledger": ledger, "request_body": {"$match": {"reference": "a"}}}
    )
    assert by_reference.headers["count"] == ["1"]
    accounts = await reader_sdk.ledger.v2.count_accounts_async(
        request={"ledger": ledger, "request_body": {}}
    )
    assert accounts.headers["count"] == ["3"]

    with pytest.raises(sdk_models.ErrorsV2ErrorResponse) as missing:
        await reader_sdk.ledger.v2.read_stats_async(request={"ledger": unique("nope")})
    assert missing.value.data.error_code == sdk_models.V2ErrorsEnum.LEDGER_NOT_FOUND


async def test_ledger_metadata_set_and_delete(sdk, reader_sdk, client, viewer):
    ledger = await new_ledger(sdk)
    done = await sdk.ledger.v2.update_ledger_metadata_async(
        request={"ledger": ledger, "request_body": {"owner": "finance", "region": "sa"}}
    )
    assert done.status_code == 204
    await sdk.ledger.v2.delete_ledger_metadata_async(request={"ledger": ledger, "key": "region"})
    got = await reader_sdk.ledger.v2.get_ledger_async(request={"ledger": ledger})
    assert got.v2_get_ledger_response.data.metadata == {"owner": "finance"}

    # a reader may not write; bounded keys; unknown ledger
    refused = await client.put(f"/api/ledger/v2/{ledger}/metadata", json={"k": "v"}, headers=viewer)
    assert refused.status_code == 403
    with pytest.raises(sdk_models.ErrorsV2ErrorResponse) as invalid:
        await sdk.ledger.v2.update_ledger_metadata_async(
            request={"ledger": ledger, "request_body": {"k" * 300: "v"}}
        )
    assert invalid.value.data.error_code == sdk_models.V2ErrorsEnum.VALIDATION
    with pytest.raises(sdk_models.ErrorsV2ErrorResponse) as missing:
        await sdk.ledger.v2.update_ledger_metadata_async(
            request={"ledger": unique("nope"), "request_body": {"k": "v"}}
        )
    assert missing.value.data.error_code == sdk_models.V2ErrorsEnum.LEDGER_NOT_FOUND


async def verify(client, admin):
    return (await client.post("/api/ledger/journal/verify", headers=admin)).json()


async def test_transaction_metadata_is_a_sealed_journal_fact(sdk, client, admin, uow_factory):
    ledger = await new_ledger(sdk)
    tx = await create_tx(sdk, ledger, [posting("world", "users:1", 100)], metadata={"a": "1"})
    done = await sdk.ledger.v2.add_metadata_on_transaction_async(
        request={"ledger": ledger, "id": tx.id, "request_body": {"b": "2", "a": "x"}}
    )
    assert done.status_code == 204
    await sdk.ledger.v2.delete_transaction_metadata_async(
        request={"ledger": ledger, "id": tx.id, "key": "b"}
    )
    got = await sdk.ledger.v2.get_transaction_async(request={"ledger": ledger, "id": tx.id})
    changed = got.v2_get_transaction_response.data
    assert changed.metadata == {"a": "x"}
    assert changed.postings == tx.postings  # postings never change

    # each change went to the outbox, keyed by its target
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            text("SELECT key, value FROM outbox WHERE topic = 'ledger.metadata.changed'")
        )
        events = [(key, json.loads(value)["data"]) for key, value in rows]
    mine = [(k, d) for k, d in events if d["ledger"] == ledger]
    assert [(d["kind"], d["metadata"], d["key"]) for _, d in mine] == [
        ("SET_METADATA", {"b": "2", "a": "x"}, None),
        ("DELETE_METADATA", None, "b"),
    ]
    assert {k for k, _ in mine} == {f"TRANSACTION:{ledger}:{tx.id}"}

    # sealed like a transaction: verify seals them and finds the chain intact
    report = await verify(client, admin)
    assert report["intact"] is True and report["unsealed"] == 0, report
    change_id = mine[0][1]["log_id"]
    async with uow_factory() as uow:
        sealed = await uow.session.execute(
            text("SELECT 1 FROM journal_seals WHERE ledger = :l AND transaction_id = :id"),
            {"l": ledger, "id": change_id},
        )
        assert sealed.first() is not None


async def test_a_forged_metadata_change_or_projection_is_reported(sdk, client, admin, uow_factory):
    ledger = await new_ledger(sdk)
    tx = await create_tx(sdk, ledger, [posting("world", "users:1", 100)])
    await sdk.ledger.v2.add_metadata_on_transaction_async(
        request={"ledger": ledger, "id": tx.id, "request_body": {"status": "ok"}}
    )
    assert (await verify(client, admin))["intact"] is True

    async def tamper(sql, **params):
        async with uow_factory() as uow:
            for table in ("metadata_changes", "transactions"):
                await uow.session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            await uow.session.execute(text(sql), {"l": ledger, **params})
            for table in ("metadata_changes", "transactions"):
                await uow.session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
            await uow.commit()

    forged = '{"status": "forged"}'
    try:
        await tamper(
            f"UPDATE metadata_changes SET metadata = '{forged}' WHERE ledger = :l",
        )
        report = await verify(client, admin)
        assert report["intact"] is False
        assert {p["problem"] for p in report["problems"]} == {
            "row modified",
            "metadata differs from its logged changes",
        }
    finally:
        await tamper(
            'UPDATE metadata_changes SET metadata = \'{"status": "ok"}\' WHERE ledger = :l'
        )
    assert (await verify(client, admin))["intact"] is True
    try:  # the current metadata edited behind the journal's back
        await tamper(f"UPDATE transactions SET current_metadata = '{forged}' WHERE ledger = :l")
        report = await verify(client, admin)
        assert [(p["transaction_id"], p["problem"]) for p in report["problems"]] == [
            (tx.id, "metadata differs from its logged changes")
        ]
    finally:
        await tamper(
            'UPDATE transactions SET current_metadata = \'{"status": "ok"}\' WHERE ledger = :l'
        )
    assert (await verify(client, admin))["intact"] is True


async def test_account_metadata_set_and_delete(sdk, client, admin, viewer):
    ledger = await new_ledger(sdk)
    await create_tx(sdk, ledger, [posting("world", "users:1", 100)])
    await sdk.ledger.v2.add_metadata_to_account_async(
        request={"ledger": ledger, "address": "users:1", "request_body": {"tier": "gold"}}
    )
    # an account Formance does not know yet is created by its metadata
    await sdk.ledger.v2.add_metadata_to_account_async(
        request={"ledger": ledger, "address": "users:new", "request_body": {"k": "v"}}
    )
    await sdk.ledger.v2.delete_account_metadata_async(
        request={"ledger": ledger, "address": "users:new", "key": "k"}
    )
    one = await sdk.ledger.v2.get_account_async(request={"ledger": ledger, "address": "users:1"})
    assert one.v2_account_response.data.metadata == {"tier": "gold"}
    new = await sdk.ledger.v2.get_account_async(request={"ledger": ledger, "address": "users:new"})
    assert new.v2_account_response.data.metadata == {}
    assert (await verify(client, admin))["intact"] is True

    refused = await client.post(
        f"/api/ledger/v2/{ledger}/accounts/users:1/metadata", json={"k": "v"}, headers=viewer
    )
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("transactions/999999999999/metadata", {"k": "v"}, 404, "NOT_FOUND"),
        ("transactions/abc/metadata", {"k": "v"}, 400, "VALIDATION"),
        ("transactions/1/metadata", {"k": 1}, 400, "VALIDATION"),
        ("transactions/1/metadata", ["k"], 400, "VALIDATION"),
        ("accounts/bad address!/metadata", {"k": "v"}, 400, "VALIDATION"),
        ("accounts/users:1/metadata", {"k" * 300: "v"}, 400, "VALIDATION"),
    ],
)
async def test_metadata_refusals_use_formance_codes(sdk, client, admin, path, body, status, code):
    ledger = await new_ledger(sdk)
    response = await client.post(f"/api/ledger/v2/{ledger}/{path}", json=body, headers=admin)
    assert response.status_code == status, response.text
    assert response.json()["errorCode"] == code


async def test_deleting_metadata_of_unknown_targets_is_not_found(sdk, client, admin):
    ledger = await new_ledger(sdk)
    for path in ("transactions/999999999999/metadata/k", "accounts/users:none/metadata/k"):
        response = await client.delete(f"/api/ledger/v2/{ledger}/{path}", headers=admin)
        assert response.status_code == 404 and response.json()["errorCode"] == "NOT_FOUND"
    missing = await client.delete(f"/api/ledger/v2/{unique('nope')}/metadata/k", headers=admin)
    assert missing.json()["errorCode"] == "LEDGER_NOT_FOUND"


async def test_logs_list_every_change_with_its_chain_link_paginated(sdk, client, admin):
    ledger = await new_ledger(sdk)
    first = await create_tx(sdk, ledger, [posting("world", "users:1", 100)], reference="r1")
    await sdk.ledger.v2.add_metadata_on_transaction_async(
        request={"ledger": ledger, "id": first.id, "request_body": {"k": "v"}}
    )
    await sdk.ledger.v2.delete_transaction_metadata_async(
        request={"ledger": ledger, "id": first.id, "key": "k"}
    )
    await sdk.ledger.v2.add_metadata_to_account_async(
        request={"ledger": ledger, "address": "users:1", "request_body": {"tier": "gold"}}
    )
    reverted = await sdk.ledger.v2.revert_transaction_async(
        request={"ledger": ledger, "id": first.id}
    )
    reversal = reverted.v2_create_transaction_response.data
    assert (await verify(client, admin))["intact"] is True  # seals every entry

    logs, cursor = [], None
    while True:
        request = {"ledger": ledger, "page_size": 2, "request_body": {}}
        if cursor:
            request["cursor"] = cursor
        page = (await sdk.ledger.v2.list_logs_async(request=request)).v2_logs_cursor_response
        logs.extend(page.cursor.data)
        if not page.cursor.has_more:
            break
        cursor = page.cursor.next
    types = [log.type for log in logs]
    assert types == [
        sdk_models.V2LogType.REVERTED_TRANSACTION,
        sdk_models.V2LogType.SET_METADATA,
        sdk_models.V2LogType.DELETE_METADATA,
        sdk_models.V2LogType.SET_METADATA,
        sdk_models.V2LogType.NEW_TRANSACTION,
    ]
    ids = [log.id for log in logs]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    assert all(len(log.hash) == 64 for log in logs)
    assert logs[0].data.transaction.id == reversal.id
    assert logs[0].data.reverted_transaction.id == first.id
    assert logs[1].data.target_id == "users:1" and logs[1].data.metadata == {"tier": "gold"}
    assert logs[2].data.key == "k" and logs[2].data.target_id == first.id
    assert logs[3].data.metadata == {"k": "v"}
    assert logs[4].data.transaction.reference == "r1"
    assert logs[4].data.transaction.metadata == {}  # as created: later changes are entries

    # the hash is the seal's chain link: the chain verified above vouches for it
    report = await client.post("/api/ledger/journal/verify", headers=admin)
    assert report.json()["intact"] is True
    bad = await client.get(f"/api/ledger/v2/{ledger}/logs", params={"cursor": "!!"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["errorCode"] == "VALIDATION"


async def test_metadata_filters_on_transactions_and_accounts(sdk):
    ledger = await new_ledger(sdk)
    a = await create_tx(sdk, ledger, [posting("world", "users:1", 1)], metadata={"kind": "rent"})
    b = await create_tx(sdk, ledger, [posting("world", "users:2", 1)], metadata={"kind": "fee"})
    c = await create_tx(sdk, ledger, [posting("world", "users:3", 1)], metadata={"kind": "rent"})
    # a changed value is matched as it is now, not as created
    await sdk.ledger.v2.add_metadata_on_transaction_async(
        request={"ledger": ledger, "id": b.id, "request_body": {"kind": "rent", "late": "yes"}}
    )
    await sdk.ledger.v2.add_metadata_on_transaction_async(
        request={"ledger": ledger, "id": c.id, "request_body": {"kind": "void"}}
    )

    async def ids(body, page_size=15):
        found, cursor = [], None
        while True:
            request = {"ledger": ledger, "request_body": body, "page_size": page_size}
            if cursor:
                request["cursor"] = cursor
            page = await sdk.ledger.v2.list_transactions_async(request=request)
            data = page.v2_transactions_cursor_response.cursor
            found.extend(t.id for t in data.data)
            if not data.has_more:
                return found
            cursor = data.next

    assert await ids({"$match": {"metadata[kind]": "rent"}}) == [b.id, a.id]
    assert await ids({"$match": {"metadata[kind]": "rent"}}, page_size=1) == [b.id, a.id]
    assert await ids({"$exists": {"metadata": "late"}}) == [b.id]
    both = {"$and": [{"$match": {"metadata[kind]": "rent"}}, {"$match": {"account": "users:1"}}]}
    assert await ids(both) == [a.id]
    counted = await sdk.ledger.v2.count_transactions_async(
        request={"ledger": ledger, "request_body": {"$match": {"metadata[kind]": "rent"}}}
    )
    assert counted.headers["count"] == ["2"]

    for address, tier in (("users:1", "gold"), ("users:2", "silver"), ("users:3", "gold")):
        await sdk.ledger.v2.add_metadata_to_account_async(
            request={"ledger": ledger, "address": address, "request_body": {"tier": tier}}
        )
    accounts = await sdk.ledger.v2.list_accounts_async(
        request={
            "ledger": ledger,
            "page_size": 1,
            "request_body": {"$match": {"metadata[tier]": "gold"}},
        }
    )
    first = accounts.v2_accounts_cursor_response.cursor
    assert [x.address for x in first.data] == ["users:1"] and first.has_more
    second = await sdk.ledger.v2.list_accounts_async(
        request={"ledger": ledger, "cursor": first.next, "request_body": {}}
    )
    assert [x.address for x in second.v2_accounts_cursor_response.cursor.data] == ["users:3"]
    gold_users = await sdk.ledger.v2.count_accounts_async(
        request={
            "ledger": ledger,
            "request_body": {
                "$and": [{"$exists": {"metadata": "tier"}}, {"$match": {"address": "users:"}}]
            },
        }
    )
    assert gold_users.headers["count"] == ["3"]


@pytest.mark.parametrize(
    "body",
    [
        {"$match": {"metadata[kind]": 1}},
        {"$match": {"metadata[]": "x"}},
        {"$exists": {"address": "x"}},
        {"$and": [{"$exists": {"metadata": f"k{i}"}} for i in range(21)]},
    ],
)
async def test_bad_metadata_filters_are_validation_errors(sdk, client, admin, body):
    ledger = await new_ledger(sdk)
    for method in ("GET", "HEAD"):
        for what in ("transactions", "accounts"):
            response = await client.request(
                method, f"/api/ledger/v2/{ledger}/{what}", json=body, headers=admin
            )
            assert response.status_code == 400, (method, what, response.text)


def create_element(postings, ik=None, **data):
    element = {
        "action": "CREATE_TRANSACTION",
        "data": {"postings": postings, "metadata": {}, **data},
    }
    if ik:
        element["ik"] = ik
    return element


async def bulk(sdk, ledger, elements, **flags):
    response = await sdk.ledger.v2.create_bulk_async(
        request={"ledger": ledger, "request_body": elements, **flags}
    )
    return response.status_code, response.v2_bulk_response


async def balances(sdk, ledger):
    volumes = await sdk.ledger.v2.get_volumes_with_balances_async(
        request={"ledger": ledger, "request_body": {}, "page_size": 1000}
    )
    data = volumes.v2_volumes_with_balance_cursor_response.cursor.data
    # a refused posting may leave its accounts' volume rows at zero (they were locked
    # to check its funds): only what moved counts
    return {(v.account, v.asset): v.balance for v in data if v.input or v.output}


async def test_bulk_every_action_with_per_element_results(sdk):
    ledger = await new_ledger(sdk)
    tx = await create_tx(sdk, ledger, [posting("world", "users:0", 5)])
    status, answer = await bulk(
        sdk,
        ledger,
        [
            create_element([posting("world", "users:1", 100)], reference="b1"),
            create_element([posting("world", "users:2", 50)]),
            {
                "action": "ADD_METADATA",
                "data": {"targetType": "ACCOUNT", "targetId": "users:1", "metadata": {"k": "v"}},
            },
            {
                "action": "ADD_METADATA",
                "data": {"targetType": "TRANSACTION", "targetId": tx.id, "metadata": {"a": "b"}},
            },
            {
                "action": "DELETE_METADATA",
                "data": {"targetType": "TRANSACTION", "targetId": tx.id, "key": "a"},
            },
            {"action": "REVERT_TRANSACTION", "data": {"id": tx.id}},
        ],
    )
    assert status == 200 and answer.error_code is None
    kinds = [type(r).__name__ for r in answer.data]
    assert kinds == [
        "V2BulkElementResultCreateTransaction",
        "V2BulkElementResultCreateTransaction",
        "V2BulkElementResultAddMetadata",
        "V2BulkElementResultAddMetadata",
        "V2BulkElementResultDeleteMetadata",
        "V2BulkElementResultRevertTransaction",
    ]
    assert answer.data[0].data.reference == "b1"
    assert answer.data[5].data.postings[0].source == "users:0"
    log_ids = [r.log_id for r in answer.data]
    assert log_ids == sorted(log_ids) and len(set(log_ids)) == 6  # each one a log entry
    assert await balances(sdk, ledger) == {
        ("world", "SAR/2"): -150,
        ("users:0", "SAR/2"): 0,
        ("users:1", "SAR/2"): 100,
        ("users:2", "SAR/2"): 50,
    }


async def test_atomic_bulk_failure_rolls_back_every_element(sdk):
    ledger = await new_ledger(sdk)
    status, answer = await bulk(
        sdk,
        ledger,
        [
            create_element([posting("world", "users:1", 100)]),
            create_element([posting("users:1", "users:2", 500)]),  # insufficient funds
            {
                "action": "ADD_METADATA",
                "data": {"targetType": "ACCOUNT", "targetId": "users:3", "metadata": {"k": "v"}},
            },
        ],
        atomic=True,
        continue_on_failure=True,
    )
    assert status == 400 and answer.error_code == sdk_models.V2ErrorsEnum.INSUFFICIENT_FUND
    assert [r.response_type for r in answer.data] == ["ERROR", "ERROR", "ERROR"]
    assert answer.data[1].error_code == "INSUFFICIENT_FUND"
    assert await balances(sdk, ledger) == {}
    counted = await sdk.ledger.v2.count_accounts_async(
        request={"ledger": ledger, "request_body": {}}
    )
    assert counted.headers["count"] == ["0"]


async def test_continue_on_failure_keeps_the_others_and_default_stops(sdk):
    ledger = await new_ledger(sdk)
    elements = [
        create_element([posting("world", "users:1", 100)]),
        create_element([posting("users:9", "users:2", 500)]),  # insufficient funds
        create_element([posting("world", "users:3", 30)]),
    ]
    status, answer = await bulk(sdk, ledger, elements, continue_on_failure=True)
    assert status == 400
    assert [r.response_type for r in answer.data] == [
        "CREATE_TRANSACTION",
        "ERROR",
        "CREATE_TRANSACTION",
    ]
    assert await balances(sdk, ledger) == {
        ("world", "SAR/2"): -130,
        ("users:1", "SAR/2"): 100,
        ("users:3", "SAR/2"): 30,
    }

    other = await new_ledger(sdk)
    status, answer = await bulk(sdk, other, elements)  # neither atomic nor continuing
    assert status == 400
    assert [r.response_type for r in answer.data] == ["CREATE_TRANSACTION", "ERROR"]
    assert await balances(sdk, other) == {("world", "SAR/2"): -100, ("users:1", "SAR/2"): 100}


async def test_replayed_ik_is_a_hit_and_another_element_with_it_is_refused(sdk):
    ledger = await new_ledger(sdk)
    elements = [
        create_element([posting("world", "users:1", 100)], ik="ik-1"),
        {
            "action": "ADD_METADATA",
            "ik": "ik-2",
            "data": {"targetType": "ACCOUNT", "targetId": "users:1", "metadata": {"k": "v"}},
        },
    ]
    _, first = await bulk(sdk, ledger, elements)
    status, again = await bulk(sdk, ledger, elements)
    assert status == 200
    assert [r.log_id for r in again.data] == [r.log_id for r in first.data]
    assert again.data[0].data.id == first.data[0].data.id
    assert await balances(sdk, ledger) == {("world", "SAR/2"): -100, ("users:1", "SAR/2"): 100}

    changed = [create_element([posting("world", "users:1", 999)], ik="ik-1")]
    status, refused = await bulk(sdk, ledger, changed)
    assert status == 400 and refused.data[0].error_code == "VALIDATION"


async def test_bulk_limits_and_refusals(sdk, client, admin, viewer):
    ledger = await new_ledger(sdk)
    path = f"/api/ledger/v2/{ledger}/_bulk"
    too_many = [create_element([posting("world", "a", 1)])] * 10_001
    response = await client.post(path, json=too_many, headers=admin)
    assert response.status_code == 400 and response.json()["errorCode"] == "BULK_SIZE_EXCEEDED"
    response = await client.post(path, json=[{"action": "NOPE"}], headers=admin)
    assert response.status_code == 400 and "element 0" in response.json()["errorMessage"]
    response = await client.post(path, json={"action": "CREATE_TRANSACTION"}, headers=admin)
    assert response.status_code == 400
    twice = [create_element([posting("world", "a", 1)], ik="same")] * 2
    response = await client.post(path, json=twice, headers=admin)
    assert response.status_code == 400 and response.json()["errorCode"] == "VALIDATION"
    assert (await client.post(path, json=[], headers=viewer)).status_code == 403
    missing = await client.post(f"/api/ledger/v2/{unique('x')}/_bulk", json=[], headers=admin)
    assert missing.status_code == 404
    assert await balances(sdk, ledger) == {}


async def test_a_bulk_of_10000_goes_through_the_batch_path_once(sdk, client, admin, monkeypatch):
    from folio.ledger.service import journal as journal_service

    calls = []
    original = journal_service.post_transactions

    async def counted(uow, ledger, candidates, *args, **kwargs):
        calls.append(len(candidates))
        return await original(uow, ledger, candidates, *args, **kwargs)

    monkeypatch.setattr(journal_service, "post_transactions", counted)
    ledger = await new_ledger(sdk)
    elements = [
        create_element([posting("world", f"users:{i % 100}", 1)], reference=f"r{i}", ik=f"k{i}")
        for i in range(10_000)
    ]
    body = json.dumps(elements).encode()
    assert len(body) > 1_048_576  # above every other route's body limit
    response = await client.post(
        f"/api/ledger/v2/{ledger}/_bulk",
        content=body,
        headers={**admin, "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text[:300]
    assert calls == [10_000]
    assert len(response.json()["data"]) == 10_000
    assert (await balances(sdk, ledger))[("world", "SAR/2")] == -10_000
    too_big = await client.post(
        f"/api/ledger/v2/{ledger}/transactions",
        content=body,
        headers={**admin, "content-type": "application/json"},
    )
    assert too_big.status_code == 413


async def all_volumes(sdk, ledger):
    volumes = await sdk.ledger.v2.get_volumes_with_balances_async(
        request={"ledger": ledger, "request_body": {}, "page_size": 1000}
    )
    data = volumes.v2_volumes_with_balance_cursor_response.cursor.data
    return {(v.account, v.asset): (v.input, v.output, v.balance) for v in data}


async def account_metadata(sdk, ledger):
    accounts = await sdk.ledger.v2.list_accounts_async(
        request={"ledger": ledger, "request_body": {}, "page_size": 1000}
    )
    return {a.address: a.metadata for a in accounts.v2_accounts_cursor_response.cursor.data}


async def transactions(sdk, ledger):
    listed = await sdk.ledger.v2.list_transactions_async(
        request={"ledger": ledger, "request_body": {}, "page_size": 1000}
    )
    return [
        (t.reference, t.timestamp, t.metadata, [p.model_dump() for p in t.postings], t.reverted)
        for t in listed.v2_transactions_cursor_response.cursor.data
    ]


async def test_export_then_import_into_a_new_ledger_gives_the_same_books(sdk, client, admin):
    source = await new_ledger(sdk)
    first = await create_tx(
        sdk, source, [posting("world", "users:1", 1_000)], reference="r1", metadata={"a": "1"}
    )
    await create_tx(sdk, source, [posting("users:1", "users:2", 300), posting("world", "fees", 7)])
    third = await create_tx(sdk, source, [posting("world", "users:3", 50, "USD/2")])
    await sdk.ledger.v2.add_metadata_on_transaction_async(
        request={"ledger": source, "id": first.id, "request_body": {"b": "2"}}
    )
    await sdk.ledger.v2.delete_transaction_metadata_async(
        request={"ledger": source, "id": first.id, "key": "a"}
    )
    await sdk.ledger.v2.add_metadata_to_account_async(
        request={"ledger": source, "address": "users:2", "request_body": {"tier": "gold"}}
    )
    await sdk.ledger.v2.revert_transaction_async(
        request={"ledger": source, "id": third.id, "at_effective_date": True}
    )

    exported = await sdk.ledger.v2.export_logs_async(request={"ledger": source})
    assert exported.status_code == 200
    body = (
        await exported.raw_response.aread()
        if not exported.raw_response.is_closed
        else (exported.raw_response.content)
    )
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["type"] for line in lines] == [
        "NEW_TRANSACTION",
        "NEW_TRANSACTION",
        "NEW_TRANSACTION",
        "SET_METADATA",
        "DELETE_METADATA",
        "SET_METADATA",
        "REVERTED_TRANSACTION",
    ]

    target = await new_ledger(sdk)
    imported = await sdk.ledger.v2.import_logs_async(
        request={"ledger": target, "v2_import_logs_request": body}
    )
    assert imported.status_code == 204
    assert await all_volumes(sdk, target) == await all_volumes(sdk, source)
    assert await account_metadata(sdk, target) == await account_metadata(sdk, source)
    assert await transactions(sdk, target) == await transactions(sdk, source)
    report = await verify(client, admin)
    assert report["intact"] is True and report["unsealed"] == 0

    # only into an empty ledger, all or nothing
    again = await client.post(f"/api/ledger/v2/{target}/logs/import", content=body, headers=admin)
    assert again.status_code == 400 and again.json()["errorCode"] == "IMPORT"
    broken = await new_ledger(sdk)
    bad = (
        body
        + b'{"type": "SET_METADATA", "data": {"targetType": "TRANSACTION", "targetId": 999999999, "metadata": {"k": "v"}}}\n'
    )
    refused = await client.post(f"/api/ledger/v2/{broken}/logs/import", content=bad, headers=admin)
    assert refused.status_code == 400 and refused.json()["errorCode"] == "IMPORT"
    assert await all_volumes(sdk, broken) == {}
    garbled = await client.post(
        f"/api/ledger/v2/{broken}/logs/import", content=b"{not json\n", headers=admin
    )
    assert garbled.status_code == 400 and garbled.json()["errorCode"] == "VALIDATION"


async def committed_events(uow_factory, ledger):
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            text("SELECT value FROM outbox WHERE topic = 'ledger.transaction.committed'")
        )
        events = [json.loads(value)["data"] for (value,) in rows]
    return [e for e in events if e["ledger"] == ledger]


async def test_rolled_back_bulk_elements_announce_nothing(sdk, uow_factory):
    ledger = await new_ledger(sdk)
    elements = [
        create_element([posting("world", "users:1", 100)], reference="kept"),
        create_element([posting("users:9", "users:2", 500)]),  # insufficient funds
        create_element([posting("world", "users:3", 30)], reference="never"),
    ]
    await bulk(sdk, ledger, elements, atomic=True)
    assert await committed_events(uow_factory, ledger) == []
    # stopping at the failure rolls the run back and posts its prefix: only that is told
    await bulk(sdk, ledger, elements)
    assert [e["reference"] for e in await committed_events(uow_factory, ledger)] == ["kept"]


async def test_concurrent_metadata_changes_of_one_transaction_all_land(sdk, client, admin):
    ledger = await new_ledger(sdk)
    tx = await create_tx(sdk, ledger, [posting("world", "users:1", 1)])

    async def add(i):
        response = await client.post(
            f"/api/ledger/v2/{ledger}/transactions/{tx.id}/metadata",
            json={f"k{i}": str(i)},
            headers=admin,
        )
        assert response.status_code == 204, response.text

    await asyncio.gather(*(add(i) for i in range(20)))
    got = await sdk.ledger.v2.get_transaction_async(request={"ledger": ledger, "id": tx.id})
    assert got.v2_get_transaction_response.data.metadata == {f"k{i}": str(i) for i in range(20)}
    assert (await verify(client, admin))["intact"] is True
