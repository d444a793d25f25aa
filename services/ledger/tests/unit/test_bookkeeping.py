"""Chart of accounts: every address and asset the ledger posts to is Formance-valid."""

import uuid

import pytest

from folio.ledger.domain import bookkeeping
from folio.ledger.domain.journal import InvalidPosting, is_valid_address, is_valid_asset


def test_receivable_accounts_and_assets_are_valid():
    assert bookkeeping.invoice_account("INV-2026-000123") == "invoices:INV-2026-000123"
    assert is_valid_address(bookkeeping.invoice_account("INV-2026-000123"))
    assert is_valid_address(bookkeeping.mortgage_account(str(uuid.uuid4())))
    assert bookkeeping.asset_of("SAR") == "SAR/2" and bookkeeping.asset_of("KWD") == "KWD/3"
    assert all(is_valid_asset(bookkeeping.asset_of(c)) for c in ("SAR", "AED", "CAD", "USD"))


def test_payment_and_refund_postings_mirror_each_other():
    paid = bookkeeping.payment_postings("INV-2026-000001", 500, "SAR")
    refund = bookkeeping.refund_postings("INV-2026-000001", 500, "SAR")
    assert paid[0].source == refund[0].destination == "world"
    assert paid[0].destination == refund[0].source == "invoices:INV-2026-000001"


def test_references_distinguish_captures_and_refund_sources():
    assert bookkeeping.payment_reference("tabby", "p1", None) == "payment:tabby:p1"
    assert bookkeeping.payment_reference("tabby", "p1", "c2") == "payment:tabby:p1:c2"
    assert bookkeeping.refund_reference("moyasar", "r1") != bookkeeping.refund_reference(
        "admin", "r1"
    )


def test_unsupported_currency_and_bad_mortgage_ids_are_refused():
    with pytest.raises(ValueError):
        bookkeeping.asset_of("XYZ")
    postings = bookkeeping.collection_postings("bad id/1", 1, "CAD")
    with pytest.raises(InvalidPosting):
        postings[0].validate()
