"""Response models of the registry's admin API: the typed contract of every 2xx answer
(what the routes really return, nullable columns included)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class BuildingOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    timezone: str
    currency: str
    city: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class UnitOut(BaseModel):
    id: uuid.UUID
    building_id: uuid.UUID
    code: str
    name: str | None
    status: str
    monthly_base_rent_minor: int
    currency: str
    version: int
    created_at: datetime
    updated_at: datetime


class Beds24MappingOut(BaseModel):
    id: uuid.UUID
    unit_id: uuid.UUID
    beds24_property_id: int
    beds24_room_id: int
    beds24_unit_number: str
    source_of_truth: str
    created_at: datetime
    updated_at: datetime


class UnitDetail(UnitOut):
    beds24_map: Beds24MappingOut | None


class OccupancyOut(BaseModel):
    date: date
    source: str
    occupancy: str
    daily_status: str
    reason: str | None = Field(
        None, description="Why the occupancy is UNKNOWN (e.g. Beds24 data not fetched yet, stale)"
    )


class DailyStatusOut(BaseModel):
    unit_id: uuid.UUID
    status_date: date
    building_id: uuid.UUID
    status: str
    source: str
    computed_at: datetime


class DailyStatusList(BaseModel):
    data: list[DailyStatusOut]


class BookingOut(BaseModel):
    id: uuid.UUID
    building_id: uuid.UUID
    unit_id: uuid.UUID
    guest_name: str
    start_date: date
    end_date: date
    status: str
    source: str
    beds24_booking_id: int | None
    renewals_used: int
    max_renewals: int
    renewal_window_days: int
    version: int
    created_at: datetime
    updated_at: datetime


class EligibilityOut(BaseModel):
    eligible: bool
    reasons: list[str]
    window_opens_on: date | None
    today: date


class ExtensionOut(BaseModel):
    id: uuid.UUID
    booking_id: uuid.UUID
    unit_id: uuid.UUID
    status: str
    requires_beds24_update: bool
    previous_end_date: date
    new_end_date: date
    amount_minor: int
    currency: str
    ledger_entry_id: str | None
    beds24_change_note: str | None
    decision_reason: str | None
    requested_by: str
    decided_by: str | None
    paid_after_cancellation: bool
    created_at: datetime
    updated_at: datetime


class MortgageOut(BaseModel):
    id: uuid.UUID
    borrower_name: str
    principal_minor: int
    currency: str
    status: str
    rotessa_schedule_id: int | None
    building_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


class BuildingPage(BaseModel):
    data: list[BuildingOut]
    next_cursor: str | None


class UnitPage(BaseModel):
    data: list[UnitOut]
    next_cursor: str | None


class BookingPage(BaseModel):
    data: list[BookingOut]
    next_cursor: str | None


class ExtensionPage(BaseModel):
    data: list[ExtensionOut]
    next_cursor: str | None


class MortgagePage(BaseModel):
    data: list[MortgageOut]
    next_cursor: str | None


class KpiEntryOut(BaseModel):
    """A ledger entry as the registry's read model keeps it, with what is still owed."""

    entry_id: str
    invoice_number: str
    building_ref: str | None
    building_id: uuid.UUID | None
    unit_id: str | None
    booking_id: str | None
    extension_id: str | None
    entry_type: str
    status: str
    amount_minor: int
    paid_minor: int
    refunded_minor: int
    currency: str
    due_date: date | None
    paid_at: datetime | None
    paid_local_date: date | None
    version: int
    changed_at: datetime
    outstanding_minor: int


class BalanceOut(BaseModel):
    currency: str
    outstanding_minor: int
    collected_minor: int
    overdue_count: int


class FinanceCard(BaseModel):
    unit: UnitOut
    building: BuildingOut | None
    mapping: Beds24MappingOut | None
    occupancy: OccupancyOut
    entries: list[KpiEntryOut]
    balances: list[BalanceOut]


class SnapshotResult(BaseModel):
    inserted: int
    unchanged: int
    buildings: int


class Beds24SyncProperties(BaseModel):
    total: int
    done: int
    pending: int
    failed: int
    stale: int


class Beds24SyncUsage(BaseModel):
    """What the job has spent of Beds24's budget (100 credits per 5 minutes)."""

    requests: int
    credits: int
    token_fetches: int
    windows: int


class Beds24SyncJob(BaseModel):
    """A background Beds24 sync: its progress, next run and credit use."""

    id: uuid.UUID
    status: Literal["RUNNING", "COMPLETED"]
    trigger: Literal["API", "SCHEDULE"]
    start_date: date
    end_date: date
    building_id: uuid.UUID | None
    properties: Beds24SyncProperties
    next_run_at: datetime | None
    usage: Beds24SyncUsage
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class _KpiFigures(BaseModel):
    currency: str
    as_of: date
    total_units: int
    rentable_units: int
    occupied_units: int
    unknown_units: int
    blocked_units: int
    maintenance_units: int
    occupancy_rate_percent: str | None
    par_minor: int
    collected_mtd_minor: int
    collected_ytd_minor: int
    ear_minor: int
    run_rate_minor: int
    outstanding_minor: int
    overdue_count: int
    occupied_unit_days_mtd: int
    days_so_far_in_month: int
    days_so_far_in_year: int
    adr_minor: int | None
    revpau_minor: int | None


class BuildingKpisOut(_KpiFigures):
    building_id: uuid.UUID
    building_code: str
    timezone: str


class PortfolioRollUp(BaseModel):
    currency: str
    building_count: int
    total_units: int
    rentable_units: int
    occupied_units: int
    unknown_units: int
    occupancy_rate_percent: str | None
    par_minor: int
    collected_mtd_minor: int
    collected_ytd_minor: int
    ear_minor: int
    run_rate_minor: int
    outstanding_minor: int
    overdue_count: int
    adr_minor: int | None
    revpau_minor: int | None


class PortfolioKpisOut(BaseModel):
    portfolio: list[PortfolioRollUp]
    buildings: list[BuildingKpisOut]


class MonthlyCollected(BaseModel):
    month: date = Field(description="First local day of the month")
    collected_minor: int
    movement_count: int


class CollectionsByMonthOut(BaseModel):
    building_id: uuid.UUID
    building_code: str
    timezone: str
    currency: str
    as_of: date
    months: list[MonthlyCollected]


class UnknownUnitOut(BaseModel):
    unit_id: uuid.UUID
    code: str
    reason: str


class BuildingOccupancyOut(BaseModel):
    building_id: uuid.UUID
    timezone: str
    date: date
    source: Literal["LIVE", "SNAPSHOT"] = Field(
        description="SNAPSHOT for past nights (the daily snapshot where one exists)"
    )
    counts: dict[str, int] = Field(
        description="Units per daily status: OCCUPIED, VACANT, UNKNOWN, BLOCKED, MAINTENANCE"
    )
    unknown_units: list[UnknownUnitOut] = Field(
        description="UNKNOWN units by code with why (at most 100; counts.UNKNOWN is exact)"
    )


class AuditRecord(BaseModel):
    id: int
    occurred_at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    details: Any
    correlation_id: str | None


class AuditTrail(BaseModel):
    data: list[AuditRecord]
