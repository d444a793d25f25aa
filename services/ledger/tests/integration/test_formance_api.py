"""Formance Ledger v2 compatibility: the official SDK against our app, plus the
reference, Idempotency-Key, backdating, revert and overdraft rules over raw HTTP."""

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from formance_sdk_python import SDK
from formance_sdk_python.models import ledger as sdk_models
from formance_sdk_python.models import operations

from .conftest import unique


@pytest.fixture
async def sdk(app, admin):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, headers=admin) as async_client:
        yield SDK(server_url="http://testserver", async_client=async_client)


async def new_ledger(client, admin) -> str:
    name = unique("lg")
    response = await client.post(f"/api/ledger/v2/{name}", headers=admin)
    assert response.status_code == 204, response.text
    return name


def posting(source, destination, amount, asset="SAR/2"):
    return {"source": source, "destination": destination, "amount": amount, "asset": asset}


async def post_tx(client, admin, ledger, postings, headers=None, params=None, **body):
    return await client.post(
        f"/api/ledger/v2/{ledger}/transactions",
        json={"postings": postings, "metadata": {}, **body},
        headers={**admin, **(headers or {})},
        params=params,
    )


async def test_sdk_round_trip(sdk, client, admin):
    ledger = unique("sdk")
    created = await sdk.ledger.v2.create_ledger_async(
        request={"ledger": ledger, "v2_create_ledger_request": {}}
    )
    assert created.status_code == 204
    backdated = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)
    response = await sdk.ledger.v2.create_transaction_async(
        request={
            "ledger": ledger,
            "v2_post_transaction": {
                "postings": [posting("world", "mortgages:42", 150_000, "CAD/2")],
                "metadata": {"origin": "backfill"},
                "reference": "rotessa:txn:1001",
                "timestamp": backdated,
            },
        }
    )
    tx = response.v2_create_transaction_response.data
    assert tx.reference == "rotessa:txn:1001" and tx.timestamp == backdated
    assert tx.postings[0].destination == "mortgages:42" and tx.reverted is False
    assert tx.post_commit_volumes["mortgages:42"]["CAD/2"].balance == 150_000

    got = await sdk.ledger.v2.get_transaction_async(request={"ledger": ledger, "id": tx.id})
    assert got.v2_get_transaction_response.data.metadata == {"origin": "backfill"}

    listed = await sdk.ledger.v2.list_transactions_async(
        request={"ledger": ledger, "request_body": {"$match": {"reference": "rotessa:txn:1001"}}}
    )
    assert [t.id for t in listed.v2_transactions_cursor_response.cursor.data] == [tx.id]

    account = await sdk.ledger.v2.get_account_async(
        request={"ledger": ledger, "address": "mortgages:42"}
    )
    assert account.v2_account_response.data.volumes["CAD/2"].input == 150_000

    accounts = await sdk.ledger.v2.list_accounts_async(
        request={"ledger": ledger, "request_body": {}}
    )
    assert {a.address for a in accounts.v2_accounts_cursor_response.cursor.data} == {
        "world",
        "mortgages:42",
    }

    balances = await sdk.ledger.v2.get_balances_aggregated_async(
        request={"ledger": ledger, "request_body": {"$match": {"address": "mortgages:"}}}
    )
    assert balances.v2_aggregate_balances_response.data == {"CAD/2": 150_000}

    volumes = await sdk.ledger.v2.get_volumes_with_balances_async(
        request={"ledger": ledger, "request_body": {}}
    )
    rows = volumes.v2_volumes_with_balance_cursor_response.cursor.data
    assert {(v.account, v.balance) for v in rows} == {
        ("world", -150_000),
        ("mortgages:42", 150_000),
    }

    reverted = await sdk.ledger.v2.revert_transaction_async(request={"ledger": ledger, "id": tx.id})
    assert reverted.status_code == 201
    back = reverted.v2_create_transaction_response.data
    assert back.postings[0].source == "mortgages:42"

    with pytest.raises(sdk_models.ErrorsV2ErrorResponse) as second:
        await sdk.ledger.v2.revert_transaction_async(request={"ledger": ledger, "id": tx.id})
    assert second.value.data.error_code == sdk_models.V2ErrorsEnum.ALREADY_REVERT

    with pytest.raises(sdk_models.ErrorsV2ErrorResponse) as dup:
        await sdk.ledger.v2.create_transaction_async(
            request=operations.V2CreateTransactionRequest(
                ledger=ledger,
                v2_post_transaction=sdk_models.V2PostTransaction(
                    postings=[
                        sdk_models.V2Posting(
                            amount=1, asset="CAD/2", source="world", destination="a"
                        )
                    ],
                    metadata={},
                    reference="rotessa:txn:1001",
                ),
            )
        )
    assert dup.value.data.error_code == sdk_models.V2ErrorsEnum.CONFLICT
    assert dup.value.raw_response.status_code == 409

    with pytest.raises(sdk_models.ErrorsV2ErrorResponse) as missing:
        await sdk.ledger.v2.get_transaction_async(request={"ledger": ledger, "id": 10**12})
    assert missing.value.data.error_code == sdk_models.V2ErrorsEnum.NOT_FOUND


