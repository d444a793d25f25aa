"""folio.shared.idempotency: key bounds and the request fingerprint."""

import pytest

from folio.shared.idempotency import MAX_KEY_LENGTH, request_for, request_hash
from folio.shared.problems import Problem


def test_no_key_means_no_idempotency():
    assert request_for(None, "POST /entries", {}) is None


@pytest.mark.parametrize("key", ["a", "k" * MAX_KEY_LENGTH, "550e8400-e29b-41d4-a716-446655440000"])
def test_keys_up_to_the_maximum_are_taken(key):
    claim = request_for(key, "POST /entries", {"body": 1})
    assert claim is not None and claim.key == key and claim.scope == "POST /entries"


@pytest.mark.parametrize("key", ["", "k" * (MAX_KEY_LENGTH + 1), "é", "tab\tkey", "new\nline"])
def test_other_keys_answer_400(key):
    with pytest.raises(Problem) as refused:
        request_for(key, "POST /entries", {})
    assert refused.value.status == 400 and refused.value.kind == "invalid-idempotency-key"


def test_the_fingerprint_ignores_key_order_and_sees_every_value():
    assert request_hash({"a": 1, "b": [1, 2]}) == request_hash({"b": [1, 2], "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})
    assert request_hash({"a": 1}) != request_hash({"a": 1, "b": None})
