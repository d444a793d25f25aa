"""Rotessa-sync schema: messaging tables, mortgages read model, links, backfills, commands.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

from folio.shared.db import MESSAGING_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROTESSA_DDL = (
    # Read model of the registry's mortgages (event-carried state, newest version wins).
    """
    CREATE TABLE mortgages (
        mortgage_id text PRIMARY KEY,
        borrower_name text NOT NULL,
        principal_minor bigint NOT NULL,
        currency char(3) NOT NULL,
        status text NOT NULL,
        rotessa_schedule_id bigint,
        version integer NOT NULL,
        changed_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # One schedule per mortgage (primary key) and one mortgage per schedule (unique).
    """
    CREATE TABLE schedule_links (
        mortgage_id text PRIMARY KEY,
        schedule_id bigint NOT NULL UNIQUE,
        customer_id bigint,
        customer_name text,
        amount_minor bigint,
        currency char(3),
        frequency text,
        first_process_date date,
        source text NOT NULL CHECK (source IN ('admin', 'registry')),
        linked_by text NOT NULL,
        linked_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE backfill_log (
        backfill_id uuid PRIMARY KEY,
        mortgage_id text NOT NULL,
        schedule_id bigint NOT NULL,
        triggered_by text NOT NULL,
        status text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'PARTIAL', 'FAILED')),
        metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
        errors jsonb NOT NULL DEFAULT '[]'::jsonb,
        started_at timestamptz NOT NULL,
        completed_at timestamptz,
        updated_at timestamptz NOT NULL,
        window_start date NOT NULL,
        window_end date NOT NULL,
        next_page integer NOT NULL DEFAULT 1 CHECK (next_page >= 1),
        report_finished boolean NOT NULL DEFAULT false,
        retry_rejected boolean NOT NULL DEFAULT false,
        attempts integer NOT NULL DEFAULT 1,
        retry_of uuid REFERENCES backfill_log (backfill_id),
        lease_owner text,
        lease_expires_at timestamptz
    )
    """,
    "CREATE INDEX backfill_log_by_mortgage ON backfill_log (mortgage_id, started_at DESC)",
    "CREATE INDEX backfill_log_by_status ON backfill_log (status, started_at DESC)",
    # At most one running backfill per schedule, whatever the application does.
    "CREATE UNIQUE INDEX backfill_log_one_running_per_schedule ON backfill_log (schedule_id)"
    " WHERE status = 'RUNNING'",
    # Every command sent to the ledger, keyed by its reference: the idempotency key.
    """
    CREATE TABLE ledger_commands (
        reference text PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        kind text NOT NULL CHECK (kind IN ('collected', 'reversed')),
        transaction_id bigint NOT NULL,
        schedule_id bigint,
        mortgage_id text NOT NULL,
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        currency char(3) NOT NULL,
        origin text NOT NULL CHECK (origin IN ('backfill', 'sync')),
        backfill_id uuid REFERENCES backfill_log (backfill_id),
        state text NOT NULL CHECK (state IN ('PUBLISHED', 'CONFIRMED', 'DUPLICATE', 'REJECTED')),
        ledger_transaction_id bigint,
        rejection_code text,
        rejection_reason text,
        published_at timestamptz NOT NULL,
        answered_at timestamptz
    )
    """,
    "CREATE INDEX ledger_commands_outstanding ON ledger_commands (backfill_id)"
    " WHERE state = 'PUBLISHED'",
    "CREATE INDEX ledger_commands_by_backfill ON ledger_commands (backfill_id, state)",
    "CREATE INDEX ledger_commands_by_transaction ON ledger_commands (transaction_id)",
    # The periodic sync's cursor and lease (one row per sync job).
    """
    CREATE TABLE sync_cursor (
        name text PRIMARY KEY,
        window_start date,
        window_end date,
        last_started_at timestamptz,
        last_finished_at timestamptz,
        last_error text,
        metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
        lease_owner text,
        lease_expires_at timestamptz
    )
    """,
)


def upgrade() -> None:
    for statement in (*MESSAGING_DDL, *ROTESSA_DDL):
        op.execute(statement)


def downgrade() -> None:
    for table in (
        "sync_cursor", "ledger_commands", "backfill_log", "schedule_links", "mortgages",
        "audit_log", "dead_letters", "processed_messages", "outbox",
    ):  # fmt: skip
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify CASCADE")
    op.execute("DROP FUNCTION IF EXISTS refuse_change CASCADE")
