"""The payments registry page: its filters, the actions an entry offers, money. Pure.

The seed's matrix (003 §3) is the ledger's: :data:`TRANSITIONS` and
:data:`ADMIN_TARGETS` mirror it to decide which controls a page shows. The ledger
still decides every request; a stale page's refusal is shown as the ledger's problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from folio.console.domain.users import WRITE_ROLES, Role
from folio.shared.contracts.money import CURRENCY_EXPONENTS

STATUSES = ("DUE", "PENDING", "PAID", "FAILED", "REFUNDED", "VOID")
ENTRY_TYPES = (
    "RENT", "RENEWAL_RENT", "PROTECTION_FEE", "DEPOSIT", "CLEANING", "PENALTY", "REFUND",
    "ADJUSTMENT",
)  # fmt: skip

#: Seed 003 §3 "Status Transition Matrix".
TRANSITIONS: dict[str, frozenset[str]] = {
    "DUE": frozenset({"PENDING", "PAID", "VOID"}),
    "PENDING": frozenset({"PAID", "FAILED", "VOID"}),
    "PAID": frozenset({"REFUNDED"}),
    "FAILED": frozenset({"PENDING", "DUE", "VOID"}),
    "REFUNDED": frozenset(),
    "VOID": frozenset(),
}
#: Seed 003 §3 "Admin vs Webhook Permissions": what the admin UI may set.
ADMIN_TARGETS = frozenset({"DUE", "PENDING", "FAILED", "VOID"})
#: Children correct an entry; they are not corrected themselves.
CHILD_TYPES = frozenset({"REFUND", "ADJUSTMENT"})
#: Columns the registry sorts by: the ledger's ``sort`` values (``GET /entries``), each
#: with an index there. Outstanding is not one (it depends on each entry's refunds).
SORTABLE = (
    "invoice_number", "entry_type", "status", "amount_minor", "paid_minor", "due_date",
    "building_id", "unit_id", "booking_id",
)  # fmt: skip
_INVOICE_RE = re.compile(r"^INV-\d{4}-\d{6}$")
_TEXT_LIMIT = 200


class FilterError(ValueError):
    """A filter the page cannot send (shown beside the form, nothing is fetched)."""


@dataclass(frozen=True)
class PaymentFilters:
    """The registry's search, filters and order, each one a ledger ``GET /entries``
    parameter: the ledger searches, sorts, pages and sums; the console holds one page."""

    invoice_number: str | None = None
    booking_id: str | None = None
    status: str | None = None
    entry_type: str | None = None
    building_id: str | None = None
    unit_id: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    overdue: bool | None = None
    #: Free text: the ledger's ``q``, a case-blind prefix of the invoice number,
    #: booking, building, unit, tenant or description.
    text: str | None = None
    #: A column of :data:`SORTABLE` and ``asc``/``desc`` (the ledger's ``sort``/``order``).
    sort: str | None = None
    descending: bool = False

    @classmethod
    def parse(cls, params: dict[str, str]) -> PaymentFilters:
        def text(name: str) -> str | None:
            value = (params.get(name) or "").strip()
            if len(value) > _TEXT_LIMIT:
                raise FilterError(f"{name} is longer than {_TEXT_LIMIT} characters")
            return value or None

        def choice(name: str, allowed: tuple[str, ...]) -> str | None:
            value = text(name)
            if value is not None and value not in allowed:
                raise FilterError(f"unknown {name.replace('_', ' ')} {value!r}")
            return value

        def day(name: str) -> date | None:
            value = text(name)
            if value is None:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise FilterError(f"{name.replace('_', ' ')} is not a date (YYYY-MM-DD)") from None

        invoice = text("invoice_number")
        if invoice is not None:
            invoice = invoice.upper()
            if not _INVOICE_RE.match(invoice):
                raise FilterError("an invoice number looks like INV-2026-000123")
        overdue = text("overdue")
        if overdue not in (None, "true", "false"):
            raise FilterError("overdue is true or false")
        sort = choice("sort", SORTABLE)
        direction = text("dir")
        if direction not in (None, "asc", "desc"):
            raise FilterError("dir is asc or desc")
        filters = cls(
            text=text("q"),
            sort=sort,
            descending=direction == "desc",
            invoice_number=invoice,
            booking_id=text("booking_id"),
            status=choice("status", STATUSES),
            entry_type=choice("entry_type", ENTRY_TYPES),
            building_id=text("building_id"),
            unit_id=text("unit_id"),
            due_from=day("due_from"),
            due_to=day("due_to"),
            overdue=None if overdue is None else overdue == "true",
        )
        if filters.due_from and filters.due_to and filters.due_from > filters.due_to:
            raise FilterError("the due-date range ends before it starts")
        return filters

    def filter_params(self) -> dict[str, str]:
        """The filters of the ledger's ``GET /entries`` and ``GET /entries/totals``."""
        params: dict[str, str] = {}
        for name in ("invoice_number", "booking_id", "status", "entry_type", "building_id",
                     "unit_id"):  # fmt: skip
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.due_from:
            params["due_from"] = self.due_from.isoformat()
        if self.due_to:
            params["due_to"] = self.due_to.isoformat()
        if self.overdue is not None:
            params["overdue"] = "true" if self.overdue else "false"
        if self.text:
            params["q"] = self.text
        return params

    def ledger_params(self) -> dict[str, str]:
        """The ledger's ``GET /entries`` query: the filters and the order."""
        params = self.filter_params()
        if self.sort:
            params["sort"] = self.sort
            params["order"] = "desc" if self.descending else "asc"
        return params

    def query(self) -> dict[str, str]:
        """The page's own query string for the same filters (links, export)."""
        params = self.filter_params()
        if self.sort:
            params["sort"] = self.sort
            params["dir"] = "desc" if self.descending else "asc"
        return params

    def sorted_by(self, column: str) -> dict[str, str]:
        """The query of a column header's link: sort by it, or flip its direction."""
        flip = self.sort == column and not self.descending
        return {**self.query(), "sort": column, "dir": "desc" if flip else "asc"}


