"""How receivable and Rotessa events become journal postings (chart of accounts). Pure."""

from __future__ import annotations

from functools import lru_cache

from folio.ledger.domain.journal import WORLD, Posting, asset_for
from folio.shared.contracts.money import exponent_of


@lru_cache(maxsize=256)
def asset_of(currency: str) -> str:
    return asset_for(currency, exponent_of(currency))


def invoice_account(invoice_number: str) -> str:
    """Money received against one invoice: its balance is what was paid, net of refunds."""
    return f"invoices:{invoice_number}"


def mortgage_account(mortgage_id: str) -> str:
    return f"mortgages:{mortgage_id}"


def payment_reference(provider: str, provider_payment_id: str, capture_id: str | None) -> str:
    base = f"payment:{provider}:{provider_payment_id}"
    return f"{base}:{capture_id}" if capture_id else base


def refund_reference(source: str, refund_id: str) -> str:
    return f"refund:{source}:{refund_id}"


def payment_postings(invoice_number: str, amount_minor: int, currency: str) -> tuple[Posting, ...]:
    return (Posting(WORLD, invoice_account(invoice_number), amount_minor, asset_of(currency)),)


def refund_postings(invoice_number: str, amount_minor: int, currency: str) -> tuple[Posting, ...]:
    return (Posting(invoice_account(invoice_number), WORLD, amount_minor, asset_of(currency)),)


def collection_postings(mortgage_id: str, amount_minor: int, currency: str) -> tuple[Posting, ...]:
    return (Posting(WORLD, mortgage_account(mortgage_id), amount_minor, asset_of(currency)),)
