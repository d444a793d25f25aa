"""Commands accepted by the registry's use cases (also the admin API's request bodies).

Unknown fields are refused (mass assignment): read-only fields such as ``id``,
``version``, ``renewals_used`` or ``status`` of an extension cannot be sent.

Every integer is strict: ``"100"``, ``10.0`` and ``true`` are refused (422), never
coerced, and each is bounded inside its column's range (bigint/integer), so a value
the database cannot hold never reaches it.
"""

from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, field_validator

from folio.shared.contracts.money import CURRENCY_EXPONENTS


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


BuildingCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
UnitStatusName = Literal["AVAILABLE", "BLOCKED", "MAINTENANCE"]
MortgageStatusName = Literal["ACTIVE", "PAID_OFF", "DEFAULTED", "CLOSED"]
#: Money in minor units: ≥ 0 (a rent or a principal may be zero), at most 10^15 (far
#: inside bigint, and the ledger's own bound).
AmountMinor = Annotated[int, Strict(), Field(ge=0, le=10**15)]
PositiveAmountMinor = Annotated[int, Strict(), Field(gt=0, le=10**15)]
#: Beds24 ids: positive, below 2^53 (JSON numbers stay exact), inside bigint.
Beds24Id = Annotated[int, Strict(), Field(gt=0, lt=2**53)]


def _valid_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {value!r}") from None
    return value


def _valid_currency(value: str) -> str:
    if value not in CURRENCY_EXPONENTS:
        raise ValueError(f"unsupported currency {value!r}")
    return value


class CreateBuilding(Command):
    code: BuildingCode
    name: Name
    timezone: str = "Asia/Riyadh"
    currency: str = "SAR"
    city: Annotated[str, StringConstraints(max_length=100)] | None = None

    _tz = field_validator("timezone")(_valid_timezone)
    _cur = field_validator("currency")(_valid_currency)


class UpdateBuilding(Command):
    name: Name | None = None
    timezone: str | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _valid_timezone(value)


class CreateUnit(Command):
    building_id: str
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    status: UnitStatusName = "AVAILABLE"
    monthly_base_rent_minor: AmountMinor
    currency: str = "SAR"

    _cur = field_validator("currency")(_valid_currency)


class UpdateUnit(Command):
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    status: UnitStatusName | None = None
    monthly_base_rent_minor: AmountMinor | None = None


class SetBeds24Mapping(Command):
    beds24_property_id: Beds24Id
    beds24_room_id: Beds24Id
    beds24_unit_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}$")] = "1"
    source_of_truth: Literal["BEDS24", "LOCAL"]


class CreateBooking(Command):
    unit_id: str
    guest_name: Name
    start_date: date
    end_date: date
    source: Literal["LOCAL", "BEDS24"] = "LOCAL"
    beds24_booking_id: Beds24Id | None = None
    max_renewals: Annotated[int, Strict(), Field(ge=0, le=100)] = 0
    renewal_window_days: Annotated[int, Strict(), Field(ge=0, le=366)] = 14


class RequestRenewal(Command):
    """Extend by whole months (default 1); the amount defaults to the unit's rent x months."""

    months: Annotated[int, Strict(), Field(ge=1, le=24)] = 1
    amount_minor: PositiveAmountMinor | None = None


class ApproveExtension(Command):
    beds24_change_note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class DecideExtension(Command):
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None


class CreateMortgage(Command):
    borrower_name: Name
    principal_minor: AmountMinor
    currency: str = "CAD"
    status: MortgageStatusName = "ACTIVE"
    building_id: str | None = None

    _cur = field_validator("currency")(_valid_currency)


class UpdateMortgage(Command):
    borrower_name: Name | None = None
    principal_minor: AmountMinor | None = None
    status: MortgageStatusName | None = None


class TakeSnapshots(Command):
    start_date: date
    end_date: date
    building_id: str | None = None


class SyncBeds24(Command):
    start_date: date
    end_date: date
    building_id: str | None = None
