"""Our Formance v2 wire models must be readable by the official SDK's models."""

from datetime import UTC, datetime

import pytest
from formance_sdk_python.models.ledger import (
    v2accountresponse,
    v2aggregatebalancesresponse,
    v2createtransactionresponse,
    v2errorresponse,
    v2transactionscursorresponse,
    v2volumeswithbalancecursorresponse,
)
from pydantic import ValidationError

from folio.ledger.domain.formance import (
    Cursor,
    CursorResponse,
    DataResponse,
    V2Account,
    V2ErrorResponse,
    V2ErrorsEnum,
    V2Posting,
    V2PostTransaction,
    V2Transaction,
    V2Volume,
    V2VolumesWithBalance,
)

TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _tx() -> V2Transaction:
    return V2Transaction(
        id=7,
        metadata={"k": "v"},
        postings=[V2Posting(amount=100, asset="SAR/2", source="world", destination="a")],
        reverted=False,
        timestamp=TS,
        inserted_at=TS,
        reference="ref-1",
        post_commit_volumes={"a": {"SAR/2": V2Volume(input=100, output=0, balance=100)}},
    )


def test_transaction_wrapper_parses_with_sdk():
    wire = DataResponse[V2Transaction](data=_tx()).wire()
    assert "insertedAt" in wire["data"] and "postCommitVolumes" in wire["data"]
    assert "revertedAt" not in wire["data"]  # None is omitted like the SDK does
    parsed = v2createtransactionresponse.V2CreateTransactionResponse.model_validate(wire)
    assert parsed.data.id == 7 and parsed.data.reference == "ref-1"
    assert parsed.data.post_commit_volumes["a"]["SAR/2"].balance == 100


def test_cursor_shape_parses_with_sdk():
    body = CursorResponse[V2Transaction](
        cursor=Cursor[V2Transaction](page_size=15, has_more=True, next="abc", data=[_tx()])
    ).wire()
    assert set(body["cursor"]) == {"pageSize", "hasMore", "next", "data"}
    parsed = v2transactionscursorresponse.V2TransactionsCursorResponse.model_validate(body)
    assert parsed.cursor.has_more and parsed.cursor.next == "abc"


def test_account_volumes_and_balances_parse_with_sdk():
    account = V2Account(
        address="a", metadata={}, volumes={"SAR/2": V2Volume(input=5, output=2, balance=3)}
    )
    parsed = v2accountresponse.V2AccountResponse.model_validate(
        DataResponse[V2Account](data=account).wire()
    )
    assert parsed.data.volumes["SAR/2"].balance == 3
    balances = v2aggregatebalancesresponse.V2AggregateBalancesResponse.model_validate(
        DataResponse[dict[str, int]](data={"SAR/2": 3}).wire()
    )
    assert balances.data == {"SAR/2": 3}
    volumes = CursorResponse[V2VolumesWithBalance](
        cursor=Cursor[V2VolumesWithBalance](
            page_size=15,
            has_more=False,
            data=[V2VolumesWithBalance(account="a", asset="SAR/2", balance=3, input=5, output=2)],
        )
    ).wire()
    sdk = v2volumeswithbalancecursorresponse.V2VolumesWithBalanceCursorResponse
    assert sdk.model_validate(volumes).cursor.data[0].balance == 3


def test_error_envelope_parses_with_sdk():
    wire = V2ErrorResponse(error_code=V2ErrorsEnum.CONFLICT, error_message="dup").wire()
    assert wire == {"errorCode": "CONFLICT", "errorMessage": "dup"}
    assert v2errorresponse.V2ErrorResponse.model_validate(wire).error_message == "dup"


def test_post_transaction_refuses_unknown_fields_and_naive_timestamps():
    V2PostTransaction.model_validate(
        {"postings": [{"source": "world", "destination": "a", "amount": 1, "asset": "X"}]}
    )
    with pytest.raises(ValidationError):
        V2PostTransaction.model_validate({"postings": [], "surprise": 1})
    with pytest.raises(ValidationError):
        V2PostTransaction.model_validate({"postings": [], "timestamp": "2026-01-01T00:00:00"})
    with pytest.raises(ValidationError):
        V2PostTransaction.model_validate(
            {"postings": [{"source": "w", "destination": "a", "amount": -1, "asset": "X"}]}
        )


def test_json_depth_counts_nesting_outside_strings():
    from folio.ledger.entrypoints.formance_api import json_depth

    assert json_depth(b'{"a": 1}') == 1
    assert json_depth(b'{"$and": [{"$match": {"account": "a"}}]}') == 4
    assert json_depth(b'{"k": "[[[[{{{{\\"]]]]"}') == 1  # brackets inside a string
    assert json_depth(b"[" * 5000 + b"]" * 5000) == 5000


def test_bulk_results_render_transactions_as_the_wire_model_does():
    """The bulk writes its 10,000 results without models: the same JSON as the model."""
    import json as _json
    from datetime import UTC, datetime

    from pydantic_core import to_json

    from folio.ledger.adapters.journal_repository import StoredTransaction
    from folio.ledger.domain.journal import Posting, Volumes
    from folio.ledger.entrypoints.formance_api import transaction_json, transaction_wire

    at = datetime(2025, 3, 7, 12, 0, 0, 123456, tzinfo=UTC)
    for tx in (
        StoredTransaction(
            ledger="l",
            id=7,
            postings=(Posting("world", "a:b", 5, "SAR/2"), Posting("a:b", "c", 2, "SAR/2")),
            timestamp=at,
            inserted_at=at,
            reference="ref",
            metadata={"k": "v"},
            reverts_id=None,
            reverted_at=at,
            post_commit_volumes={
                ("a:b", "SAR/2"): Volumes(5, 2),
                ("world", "SAR/2"): Volumes(0, 5),
            },
            pre_commit_volumes={("a:b", "SAR/2"): Volumes(0, 0)},
            current_metadata={"k": "w"},
        ),
        StoredTransaction("l", 8, (Posting("world", "x", 0, "USD"),), at, at, None, {}, None),
    ):
        assert _json.loads(to_json(transaction_json(tx))) == transaction_wire(tx).wire()
