"""SQLAlchemy Core tables of the webhooks schema (see migrations/versions/0001)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID

metadata = sa.MetaData()

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("dedupe_key", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("duplicate_of", UUID(as_uuid=True)),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("headers", JSONB, nullable=False),
    sa.Column("query", JSONB, nullable=False),
    sa.Column("body", BYTEA, nullable=False),
    sa.Column("body_sha256", sa.Text, nullable=False),
    sa.Column("event_name", sa.Text),
    sa.Column("payment_provider", sa.Text),
    sa.Column("provider_payment_id", sa.Text),
    sa.Column("invoice_number", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("replay_count", sa.Integer, nullable=False),
    sa.Column("last_replayed_at", sa.DateTime(timezone=True)),
)

payment_progress = sa.Table(
    "payment_progress",
    metadata,
    sa.Column("payment_provider", sa.Text, primary_key=True),
    sa.Column("provider_payment_id", sa.Text, primary_key=True),
    sa.Column("invoice_number", sa.Text),
    sa.Column("progress", JSONB, nullable=False),
    sa.Column("parked_origins", JSONB, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

payment_facts = sa.Table(
    "payment_facts",
    metadata,
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("payment_provider", sa.Text, nullable=False),
    sa.Column("provider_payment_id", sa.Text, nullable=False),
    sa.Column("fact_key", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("delivery_id", UUID(as_uuid=True), nullable=False),
    sa.Column("invoice_number", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger),
    sa.Column("currency", sa.Text),
    sa.Column("emitted_at", sa.DateTime(timezone=True), nullable=False),
)

payment_method_settings = sa.Table(
    "payment_method_settings",
    metadata,
    sa.Column("method_key", sa.Text, primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("is_enabled", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.Text),
)

provider_credentials = sa.Table(
    "provider_credentials",
    metadata,
    sa.Column("provider", sa.Text, primary_key=True),
    sa.Column("api_key", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.Text),
)
