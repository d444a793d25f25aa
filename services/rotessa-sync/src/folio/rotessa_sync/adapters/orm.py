"""Table definitions of the ``rotessa_sync`` schema (the migration creates them)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData()

mortgages = sa.Table(
    "mortgages",
    metadata,
    sa.Column("mortgage_id", sa.Text, primary_key=True),
    sa.Column("borrower_name", sa.Text, nullable=False),
    sa.Column("principal_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("rotessa_schedule_id", sa.BigInteger),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)

schedule_links = sa.Table(
    "schedule_links",
    metadata,
    sa.Column("mortgage_id", sa.Text, primary_key=True),
    sa.Column("schedule_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("customer_id", sa.BigInteger),
    sa.Column("customer_name", sa.Text),
    sa.Column("amount_minor", sa.BigInteger),
    sa.Column("currency", sa.String(3)),
    sa.Column("frequency", sa.Text),
    sa.Column("first_process_date", sa.Date),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("linked_by", sa.Text, nullable=False),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
)

backfill_log = sa.Table(
    "backfill_log",
    metadata,
    sa.Column("backfill_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("mortgage_id", sa.Text, nullable=False),
    sa.Column("schedule_id", sa.BigInteger, nullable=False),
    sa.Column("triggered_by", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("metrics", JSONB, nullable=False),
    sa.Column("errors", JSONB, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_start", sa.Date, nullable=False),
    sa.Column("window_end", sa.Date, nullable=False),
    sa.Column("next_page", sa.Integer, nullable=False),
    sa.Column("report_finished", sa.Boolean, nullable=False),
    sa.Column("retry_rejected", sa.Boolean, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("retry_of", UUID(as_uuid=True)),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
)

ledger_commands = sa.Table(
    "ledger_commands",
    metadata,
    sa.Column("reference", sa.Text, primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("transaction_id", sa.BigInteger, nullable=False),
    sa.Column("schedule_id", sa.BigInteger),
    sa.Column("mortgage_id", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("backfill_id", UUID(as_uuid=True)),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("ledger_transaction_id", sa.BigInteger),
    sa.Column("rejection_code", sa.Text),
    sa.Column("rejection_reason", sa.Text),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True)),
)

sync_cursor = sa.Table(
    "sync_cursor",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("window_start", sa.Date),
    sa.Column("window_end", sa.Date),
    sa.Column("last_started_at", sa.DateTime(timezone=True)),
    sa.Column("last_finished_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("metrics", JSONB, nullable=False),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
)

#: Rotessa's schedules as last read (migration 0004); replaced as a whole by a refresh.
schedule_catalogue = sa.Table(
    "schedule_catalogue",
    metadata,
    sa.Column("schedule_id", sa.BigInteger, primary_key=True),
    sa.Column("customer_id", sa.BigInteger, nullable=False),
    sa.Column("customer_name", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("frequency", sa.Text, nullable=False),
    sa.Column("process_date", sa.Date),
    sa.Column("next_process_date", sa.Date),
    sa.Column("installments", sa.Integer),
    sa.Column("comment", sa.Text),
    sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
)
