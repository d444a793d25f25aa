"""Issue 18: the rest of the Formance Ledger v2 surface, through the official SDK —
ledger info, counts, stats, ledger metadata (more below per route family)."""

import httpx
import pytest
from formance_sdk_python import SDK
from formance_sdk_python.models import ledger as sdk_models

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
