"""Inputs a fuzzer or a hostile client sent that were answered with a 500 (or stored
unbounded): each is now a documented 4xx that changes nothing; the contract is typed
and the Formance routes are documented with Formance's own shapes."""

import base64
import json

import pytest
from formance_sdk_python.models import ledger as sdk_models
from sqlalchemy import text

from folio.ledger.domain.formance import MAX_METADATA_VALUE
from folio.ledger.entrypoints.formance_api import MAX_IDEMPOTENCY_KEY, MAX_JSON_DEPTH

from .conftest import unique
from .test_admin_api import create
from .test_formance_api import new_ledger, post_tx
from .test_formance_api import posting as p

ENTRIES = "/api/ledger/entries"


async def _count(uow_factory, sql: str) -> int:
    async with uow_factory() as uow:
        return (await uow.session.execute(text(sql))).scalar_one()


def _assert_problem(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def _assert_formance_400(response) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errorCode"] == "VALIDATION", body
    return body


def _cursor(state) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


# --- admin API: filters and cursors ---------------------------------------------------


async def test_parent_entry_id_that_is_not_a_uuid_is_a_422(client, admin):
    _assert_problem(await client.get(ENTRIES, params={"parent_entry_id": "x"}, headers=admin), 422)


async def test_parent_entry_id_filter_still_finds_children(client, admin):
    parent = await create(client, admin)
    child = await client.post(
        f"{ENTRIES}/{parent['entry_id']}/adjustments", json={"amount_minor": 100}, headers=admin
    )
    assert child.status_code == 201, child.text
    found = await client.get(ENTRIES, params={"parent_entry_id": parent["entry_id"]}, headers=admin)
    assert [e["entry_id"] for e in found.json()["data"]] == [child.json()["entry_id"]]


@pytest.mark.parametrize("name", ["building_id", "unit_id", "booking_id", "invoice_number"])
async def test_empty_string_filter_is_a_422(client, admin, name):
    _assert_problem(await client.get(ENTRIES, params={name: ""}, headers=admin), 422)


@pytest.mark.parametrize("value", ["0", "2026-01-01T00:00:00", "2026-1-1"])
async def test_due_date_filters_take_only_a_calendar_date(client, admin, value):
    """``due_from=0`` was read as 1970-01-01 (seconds since the epoch)."""
    for name in ("due_from", "due_to"):
        _assert_problem(await client.get(ENTRIES, params={name: value}, headers=admin), 422)


async def test_payments_filter_is_bounded(client, admin):
    response = await client.get(
        "/api/ledger/payments", params={"invoice_number": "x" * 201}, headers=admin
    )
    _assert_problem(response, 422)


@pytest.mark.parametrize(
    "state", [{"after": 1e23}, {"after": 2**70}, {"after": True}, {"after": -1}, [1]], ids=repr
)
async def test_tampered_entry_cursor_is_a_422(client, admin, state):
    response = await client.get(ENTRIES, params={"cursor": _cursor(state)}, headers=admin)
    _assert_problem(response, 422)


# --- admin API: bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"description": "nul\u0000"},
        {"building_id": "b\u0000"},
        {"unit_id": "tab\tinside"},
        {"metadata": {"k": "v\u0000"}},
        {"metadata": {"k\u0001": "v"}},
    ],
    ids=repr,
)
async def test_control_characters_in_entry_bodies_are_refused(client, admin, uow_factory, body):
    before = await _count(uow_factory, "SELECT count(*) FROM entries")
    response = await client.post(
        ENTRIES,
        json={"entry_type": "RENT", "amount_minor": 100, "currency": "SAR", **body},
        headers=admin,
    )
    _assert_problem(response, 422)
    assert await _count(uow_factory, "SELECT count(*) FROM entries") == before


async def test_description_keeps_line_breaks(client, admin):
    entry = await create(client, admin, description="line one\nline two\r\n\tindented")
    assert entry["description"] == "line one\nline two\r\n\tindented"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("", {"amount_minor": 2**63}),
        ("", {"expected_version": 2**40}),
        ("", {"expected_version": -1}),
        ("/adjustments", {"amount_minor": -(2**63)}),
        ("/refunds", {"amount_minor": 2**64}),
    ],
    ids=repr,
)
async def test_numbers_out_of_column_range_are_refused(client, admin, path, body):
    entry = await create(client, admin)
    method = client.patch if path == "" else client.post
    response = await method(f"{ENTRIES}/{entry['entry_id']}{path}", json=body, headers=admin)
    _assert_problem(response, 422)


# --- journal/verify writes seals: a writing role ------------------------------------------