def status_targets(status: str, role: Role) -> list[str]:
    """Statuses this user may set on an entry in ``status`` from the console."""
    if role not in WRITE_ROLES:
        return []
    return sorted(TRANSITIONS.get(status, frozenset()) & ADMIN_TARGETS)


def can_adjust(entry: dict[str, Any], role: Role) -> bool:
    """Adjustments correct a charge (seed: 'Create ADJUSTMENT child: allowed')."""
    return (
        role in WRITE_ROLES
        and entry["entry_type"] not in CHILD_TYPES
        and entry["status"] not in ("VOID", "REFUNDED")
    )


def can_refund(entry: dict[str, Any], role: Role) -> bool:
    """Only money received can be refunded."""
    return (
        role in WRITE_ROLES
        and entry["entry_type"] not in CHILD_TYPES
        and entry["paid_minor"] - entry["refunded_minor"] > 0
    )


def format_money(amount_minor: int, currency: str) -> str:
    """``1234567, 'SAR'`` → ``'12,345.67 SAR'`` with the currency's own exponent."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    units, minor = divmod(abs(amount_minor), 10**exponent)
    figure = f"{units:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    return f"{sign}{figure} {currency}"


def parse_money(text: str, currency: str, *, allow_negative: bool = False) -> int:
    """``'12.50'`` in SAR → 1250 minor units; refuses more decimals than the exponent."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    raw = text.strip().replace(",", "")
    match = re.fullmatch(r"(-?)(\d{1,15})(?:\.(\d+))?", raw)
    if not match:
        raise ValueError("an amount looks like 1250.00")
    sign, units, fraction = match.group(1), match.group(2), match.group(3) or ""
    if sign and not allow_negative:
        raise ValueError("the amount must be positive")
    if len(fraction) > exponent:
        raise ValueError(f"{currency} has {exponent} decimal places")
    value = int(units) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    if value == 0:
        raise ValueError("the amount must not be zero")
    return -value if sign else value


@dataclass
class Totals:
    """Sums of the filtered set, one line per currency (never added across currencies):
    the ledger's ``GET /entries/totals``."""

    count: int = 0
    by_currency: dict[str, dict[str, int]] | None = None

    @classmethod
    def of(cls, body: dict[str, Any]) -> Totals:
        return cls(
            count=body["count"],
            by_currency={
                line["currency"]: {
                    "amount": line["amount_minor"],
                    "paid": line["paid_minor"],
                    "refunded": line["refunded_minor"],
                    "outstanding": line["outstanding_minor"],
                }
                for line in body["by_currency"]
            },
        )


CSV_COLUMNS = (
    "entry_id", "invoice_number", "entry_type", "status", "amount_minor", "currency",
    "paid_minor", "refunded_minor", "outstanding_minor", "due_date", "overdue", "building_id",
    "unit_id", "booking_id", "parent_entry_id", "description", "paid_at",
)  # fmt: skip


def csv_row(entry: dict[str, Any]) -> list[str]:
    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        text = str(value)
        # A spreadsheet runs a cell starting with these as a formula (CSV injection).
        return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

    return [cell(entry.get(column)) for column in CSV_COLUMNS]
