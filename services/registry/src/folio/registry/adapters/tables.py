"""SQLAlchemy Core tables of the registry schema (DDL lives in migrations/)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

metadata = sa.MetaData()


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


buildings = sa.Table(
    "buildings",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("city", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    *_timestamps(),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("building_id", UUID(as_uuid=True), nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("monthly_base_rent_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    *_timestamps(),
)

beds24_map = sa.Table(
    "beds24_map",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("unit_id", UUID(as_uuid=True), nullable=False),
    sa.Column("beds24_property_id", sa.BigInteger, nullable=False),
    sa.Column("beds24_room_id", sa.BigInteger, nullable=False),
    sa.Column("beds24_unit_number", sa.Text, nullable=False),
    sa.Column("source_of_truth", sa.Text, nullable=False),
    *_timestamps(),
)

beds24_observations = sa.Table(
    "beds24_observations",
    metadata,
    sa.Column("unit_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("stay_date", sa.Date, primary_key=True),
    sa.Column("occupied", sa.Boolean, nullable=False),
    sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
)

beds24_property_sync = sa.Table(
    "beds24_property_sync",
    metadata,
    sa.Column("beds24_property_id", sa.BigInteger, primary_key=True),
    sa.Column("last_fetched_at", sa.DateTime(timezone=True)),
    sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text),
)

beds24_sync_jobs = sa.Table(
    "beds24_sync_jobs",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("building_id", UUID(as_uuid=True)),
    sa.Column("property_ids", ARRAY(sa.BigInteger), nullable=False),
    sa.Column("pending", ARRAY(sa.BigInteger), nullable=False),
    sa.Column("failed", ARRAY(sa.BigInteger), nullable=False),
    sa.Column("done_count", sa.Integer, nullable=False),
    sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("credits_per_property", sa.Float),
    sa.Column("cost_sample_properties", sa.Integer),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("credits", sa.Integer, nullable=False),
    sa.Column("token_fetches", sa.Integer, nullable=False),
    sa.Column("windows", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)

bookings = sa.Table(
    "bookings",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("building_id", UUID(as_uuid=True), nullable=False),
    sa.Column("unit_id", UUID(as_uuid=True), nullable=False),
    sa.Column("guest_name", sa.Text, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("beds24_booking_id", sa.BigInteger),
    sa.Column("renewals_used", sa.Integer, nullable=False),
    sa.Column("max_renewals", sa.Integer, nullable=False),
    sa.Column("renewal_window_days", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    *_timestamps(),
)

booking_extensions = sa.Table(
    "booking_extensions",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("booking_id", UUID(as_uuid=True), nullable=False),
    sa.Column("unit_id", UUID(as_uuid=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("requires_beds24_update", sa.Boolean, nullable=False),
    sa.Column("previous_end_date", sa.Date, nullable=False),
    sa.Column("new_end_date", sa.Date, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("ledger_entry_id", sa.Text),
    sa.Column("beds24_change_note", sa.Text),
    sa.Column("decision_reason", sa.Text),
    sa.Column("requested_by", sa.Text, nullable=False),
    sa.Column("decided_by", sa.Text),
    sa.Column("paid_after_cancellation", sa.Boolean, nullable=False),
    *_timestamps(),
)

unit_daily_status = sa.Table(
    "unit_daily_status",
    metadata,
    sa.Column("unit_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("status_date", sa.Date, primary_key=True),
    sa.Column("building_id", UUID(as_uuid=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
)

mortgages = sa.Table(
    "mortgages",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("borrower_name", sa.Text, nullable=False),
    sa.Column("principal_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("rotessa_schedule_id", sa.BigInteger),
    sa.Column("building_id", UUID(as_uuid=True)),
    sa.Column("version", sa.Integer, nullable=False),
    *_timestamps(),
)

kpi_entries = sa.Table(
    "kpi_entries",
    metadata,
    sa.Column("entry_id", sa.Text, primary_key=True),
    sa.Column("invoice_number", sa.Text, nullable=False),
    sa.Column("building_ref", sa.Text),
    sa.Column("building_id", UUID(as_uuid=True)),
    sa.Column("unit_id", sa.Text),
    sa.Column("booking_id", sa.Text),
    sa.Column("extension_id", sa.Text),
    sa.Column("entry_type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("paid_minor", sa.BigInteger, nullable=False),
    sa.Column("refunded_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("due_date", sa.Date),
    sa.Column("paid_at", sa.DateTime(timezone=True)),
    sa.Column("paid_local_date", sa.Date),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

kpi_daily_collections = sa.Table(
    "kpi_daily_collections",
    metadata,
    sa.Column("building_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("collected_minor", sa.BigInteger, nullable=False),
    sa.Column("movement_count", sa.Integer, nullable=False),
)

#: Every payment (+) and refund (-) on an entry, when it happened (KPI "collected").
kpi_money_movements = sa.Table(
    "kpi_money_movements",
    metadata,
    sa.Column("entry_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("building_id", UUID(as_uuid=True)),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
)

kpi_open_receivables = sa.Table(
    "kpi_open_receivables",
    metadata,
    sa.Column("building_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("status", sa.Text, primary_key=True),
    sa.Column("due_date", sa.Date, primary_key=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("entry_count", sa.Integer, nullable=False),
)

kpi_daily_occupancy = sa.Table(
    "kpi_daily_occupancy",
    metadata,
    sa.Column("building_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("status_date", sa.Date, primary_key=True),
    sa.Column("occupied_units", sa.Integer, nullable=False),
)
