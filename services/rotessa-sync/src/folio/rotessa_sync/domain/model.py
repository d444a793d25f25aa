"""What Rotessa-sync knows about Rotessa's data, independent of the wire format."""

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class TransactionStatus(StrEnum):
    """Rotessa lifecycle: Future → Pending → Approved | Declined; Approved → Chargeback."""

    FUTURE = "Future"
    PENDING = "Pending"
    APPROVED = "Approved"
    DECLINED = "Declined"
    CHARGEBACK = "Chargeback"


class Frequency(StrEnum):
    ONCE = "Once"
    WEEKLY = "Weekly"
    EVERY_OTHER_WEEK = "Every Other Week"
    MONTHLY = "Monthly"
    EVERY_OTHER_MONTH = "Every Other Month"
    QUARTERLY = "Quarterly"
    SEMI_ANNUALLY = "Semi-Annually"
    YEARLY = "Yearly"


@dataclass(frozen=True, slots=True)
class ReportedTransaction:
    """One row of Rotessa's transaction report, validated, money in minor units."""

    transaction_id: int
    schedule_id: int | None
    customer_id: int | None
    amount_minor: int
    currency: str
    process_date: date
    status: TransactionStatus
    status_reason: str | None = None
    settlement_date: date | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RotessaSchedule:
    """A transaction schedule with what an admin needs to recognise it."""

    schedule_id: int
    customer_id: int
    customer_name: str
    amount_minor: int
    currency: str
    frequency: str
    process_date: date | None
    next_process_date: date | None
    installments: int | None = None
    comment: str | None = None
