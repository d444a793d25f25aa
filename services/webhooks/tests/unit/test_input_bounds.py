"""Intake's input bounds (issue 12): numbers are never converted unbounded, text is made
safe, and requests carrying what no provider sends are refused before anything else."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from folio.webhooks.domain import bounds, jsondoc, moyasar, standard, tabby, tamara
from folio.webhooks.domain.bounds import (
    MAX_AMOUNT_MINOR,
    AmountOutOfRange,
    InputRefused,
    check_headers,
    check_query,
    exact_minor,
    printable,
)
from folio.webhooks.domain.deliveries import DeliveryState, MalformedDelivery
from folio.webhooks.domain.interpretation import interpret_delivery
from folio.webhooks.domain.redaction import stored_body

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


# --- the two-step JSON read -----------------------------------------------------------


def test_parse_converts_no_number_so_huge_ones_cost_only_their_scan():
    huge = "9" * 200_000  # int() would refuse it (4300 digits) or, as Decimal, take seconds
    tree = jsondoc.parse(f'{{"a": {huge}, "b": 1e999999, "c": -0.5E-3, "d": NaN}}'.encode())
    assert isinstance(tree["a"], jsondoc.RawNumber) and tree["a"].text == huge
    assert tree["b"].text == "1e999999" and isinstance(tree["d"], jsondoc.RawConstant)


@pytest.mark.parametrize("number", ["1" * 41, "1e41", "1E-41", "-1e+999999", "0." + "0" * 39 + "1"])
def test_resolve_refuses_a_number_beyond_the_bounds_without_converting_it(number):
    with pytest.raises(jsondoc.NumberOutOfBounds):
        jsondoc.read(f'{{"nested": [{{"n": {number}}}]}}'.encode())


def test_resolve_keeps_numbers_exact_within_the_bounds():
    document = jsondoc.read(b'{"i": 12345678901234567890, "d": 100.10, "e": 1.5e2, "z": -0}')
    assert document == {
        "i": 12345678901234567890,
        "d": Decimal("100.10"),
        "e": Decimal("150"),
        "z": 0,
    }
    assert isinstance(document["d"], Decimal) and str(document["d"]) == "100.10"


def test_nan_and_infinity_are_not_numbers_intake_accepts():
    with pytest.raises(MalformedDelivery):
        jsondoc.read(b'{"amount": Infinity}')


def test_nesting_is_bounded_without_exhausting_the_stack():
    deep = b'{"a":' * (jsondoc.MAX_DEPTH + 1) + b"1" + b"}" * (jsondoc.MAX_DEPTH + 1)
    with pytest.raises(MalformedDelivery, match="deeper"):
        jsondoc.parse(deep)
    at_limit = b'{"a":' * (jsondoc.MAX_DEPTH - 1) + b"[1]" + b"}" * (jsondoc.MAX_DEPTH - 1)
    jsondoc.parse(at_limit)
    with pytest.raises(MalformedDelivery):  # far deeper than the decoder's own recursion
        jsondoc.parse(b"[" * 100_000 + b"]" * 100_000)


def test_a_repeated_key_is_kept_by_parse_and_refused_by_resolve():
    tree = jsondoc.parse(b'{"amount": 1, "amount": 1000000}')
    assert jsondoc.values_of(tree, "amount")[0].text == "1"
    assert [v.text for v in jsondoc.values_of(tree, "amount")] == ["1", "1000000"]
    with pytest.raises(jsondoc.DuplicateKey, match="amount"):
        jsondoc.resolve(tree)


def test_a_stored_body_keeps_numbers_as_received_and_escapes_control_characters():
    body = (
        '{"secret_token": "s", "n": 100.10, "big": 1e999999, "t": "a\\u0000b\\ud800",'
        ' "k": [true, null, -0]}'
    )
    written = stored_body(body.encode(), jsondoc.parse(body.encode()))
    assert written == (
        b'{"secret_token":"[redacted]","n":100.10,"big":1e999999,'
        b'"t":"a\\u0000b\\ud800","k":[true,null,-0]}'
    )
    assert b"\x00" not in written


# --- amounts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", ["1e200000", "1e999990", "9" * 41, "1e41", "92233720368547758.08", 2**63]
)
def test_an_amount_beyond_the_bounds_is_refused_before_any_conversion(monkeypatch, amount):
    def no_conversion(*_):
        raise AssertionError("to_minor must not see an unbounded amount")

    if not isinstance(amount, int) and len(str(amount)) > 20:
        monkeypatch.setattr(bounds, "to_minor", no_conversion)
    with pytest.raises(AmountOutOfRange):
        exact_minor(amount, "SAR")


def test_the_largest_storable_amount_is_accepted_and_one_more_is_not():
    assert exact_minor("92233720368547758.07", "SAR") == MAX_AMOUNT_MINOR
    with pytest.raises(AmountOutOfRange):
        exact_minor("92233720368547758.08", "SAR")


@pytest.mark.parametrize("amount", ["abc", "NaN", "Infinity", "1_000", "", "1.005", True])
def test_an_amount_that_is_not_exact_money_is_a_plain_value_error(amount):
    with pytest.raises(ValueError) as raised:
        exact_minor(amount, "SAR")
    assert not isinstance(raised.value, AmountOutOfRange)


def _moyasar_paid(amount: str, extra: str = "") -> bytes:
    """A paid Moyasar event whose amount (and ``extra`` fields) are written as given."""
    data = (
        f'{{"id": "pay_1", "status": "paid", "amount": {amount}, "currency": "SAR",'
        f' "metadata": {{"invoice_number": "INV-1"}}{extra}}}'
    )
    return f'{{"id": "evt_1", "type": "payment_paid", "data": {data}}}'.encode()


def test_moyasar_amount_of_2_63_is_rejected_as_out_of_range_under_its_event_id():
    result = interpret_delivery("moyasar", _moyasar_paid(str(2**63)), {}, NOW)
    assert result.state is DeliveryState.REJECTED and result.out_of_range
    assert result.dedupe_key == "evt_1" and not result.facts
    fine = interpret_delivery("moyasar", _moyasar_paid(str(2**63 - 1)), {}, NOW)
    assert fine.state is DeliveryState.ACCEPTED and not fine.out_of_range


def test_a_huge_number_anywhere_in_a_body_rejects_it_as_out_of_range():
    result = interpret_delivery("moyasar", _moyasar_paid("1", ', "fee": 1e999'), {}, NOW)
    assert result.out_of_range and result.state is DeliveryState.REJECTED
    assert result.dedupe_key.startswith("malformed:")


@pytest.mark.parametrize("amount", ["1e200000", "1" * 60])
def test_tabby_and_standard_string_amounts_beyond_the_bounds_are_out_of_range(amount):
    tabby_body = {
        "id": "p1",
        "status": "closed",
        "amount": amount,
        "currency": "SAR",
        "order": {"reference_id": "INV-1"},
        "captures": [{"id": "c", "amount": amount}],
    }
    result = tabby.interpret(json.dumps(tabby_body).encode(), NOW)
    assert result.out_of_range and result.state is DeliveryState.REJECTED and not result.facts
    data = {
        "provider": "moyasar",
        "payment_id": "p",
        "invoice_number": "INV-1",
        "amount": amount,
        "currency": "SAR",
    }
    body = json.dumps({"type": "payment.verified", "data": data}).encode()
    result = standard.interpret("msg_1", body, NOW)
    assert result.out_of_range and result.dedupe_key == "msg_1"


def test_tamara_number_amount_beyond_the_bounds_is_out_of_range():
    body = (
        b'{"order_id": "o1", "order_reference_id": "INV-1", "event_type": "order_captured",'
        b' "data": {"capture_id": "c1", "captured_amount": {"amount": 1e40, "currency": "SAR"}}}'
    )
    result = tamara.interpret(body, NOW)
    assert result.out_of_range and result.state is DeliveryState.REJECTED


# --- text -----------------------------------------------------------------------------


def test_printable_escapes_nul_controls_and_lone_surrogates_and_caps_length():
    assert printable("a\x00b\x1bc\ud800\tok\n") == "a\\u0000b\\u001bc\\ud800\tok\n"
    assert len(printable("x" * 10_000)) == bounds.MAX_FREE_TEXT_CHARS


def test_free_text_with_nul_is_kept_safely_and_an_id_with_nul_rejects_the_delivery():
    failed = json.dumps(
        {
            "id": "evt_2",
            "type": "payment_failed",
            "data": {
                "id": "pay_2",
                "status": "failed",
                "amount": 100,
                "currency": "SAR",
                "metadata": {"invoice_number": "INV-2"},
                "source": {"type": "creditcard", "message": "declined\u0000\ud800"},
            },
        }
    )
    result = interpret_delivery("moyasar", failed.encode(), {}, NOW)
    assert result.state is DeliveryState.ACCEPTED
    assert result.facts[0].payload.reason == "declined\\u0000\\ud800"
    result.facts[0].payload.model_dump_json()  # an event can carry it
    with_nul_id = failed.replace('"id": "pay_2"', '"id": "pay\\u00002"').encode()
    rejected = interpret_delivery("moyasar", with_nul_id, {}, NOW)
    assert rejected.state is DeliveryState.REJECTED and "\x00" not in (rejected.reason or "")


def test_an_identifier_longer_than_its_index_allows_rejects_the_delivery():
    body = json.dumps(
        {
            "order_id": "o" * 5000,
            "order_reference_id": "INV-1",
            "event_type": "order_approved",
            "data": [],
        }
    ).encode()
    result = tamara.interpret(body, NOW)
    assert result.state is DeliveryState.REJECTED and len(result.dedupe_key) < 100


def test_a_timestamp_past_year_9999_in_utc_rejects_instead_of_overflowing():
    body = json.dumps(
        {
            "id": "p1",
            "status": "closed",
            "amount": "1.00",
            "currency": "SAR",
            "closed_at": "9999-12-31T23:59:00-01:00",
        }
    ).encode()
    assert tabby.interpret(body, NOW).state is DeliveryState.REJECTED
    event = {"id": "e", "type": "payment_paid", "created_at": "0001-01-01T00:00:00+01:00"}
    with pytest.raises(MalformedDelivery):
        moyasar.parse_event(json.dumps(event).encode())


# --- the transport --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [("webhook-id", "msg_\x00")],
        [("x-anything", "a\x7fb")],
        [("x-anything", "line\nbreak")],
        [("webhook-id", "m" * 257)],
        [("authorization", "a" * 4097)],
        [("authorization", "Bearer a"), ("Authorization", "Bearer b")],
        [("X-Tabby-Webhook-Secret", "a"), ("x-tabby-webhook-secret", "b")],
        [(f"x-h{i}", "v") for i in range(65)],
    ],
)
def test_headers_no_provider_sends_are_refused(headers):
    with pytest.raises(InputRefused):
        check_headers(headers, single=("X-Tabby-Webhook-Secret",))


def test_ordinary_headers_pass():
    check_headers(
        [("content-type", "application/json"), ("webhook-id", "m" * 256), ("x-t", "a\tb")],
        single=("X-Tabby-Webhook-Secret",),
    )


@pytest.mark.parametrize(
    "query",
    [
        [("tamaraToken", "a\x00")],
        [("tamaraToken", "a"), ("TAMARATOKEN", "b")],
        [("t", "x" * 5000)],
        [(f"k{i}", "v") for i in range(17)],
    ],
)
def test_query_parameters_no_provider_sends_are_refused(query):
    with pytest.raises(InputRefused):
        check_query(query)


# --- the stored copy is the same document -------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(min_value=-1e30, max_value=1e30).filter(lambda x: x == 0 or abs(x) > 1e-30)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=100, derandomize=True, database=None)
@given(document=st.dictionaries(st.text(max_size=6), json_values, max_size=5), ascii=st.booleans())
def test_the_masked_copy_is_the_same_document_but_the_secret(document, ascii):
    body = json.dumps({**document, "secret_token": "s3cret-value"}, ensure_ascii=ascii)
    stored = stored_body(body.encode(), jsondoc.parse(body.encode()))
    assert json.loads(stored) == {**json.loads(body), "secret_token": "[redacted]"}
    # and it reads back through the same two steps (a replay re-interprets it)
    assert jsondoc.read(stored) == {**jsondoc.read(body.encode()), "secret_token": "[redacted]"}
