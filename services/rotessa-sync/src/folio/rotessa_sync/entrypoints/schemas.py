"""Response models of rotessa-sync's admin API: the typed contract of every 2xx answer
(what the routes really return, nullable columns included). Money is integer minor
units with its currency; Rotessa's ids are integers, Folio's ids strings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BackfillStatusName = Literal["RUNNING", "COMPLETED", "PARTIAL", "FAILED"]


class UnlinkedSchedule(BaseModel):
    schedule_id: int
    customer_id: int
    customer_name: str
    amount_minor: int
    currency: str
    frequency: str
    process_date: date | None
    next_process_date: date | None
    installments: int | None
    comment: str | None


class UnlinkedSchedules(BaseModel):
    """Read from the local catalogue of Rotessa's schedules, not from Rotessa: as fresh
    as its last refresh (linking still checks the schedule with Rotessa itself)."""

    schedules: list[UnlinkedSchedule]
    refreshed_at: datetime | None = Field(
        description="When the catalogue was last read from Rotessa (null: never yet)"
    )
    age_seconds: int | None = Field(description="Seconds since refreshed_at (null: never)")
    refreshing: bool = Field(description="A refresh is running now")
    last_error: str | None = Field(
        description="Why the last refresh failed, if it did (the catalogue stayed as it was)"
    )


class CatalogueRefresh(BaseModel):
    status: Literal["queued"]
    refreshed_at: datetime | None = Field(
        description="The catalogue's refresh time before this one (compare to see it done)"
    )


class MortgageWithoutSchedule(BaseModel):
    mortgage_id: str
    borrower_name: str
    status: str
    principal_minor: int
    currency: str


class Link(BaseModel):
    mortgage_id: str
    schedule_id: int
    customer_id: int | None
    customer_name: str | None
    amount_minor: int | None
    currency: str | None
    frequency: str | None
    first_process_date: date | None
    source: str = Field(description="`admin` (linked here) or `registry` (from mortgage.changed)")
    linked_by: str
    linked_at: datetime


class LinkCreated(BaseModel):
    mortgage_id: str
    schedule_id: int
    created: bool
    backfill_id: str | None = Field(description="UUID of the backfill started, if asked for")


class BackfillStarted(BaseModel):
    backfill_id: str = Field(description="UUID of the backfill (poll GET /backfills/{id})")
    status: Literal["RUNNING"]


class BackfillCounters(BaseModel):
    fetched: int
    approved: int
    chargebacks: int
    published: int
    confirmed: int
    duplicates: int
    rejected: int
    declined_skipped: int
    pending_skipped: int
    invalid: int
    settled: int


class BackfillProgress(BaseModel):
    phase: Literal["reading", "awaiting_ledger", "done"]
    pages_read: int
    report_finished: bool
    outstanding: int = Field(description="Commands sent that the ledger has not answered yet")


class BackfillError(BaseModel):
    """One recorded problem (bounded in number); context fields vary by kind."""

    model_config = ConfigDict(extra="allow")

    kind: str
    message: str


class DateWindow(BaseModel):
    start: date
    end: date


class Backfill(BaseModel):
    backfill_id: str
    mortgage_id: str
    schedule_id: int
    triggered_by: str
    status: BackfillStatusName
    metrics: BackfillCounters
    progress: BackfillProgress
    errors: list[BackfillError]
    window: DateWindow
    started_at: datetime
    completed_at: datetime | None
    attempts: int
    retry_of: str | None


class SyncRun(BaseModel):
    metrics: BackfillCounters


class SyncStatus(BaseModel):
    name: str
    window_start: date | None = None
    window_end: date | None = None
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_error: str | None = None
    metrics: dict[str, int] = Field(
        default_factory=dict, description="The last run's counters (empty before the first)"
    )