async def test_viewer_cannot_verify_the_journal(client, admin, viewer, uow_factory):
    ledger = await new_ledger(client, admin)
    assert (await post_tx(client, admin, ledger, [p("world", "a:1", 5)])).status_code == 200
    seals = await _count(uow_factory, "SELECT count(*) FROM journal_seals")
    _assert_problem(await client.post("/api/ledger/journal/verify", headers=viewer), 403)
    assert await _count(uow_factory, "SELECT count(*) FROM journal_seals") == seals
    assert (await client.post("/api/ledger/journal/verify", headers=admin)).status_code == 200


async def test_viewer_may_still_read_the_invariants(client, viewer):
    response = await client.get("/api/ledger/journal/invariants", headers=viewer)
    assert response.status_code == 200, response.text


# --- Formance /v2: cursors, filters, limits -----------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        {"after_id": "x"},
        {"after_id": 2**70},
        {"after_id": 1, "filters": [1]},
        {"after_id": 1, "filters": {"unknown": "x"}},
        {"after_id": 1, "filters": {"reference": 1}},
        {"after_id": 1, "filters": {"reference": "r\u0000"}},
        {"after_id": 1, "filters": {"account": "a" * 5000}},
        {"after_id": 1, "filters": {"pit": "0001-01-01T00:00:00+14:00"}},
        {"after_id": 1, "filters": {"start_time": "yesterday"}},
        {"after_id": 1, "page_size": "x"},
        [1],
    ],
    ids=repr,
)
async def test_tampered_transactions_cursor_is_a_400(client, admin, state):
    ledger = await new_ledger(client, admin)
    response = await client.get(
        f"/api/ledger/v2/{ledger}/transactions", params={"cursor": _cursor(state)}, headers=admin
    )
    _assert_formance_400(response)


@pytest.mark.parametrize(
    "state", [{"offset": "x"}, {"offset": -1}, {"offset": 1e30}, {"page_size": 10**6}], ids=repr
)
async def test_tampered_volumes_cursor_is_a_400(client, admin, state):
    ledger = await new_ledger(client, admin)
    response = await client.get(
        f"/api/ledger/v2/{ledger}/volumes", params={"cursor": _cursor(state)}, headers=admin
    )
    _assert_formance_400(response)


@pytest.mark.parametrize("after", [1, "a\u0000", "x" * 5000], ids=repr)
async def test_tampered_accounts_cursor_is_a_400(client, admin, after):
    ledger = await new_ledger(client, admin)
    response = await client.get(
        f"/api/ledger/v2/{ledger}/accounts",
        params={"cursor": _cursor({"after": after})},
        headers=admin,
    )
    _assert_formance_400(response)


def _nested_and(depth: int) -> str:
    return '{"$and": [' * depth + '{"$match": {"account": "a:1"}}' + "]}" * depth


async def test_filter_nested_5000_deep_is_a_400_with_the_limit(client, admin):
    ledger = await new_ledger(client, admin)
    response = await client.request(
        "GET",
        f"/api/ledger/v2/{ledger}/transactions",
        content=_nested_and(5000),
        headers={**admin, "Content-Type": "application/json"},
    )
    body = _assert_formance_400(response)
    assert str(MAX_JSON_DEPTH) in body["errorMessage"]


