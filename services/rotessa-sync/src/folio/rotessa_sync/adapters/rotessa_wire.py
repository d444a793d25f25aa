"""Rotessa's JSON shapes (PROVIDERS.md), validated field by field.

Rotessa is lenient in what it sends: dates may come unpadded ("2019-03-7"),
amounts are decimal strings, and optional fields are often null. These models
accept exactly that and nothing looser: money becomes integer minor units via
``to_minor`` (never a float), and unknown fields are ignored.
"""

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from folio.rotessa_sync.domain.model import (
    ReportedTransaction,
    RotessaSchedule,
    TransactionStatus,
)
from folio.shared.contracts import to_minor

_LOOSE_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def parse_loose_date(value: Any) -> date | None:
    """A calendar date from Rotessa: "2019-03-07", "2019-3-7", or a full timestamp."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    if len(value) == 10:  # the usual padded "2019-03-07": parsed in C
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    match = _LOOSE_DATE.match(value)
    if match:
        year, month, day = (int(part) for part in match.groups())
        return date(year, month, day)
    try:
        return datetime.fromisoformat(value.strip()).date()
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None


def parse_timestamp(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a timestamp: {value!r}") from None


def _decimal_string(value: Any) -> str:
    # Floats would smuggle binary rounding into money; Rotessa sends strings.
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("amount must be a decimal string")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str) or not re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        raise ValueError(f"not a decimal amount: {value!r}")
    return value.strip()


LooseDate = Annotated[date | None, BeforeValidator(parse_loose_date)]
RequiredLooseDate = Annotated[date, BeforeValidator(parse_loose_date)]
Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]
DecimalString = Annotated[str, BeforeValidator(_decimal_string)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CustomerSummary(_Wire):
    id: int
    name: str = ""
    active: bool | None = None
    custom_identifier: str | None = None
    identifier: str | None = None
    email: str | None = None
    customer_type: str | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None


class TransactionScheduleWire(_Wire):
    id: int
    amount: DecimalString
    frequency: str
    process_date: LooseDate = None
    next_process_date: LooseDate = None
    installments: int | None = None
    comment: str | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None

    def to_schedule(self, customer: "CustomerSummary", currency: str) -> RotessaSchedule:
        return RotessaSchedule(
            schedule_id=self.id,
            customer_id=customer.id,
            customer_name=customer.name,
            amount_minor=to_minor(self.amount, currency),
            currency=currency,
            frequency=self.frequency,
            process_date=self.process_date,
            next_process_date=self.next_process_date,
            installments=self.installments,
            comment=self.comment,
        )


class CustomerDetail(CustomerSummary):
    transaction_schedules: list[TransactionScheduleWire] = Field(default_factory=list)

    def schedules(self, currency: str) -> list[RotessaSchedule]:
        return [s.to_schedule(self, currency) for s in self.transaction_schedules]


class TransactionReportRow(_Wire):
    id: int
    amount: DecimalString
    process_date: RequiredLooseDate
    status: TransactionStatus
    status_reason: str | None = None
    settlement_date: LooseDate = None
    earliest_approval_date: LooseDate = None
    transaction_schedule_id: int | None = None
    customer_id: int | None = None
    custom_identifier: str | None = None
    transaction_number: str | None = None
    comment: str | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None

    @field_validator("status", mode="before")
    @classmethod
    def _status_case(cls, value: Any) -> Any:
        # Rotessa capitalises statuses; accept "approved" too rather than drop a payment.
        return value.strip().capitalize() if isinstance(value, str) else value

    def to_transaction(self, currency: str) -> ReportedTransaction:
        return ReportedTransaction(
            transaction_id=self.id,
            schedule_id=self.transaction_schedule_id,
            customer_id=self.customer_id,
            amount_minor=to_minor(self.amount, currency),
            currency=currency,
            process_date=self.process_date,
            status=self.status,
            status_reason=self.status_reason,
            settlement_date=self.settlement_date,
            updated_at=self.updated_at,
        )
