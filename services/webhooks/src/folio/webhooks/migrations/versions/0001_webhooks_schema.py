"""Webhooks schema: messaging tables, deliveries, payment progress and facts, settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

from folio.shared.db import MESSAGING_DDL
from folio.shared.migrations import DROP_SCHEMA_OBJECTS

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CHANNELS = "'moyasar','tabby','tamara','standard'"
PROVIDERS = "'moyasar','tabby','tamara'"
STORED_STATES = "'accepted','duplicate','rejected','unmapped'"
METHODS = "'mada_card','apple_pay','google_pay','tabby','tamara'"

WEBHOOKS_DDL = (
    # Every authenticated delivery, retries and duplicates included. The first
    # delivery of a dedupe key is unique (partial index); later ones point at it.
    f"""
    CREATE TABLE deliveries (
        id uuid PRIMARY KEY,
        seq bigserial NOT NULL UNIQUE,
        channel text NOT NULL CHECK (channel IN ({CHANNELS})),
        dedupe_key text NOT NULL,
        state text NOT NULL CHECK (state IN ({STORED_STATES})),
        duplicate_of uuid REFERENCES deliveries (id),
        received_at timestamptz NOT NULL,
        headers jsonb NOT NULL,
        query jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        body bytea NOT NULL,
        body_sha256 text NOT NULL,
        event_name text,
        payment_provider text CHECK (payment_provider IN ({PROVIDERS})),
        provider_payment_id text,
        invoice_number text,
        reason text,
        replay_count integer NOT NULL DEFAULT 0,
        last_replayed_at timestamptz,
        CHECK ((state = 'duplicate') = (duplicate_of IS NOT NULL))
    )
    """,
    "CREATE UNIQUE INDEX deliveries_first_of_key ON deliveries (channel, dedupe_key)"
    " WHERE duplicate_of IS NULL",
    "CREATE INDEX deliveries_received ON deliveries (received_at DESC, seq DESC)",
    "CREATE INDEX deliveries_invoice ON deliveries (invoice_number, seq)",
    "CREATE INDEX deliveries_payment ON deliveries (payment_provider, provider_payment_id, seq)",
    "CREATE INDEX deliveries_state ON deliveries (state, seq)",
    # What intake already did for one provider payment (emission planning state);
    # its row lock serializes deliveries about the same payment.
    f"""
    CREATE TABLE payment_progress (
        payment_provider text NOT NULL CHECK (payment_provider IN ({PROVIDERS})),
        provider_payment_id text NOT NULL,
        invoice_number text,
        progress jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        parked_origins jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (payment_provider, provider_payment_id)
    )
    """,
    # Each business fact emitted once (unique per provider), with its event id.
    f"""
    CREATE TABLE payment_facts (
        event_id uuid PRIMARY KEY,
        payment_provider text NOT NULL CHECK (payment_provider IN ({PROVIDERS})),
        provider_payment_id text NOT NULL,
        fact_key text NOT NULL,
        event_type text NOT NULL,
        delivery_id uuid NOT NULL REFERENCES deliveries (id),
        invoice_number text NOT NULL,
        amount_minor bigint,
        currency char(3),
        emitted_at timestamptz NOT NULL,
        UNIQUE (payment_provider, fact_key)
    )
    """,
    "CREATE INDEX payment_facts_delivery ON payment_facts (delivery_id)",
    f"""
    CREATE TABLE payment_method_settings (
        method_key text PRIMARY KEY CHECK (method_key IN ({METHODS})),
        provider text NOT NULL CHECK (provider IN ({PROVIDERS})),
        is_enabled boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text
    )
    """,
    """
    INSERT INTO payment_method_settings (method_key, provider) VALUES
        ('mada_card', 'moyasar'), ('apple_pay', 'moyasar'), ('google_pay', 'moyasar'),
        ('tabby', 'tabby'), ('tamara', 'tamara')
    """,
    # Write-only API keys: the API reports only whether one is configured.
    f"""
    CREATE TABLE provider_credentials (
        provider text PRIMARY KEY CHECK (provider IN ({PROVIDERS})),
        api_key text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text
    )
    """,
)


def upgrade() -> None:
    for statement in (*MESSAGING_DDL, *WEBHOOKS_DDL):
        op.execute(statement)


def downgrade() -> None:
    # to base: the service's schema is emptied (see DROP_SCHEMA_OBJECTS)
    op.execute(DROP_SCHEMA_OBJECTS)