async def test_filter_within_the_nesting_limit_is_answered(client, admin):
    ledger = await new_ledger(client, admin)
    assert (await post_tx(client, admin, ledger, [p("world", "a:1", 5)])).status_code == 200
    response = await client.request(
        "GET",
        f"/api/ledger/v2/{ledger}/transactions",
        content=_nested_and(MAX_JSON_DEPTH // 2 - 2),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["cursor"]["data"]) == 1


async def test_nul_inside_a_match_filter_is_a_400(client, admin):
    ledger = await new_ledger(client, admin)
    response = await client.request(
        "GET",
        f"/api/ledger/v2/{ledger}/transactions",
        json={"$match": {"reference": "r\u0000"}},
        headers=admin,
    )
    _assert_formance_400(response)


@pytest.mark.parametrize(
    "metadata",
    [
        {"k": "v" * 100_000},
        {"k": "v" * (MAX_METADATA_VALUE + 1)},
        {"k" * 300: "v"},
        {f"k{i}": "v" for i in range(101)},
        {"k": "nul\u0000"},
    ],
    ids=["100k-value", "value-over-limit", "key-over-limit", "101-entries", "nul"],
)
async def test_v2_metadata_out_of_bounds_is_a_400(client, admin, uow_factory, metadata):
    ledger = await new_ledger(client, admin)
    response = await post_tx(client, admin, ledger, [p("world", "a:1", 5)], metadata=metadata)
    _assert_formance_400(response)
    count = await _count(
        uow_factory, f"SELECT count(*) FROM transactions WHERE ledger = '{ledger}'"
    )
    assert count == 0


async def test_v2_metadata_at_the_limit_is_stored(client, admin):
    ledger = await new_ledger(client, admin)
    metadata = {"k": "v" * MAX_METADATA_VALUE}
    response = await post_tx(client, admin, ledger, [p("world", "a:1", 5)], metadata=metadata)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["metadata"] == metadata


async def test_v2_ledger_metadata_out_of_bounds_is_a_400(client, admin):
    response = await client.post(
        f"/api/ledger/v2/{unique('lg')}", json={"metadata": {"k": "v" * 100_000}}, headers=admin
    )
    _assert_formance_400(response)


@pytest.mark.parametrize("key", ["k" * 60_000, "k" * (MAX_IDEMPOTENCY_KEY + 1)], ids=len)
async def test_v2_idempotency_key_too_long_is_a_400(client, admin, uow_factory, key):
    ledger = await new_ledger(client, admin)
    response = await post_tx(
        client, admin, ledger, [p("world", "a:1", 5)], headers={"Idempotency-Key": key}
    )
    body = _assert_formance_400(response)
    assert str(MAX_IDEMPOTENCY_KEY) in body["errorMessage"]
    count = await _count(
        uow_factory, f"SELECT count(*) FROM transactions WHERE ledger = '{ledger}'"
    )
    assert count == 0


async def test_v2_idempotency_key_at_the_limit_is_honoured(client, admin):
    ledger = await new_ledger(client, admin)
    key = "k" * MAX_IDEMPOTENCY_KEY
    first = await post_tx(
        client, admin, ledger, [p("world", "a:1", 5)], headers={"Idempotency-Key": key}
    )
    again = await post_tx(
        client, admin, ledger, [p("world", "a:1", 5)], headers={"Idempotency-Key": key}
    )
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotency-Hit"] == "true"


# --- the contract ---------------------------------------------------------------------------


@pytest.fixture
async def spec(client, admin):
    return (await client.get("/api/ledger/openapi.json", headers=admin)).json()


def _own_operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            tags = operation.get("tags", [])
            if {"receivables", "journal", "formance ledger v2"} & set(tags):
                yield path, method, operation


def test_every_2xx_of_the_ledger_routes_is_typed(spec):
    for path, method, operation in _own_operations(spec):
        for status, answer in operation["responses"].items():
            if status.startswith("2") and status != "204":
                content = answer["content"]
                # a log export streams V2Log objects, one a line
                schema = content.get("application/json", content.get("application/x-ndjson"))[
                    "schema"
                ]
                assert "$ref" in schema, f"{method.upper()} {path} {status}: {schema}"


def test_v2_routes_document_the_formance_error_envelope(spec):
    for path, method, operation in _own_operations(spec):
        if "/v2" not in path:
            continue
        for status in ("400", "404", "409"):
            content = operation["responses"][status]["content"]
            # a bulk's 400 carries its per-element results beside the envelope's fields
            envelope = (
                "V2BulkResponse"
                if path.endswith("/_bulk") and status == "400"
                else ("V2ErrorResponse")
            )
            assert content["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{envelope}"
            }, f"{method.upper()} {path} {status}"
    bulk = spec["components"]["schemas"]["V2BulkResponse"]["properties"]
    assert {"errorCode", "errorMessage", "data"} <= set(bulk)
    assert spec["paths"]["/api/ledger/v2/{ledger}"]["post"]["responses"]["204"]
    revert = spec["paths"]["/api/ledger/v2/{ledger}/transactions/{raw_id}/revert"]["post"]
    assert "201" in revert["responses"] and "200" not in revert["responses"]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("V2Transaction", sdk_models.V2Transaction),
        ("V2Account", sdk_models.V2Account),
        ("V2Ledger", sdk_models.V2Ledger),
        ("V2VolumesWithBalance", sdk_models.V2VolumesWithBalance),
        ("V2ErrorResponse", sdk_models.V2ErrorResponse),
        ("V2Log", sdk_models.V2Log),
        ("V2Stats", sdk_models.V2Stats),
        ("V2LedgerInfo", sdk_models.V2LedgerInfo),
        ("V2BulkResponse", sdk_models.V2BulkResponse),
    ],
)
def test_v2_shapes_are_formance_sdk_shapes(spec, ours, theirs):
    """Every documented field is one the official SDK knows, and every field the SDK
    requires is documented as required."""
    schema = spec["components"]["schemas"][ours]
    sdk_fields = {f.alias or name: f.is_required() for name, f in theirs.model_fields.items()}
    assert set(schema["properties"]) <= set(sdk_fields)
    assert {name for name, required in sdk_fields.items() if required} <= set(
        schema.get("required", [])
    )


def test_v2_parameters_read_by_the_routes_are_documented(spec):
    post = spec["paths"]["/api/ledger/v2/{ledger}/transactions"]["post"]
    [key] = [p for p in post["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["schema"]["maxLength"] == MAX_IDEMPOTENCY_KEY
    assert "requestBody" in post and post["requestBody"]["required"] is True
    listing = spec["paths"]["/api/ledger/v2/{ledger}/transactions"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"pageSize", "cursor", "pit", "startTime", "endTime"} <= names