async def test_reference_is_unique(client, admin):
    ledger = await new_ledger(client, admin)
    first = await post_tx(client, admin, ledger, [posting("world", "a", 5)], reference="r1")
    assert first.status_code == 200
    again = await post_tx(client, admin, ledger, [posting("world", "a", 5)], reference="r1")
    assert again.status_code == 409
    assert again.json() == {
        "errorCode": "CONFLICT",
        "errorMessage": "transaction with reference r1 already exists",
    }


async def test_idempotency_key(client, admin):
    ledger = await new_ledger(client, admin)
    key = {"Idempotency-Key": unique("key")}
    first = await post_tx(client, admin, ledger, [posting("world", "a", 7)], headers=key)
    assert first.status_code == 200 and "Idempotency-Hit" not in first.headers
    replay = await post_tx(client, admin, ledger, [posting("world", "a", 7)], headers=key)
    assert replay.status_code == 200 and replay.headers["Idempotency-Hit"] == "true"
    assert replay.json() == first.json()
    other = await post_tx(client, admin, ledger, [posting("world", "a", 8)], headers=key)
    assert other.status_code == 400 and other.json()["errorCode"] == "VALIDATION"
    listed = await client.get(f"/api/ledger/v2/{ledger}/transactions", headers=admin)
    assert len(listed.json()["cursor"]["data"]) == 1


async def test_failed_request_does_not_use_the_key_up(client, admin):
    ledger = await new_ledger(client, admin)
    key = {"Idempotency-Key": unique("key")}
    broke = await post_tx(client, admin, ledger, [posting("alice", "bob", 5)], headers=key)
    assert broke.status_code == 400 and broke.json()["errorCode"] == "INSUFFICIENT_FUND"
    await post_tx(client, admin, ledger, [posting("world", "alice", 5)])
    retry = await post_tx(client, admin, ledger, [posting("alice", "bob", 5)], headers=key)
    assert retry.status_code == 200 and "Idempotency-Hit" not in retry.headers


async def test_overdraft_rules(client, admin):
    ledger = await new_ledger(client, admin)
    refused = await post_tx(client, admin, ledger, [posting("tenants:7:receivable", "bank", 1)])
    assert refused.json()["errorCode"] == "INSUFFICIENT_FUND"
    clearing = await post_tx(client, admin, ledger, [posting("rotessa:clearing", "bank", 1)])
    assert clearing.status_code == 200  # configured to allow overdraft
    forced = await post_tx(
        client, admin, ledger, [posting("tenants:7", "bank", 1)], params={"force": "true"}
    )
    assert forced.status_code == 200


