"""Commands accepted by the registry's use cases (also the admin API's request bodies).

Unknown fields are refused (mass assignment): read-only fields such as ``id``,
``version``, ``renewals_used`` or ``status`` of an extension cannot be sent.

Every integer is strict: ``"100"``, ``10.0`` and ``true`` are refused (422), never
coerced, and each is bounded inside its column's range (bigint/integer), so a value
the database cannot hold never reaches it.
"""

import uuid
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from folio.shared.contracts.money import CURRENCY_EXPONENTS
from folio.shared.inputs import FreeText, Int, ReportDate, Text


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


BuildingCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$")]
Name = Text(200, min_length=1)
OptionalName = Text(200)
City = Text(100)
Note = FreeText(2000)
#: An id of another registry object, sent as text (its existence is checked by the use case).
Reference = Text(64)
TimezoneName = Text(64, min_length=1)
UnitStatusName = Literal["AVAILABLE", "BLOCKED", "MAINTENANCE"]
MortgageStatusName = Literal["ACTIVE", "PAID_OFF", "DEFAULTED", "CLOSED"]
#: Money in minor units: ≥ 0 (a rent or a principal may be zero), at most 10^15 (far
#: inside bigint, and the ledger's own bound).
AmountMinor = Int(0, 10**15)
PositiveAmountMinor = Int(1, 10**15)
#: Beds24 ids: positive, below 2^53 (JSON numbers stay exact), inside bigint.
Beds24Id = Int(1, 2**53 - 1)


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
    timezone: TimezoneName = "Asia/Riyadh"
    currency: str = "SAR"
    city: City | None = None

    _tz = field_validator("timezone")(_valid_timezone)
    _cur = field_validator("currency")(_valid_currency)


# In an update, a field left out is left unchanged; ``null`` is accepted only where the
# column may be empty (a unit's name, a building's city). Elsewhere the type admits no
# null (the ``None`` default is never validated), so ``{"timezone": null}`` is a 422,
# not a NOT NULL violation in the database.


class UpdateBuilding(Command):
    name: Name = None
    timezone: TimezoneName = None
    city: City | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _valid_timezone(value)


class CreateUnit(Command):
    building_id: Reference
    code: Text(64, min_length=1)
    name: OptionalName | None = None
    status: UnitStatusName = "AVAILABLE"
    monthly_base_rent_minor: AmountMinor
    currency: str = "SAR"

    _cur = field_validator("currency")(_valid_currency)


class UpdateUnit(Command):
    name: OptionalName | None = None
    status: UnitStatusName = None
    monthly_base_rent_minor: AmountMinor = None


class SetBeds24Mapping(Command):
    beds24_property_id: Beds24Id
    beds24_room_id: Beds24Id
    beds24_unit_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}$")] = "1"
    source_of_truth: Literal["BEDS24", "LOCAL"]


class CreateBooking(Command):
    unit_id: Reference
    guest_name: Name
    start_date: ReportDate
    end_date: ReportDate
    source: Literal["LOCAL", "BEDS24"] = "LOCAL"
    beds24_booking_id: Beds24Id | None = None
    max_renewals: Int(0, 100) = 0
    renewal_window_days: Int(0, 366) = 14


class RequestRenewal(Command):
    """Extend by whole months (default 1); the amount defaults to the unit's rent x months."""

    months: Int(1, 24) = 1
    amount_minor: PositiveAmountMinor | None = None


class ApproveExtension(Command):
    beds24_change_note: Note | None = None


class DecideExtension(Command):
    reason: Note | None = None


class CreateMortgage(Command):
    borrower_name: Name
    principal_minor: AmountMinor
    currency: str = "CAD"
    status: MortgageStatusName = "ACTIVE"
    building_id: Reference | None = None

    _cur = field_validator("currency")(_valid_currency)


class UpdateMortgage(Command):
    borrower_name: Name = None
    principal_minor: AmountMinor = None
    status: MortgageStatusName = None


class TakeSnapshots(Command):
    start_date: ReportDate
    end_date: ReportDate
    #: A UUID or nothing (all buildings): ``""`` is refused, not read as "all".
    building_id: uuid.UUID | None = None


class SyncBeds24(Command):
    start_date: ReportDate
    end_date: ReportDate
    building_id: uuid.UUID | None = None