async def test_backdated_transaction_shows_at_earlier_pit(client, admin):
    ledger = await new_ledger(client, admin)
    now = datetime.now(UTC)
    earlier = now - timedelta(days=30)
    await post_tx(client, admin, ledger, [posting("world", "m:1", 100)])
    backdated = await post_tx(
        client,
        admin,
        ledger,
        [posting("world", "m:1", 40)],
        timestamp=(earlier - timedelta(days=1)).isoformat(),
    )
    assert backdated.status_code == 200
    url = f"/api/ledger/v2/{ledger}/aggregate/balances"
    match = {"$match": {"address": "m:1"}}

    async def balance(**params):
        response = await client.request("GET", url, params=params, json=match, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()["data"].get("SAR/2", 0)

    assert await balance() == 140
    assert await balance(pit=earlier.isoformat()) == 40  # by effective date
    # by insertion date the backdated transaction did not exist yet at that pit
    assert await balance(pit=earlier.isoformat(), useInsertionDate="true") == 0
    account = await client.get(
        f"/api/ledger/v2/{ledger}/accounts/m:1", params={"pit": earlier.isoformat()}, headers=admin
    )
    assert account.json()["data"]["volumes"]["SAR/2"]["balance"] == 40


async def test_revert_rules(client, admin, uow_factory):
    ledger = await new_ledger(client, admin)
    funding = (await post_tx(client, admin, ledger, [posting("world", "alice", 10)])).json()["data"]
    spend = (await post_tx(client, admin, ledger, [posting("alice", "bob", 10)])).json()["data"]
    await post_tx(client, admin, ledger, [posting("bob", "carol", 10)])
    url = f"/api/ledger/v2/{ledger}/transactions"
    # bob has nothing left: reverting the spend needs funds from bob → refused unless forced
    refused = await client.post(f"{url}/{spend['id']}/revert", headers=admin)
    assert refused.status_code == 400 and refused.json()["errorCode"] == "INSUFFICIENT_FUND"
    forced = await client.post(
        f"{url}/{spend['id']}/revert", params={"force": "true"}, headers=admin
    )
    assert forced.status_code == 201
    original = (await client.get(f"{url}/{spend['id']}", headers=admin)).json()["data"]
    assert original["reverted"] is True and "revertedAt" in original
    again = await client.post(
        f"{url}/{spend['id']}/revert", params={"force": "true"}, headers=admin
    )
    assert again.json()["errorCode"] == "ALREADY_REVERT"
    assert (await client.post(f"{url}/999999999/revert", headers=admin)).status_code == 404
    assert funding["reverted"] is False
    async with uow_factory() as uow:
        trail = await uow.audit_trail("transaction", f"{ledger}:{spend['id']}")
    assert [(a["actor"], a["action"]) for a in trail] == [
        ("test-admin", "transaction.create"),
        ("test-admin", "transaction.revert"),
    ]


async def test_bad_requests_get_formance_errors_and_change_nothing(client, admin):
    ledger = await new_ledger(client, admin)
    url = f"/api/ledger/v2/{ledger}/transactions"
    cases = [
        {"postings": [posting("world", "bad address", 1)]},
        {"postings": [posting("world", "a", -1)]},
        {"postings": [posting("world", "a", 1, "sar")]},
        {"postings": []},
        {"script": {"plain": "send [SAR/2 100] (source = @world destination = @a)"}},
        {"postings": [posting("world", "a", 1)], "unknown": True},
        {"postings": [posting("world", "a", 1)], "timestamp": "yesterday"},
    ]
    for body in cases:
        response = await client.post(url, json=body, headers=admin)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) == {"errorCode", "errorMessage"}
    numscript = await client.post(url, json=cases[4], headers=admin)
    assert "not supported" in numscript.json()["errorMessage"]
    not_json = await client.post(url, content=b"{", headers=admin)
    assert not_json.status_code == 400
    for bad_id in ("abc", "-1", "1" * 30):
        got = await client.get(f"{url}/{bad_id}", headers=admin)
        assert got.status_code == 400 and got.json()["errorCode"] == "VALIDATION"
    missing = await post_tx(client, admin, unique("nope"), [posting("world", "a", 1)])
    assert missing.status_code == 404 and missing.json()["errorCode"] == "LEDGER_NOT_FOUND"
    listed = await client.get(url, headers=admin)
    assert listed.json()["cursor"]["data"] == []
    dup = await client.post(f"/api/ledger/v2/{ledger}", headers=admin)
    assert dup.json()["errorCode"] == "LEDGER_ALREADY_EXISTS"
    assert (await client.get(url)).status_code == 401


async def test_cursor_pagination_and_filters(client, admin):
    ledger = await new_ledger(client, admin)
    ids = []
    for i in range(7):
        dest = "even" if i % 2 == 0 else "odd"
        r = await post_tx(client, admin, ledger, [posting("world", dest, i + 1)], reference=f"r{i}")
        ids.append(r.json()["data"]["id"])
    seen, cursor = [], None
    url = f"/api/ledger/v2/{ledger}/transactions"
    while True:
        params = {"cursor": cursor} if cursor else {"pageSize": 3}
        page = (await client.get(url, params=params, headers=admin)).json()["cursor"]
        assert page["pageSize"] == 3
        seen += [t["id"] for t in page["data"]]
        if not page["hasMore"]:
            break
        cursor = page["next"]
    assert seen == list(reversed(ids))
    odd = await client.request("GET", url, json={"$match": {"account": "odd"}}, headers=admin)
    assert [t["id"] for t in odd.json()["cursor"]["data"]] == [ids[5], ids[3], ids[1]]


async def test_randomized_run_keeps_invariants(client, admin):
    ledger = await new_ledger(client, admin)
    rng = random.Random(7)
    accounts = ["world", "a", "b", "c:1", "rotessa:clearing"]
    for _ in range(60):
        postings = [
            posting(rng.choice(accounts), rng.choice(accounts), rng.randint(0, 30))
            for _ in range(rng.randint(1, 3))
        ]
        response = await post_tx(client, admin, ledger, postings)
        assert response.status_code in {200, 400}
        if response.status_code == 200 and rng.random() < 0.2:
            tx_id = response.json()["data"]["id"]
            await client.post(f"/api/ledger/v2/{ledger}/transactions/{tx_id}/revert", headers=admin)
    volumes = (
        await client.get(
            f"/api/ledger/v2/{ledger}/volumes", params={"pageSize": 100}, headers=admin
        )
    ).json()["cursor"]["data"]
    assert sum(v["input"] - v["output"] for v in volumes) == 0
    for v in volumes:
        assert v["balance"] == v["input"] - v["output"]
        if v["account"] not in {"world", "rotessa:clearing"}:
            assert v["balance"] >= 0
    checks = (
        await client.get("/api/ledger/journal/invariants", params={"ledger": ledger}, headers=admin)
    ).json()
    assert checks == {"ok": True, "problems": []}


async def test_concurrent_writers_on_shared_accounts_are_deadlock_free(client, admin):
    ledger = await new_ledger(client, admin)
    accounts = ["a", "b", "c", "d"]
    for account in accounts:
        await post_tx(client, admin, ledger, [posting("world", account, 1_000)])
    rng = random.Random(11)

    async def writer(i):
        first, second = rng.sample(accounts, 2)
        # opposite orders across writers: the ledger must lock in a stable order
        postings = [posting(first, second, 3), posting(second, first, 1)]
        return await post_tx(client, admin, ledger, postings, reference=f"c{i}")

    responses = await asyncio.gather(*(writer(i) for i in range(40)))
    assert [r.status_code for r in responses] == [200] * 40
    volumes = (await client.get(f"/api/ledger/v2/{ledger}/volumes", headers=admin)).json()[
        "cursor"
    ]["data"]
    assert sum(v["balance"] for v in volumes if v["account"] in accounts) == 4_000
    checks = await client.get(
        "/api/ledger/journal/invariants", params={"ledger": ledger}, headers=admin
    )
    assert checks.json()["ok"] is True


async def test_dry_run_writes_nothing_and_revert_honours_idempotency_key(client, admin):
    ledger = await new_ledger(client, admin)
    dry = await post_tx(
        client, admin, ledger, [posting("world", "a", 5)], params={"dryRun": "true"}
    )
    assert dry.status_code == 200 and dry.json()["data"]["postings"][0]["amount"] == 5
    url = f"/api/ledger/v2/{ledger}/transactions"
    assert (await client.get(url, headers=admin)).json()["cursor"]["data"] == []
    tx = (await post_tx(client, admin, ledger, [posting("world", "a", 5)])).json()["data"]
    key = {**admin, "Idempotency-Key": unique("k")}
    first = await client.post(f"{url}/{tx['id']}/revert", headers=key)
    again = await client.post(f"{url}/{tx['id']}/revert", headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotency-Hit"] == "true" and again.json() == first.json()


@pytest.mark.parametrize("name", ["é", "Ö", "7í", "a" * 64, "x y"])
async def test_a_ledger_name_outside_the_ascii_pattern_is_a_validation_error(client, admin, name):
    refused = await client.post(f"/api/ledger/v2/{name}", headers=admin)
    assert refused.status_code == 400, refused.text
    assert refused.json()["errorCode"] == "VALIDATION"


@pytest.mark.parametrize("raw_id", ["¹", "³", "\u0661", "1" * 19, "-1"])
async def test_a_transaction_id_that_is_not_ascii_digits_is_a_validation_error(
    client, admin, raw_id
):
    ledger = await new_ledger(client, admin)
    read = await client.get(f"/api/ledger/v2/{ledger}/transactions/{raw_id}", headers=admin)
    assert read.status_code == 400, read.text
    reverted = await client.post(
        f"/api/ledger/v2/{ledger}/transactions/{raw_id}/revert", headers=admin
    )
    assert reverted.status_code == 400, reverted.text
