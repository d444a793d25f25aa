"""Beds24 sync within its credit budget (issue 12, "Beds24 within its budget").

* ``beds24_property_sync``: per Beds24 property, when Folio last fetched it
  successfully and when it last tried (with the error), so a property that has not
  been fetched recently is known to be stale and its units answer UNKNOWN with a
  reason, never a local fallback (seed 003 §2).
* ``beds24_sync_jobs``: a full sync spread over the five-minute credit windows. It
  runs in the background; ``pending`` holds the properties still to fetch and
  ``next_run_at`` when the credits allow the next batch. At most one job runs at a
  time (partial unique index), which makes ``POST /beds24/sync`` idempotent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATEMENTS = (
    """
    CREATE TABLE beds24_property_sync (
        beds24_property_id bigint PRIMARY KEY,
        last_fetched_at timestamptz,
        last_attempt_at timestamptz NOT NULL,
        last_error text
    )
    """,
    """
    CREATE TABLE beds24_sync_jobs (
        id uuid PRIMARY KEY,
        status text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED')),
        trigger text NOT NULL CHECK (trigger IN ('API', 'SCHEDULE')),
        start_date date NOT NULL,
        end_date date NOT NULL CHECK (end_date >= start_date),
        building_id uuid,
        property_ids bigint[] NOT NULL,
        pending bigint[] NOT NULL,
        failed bigint[] NOT NULL DEFAULT '{}',
        done_count integer NOT NULL DEFAULT 0,
        next_run_at timestamptz NOT NULL,
        lease_until timestamptz,
        credits_per_property double precision,
        cost_sample_properties integer,
        requests integer NOT NULL DEFAULT 0,
        credits integer NOT NULL DEFAULT 0,
        token_fetches integer NOT NULL DEFAULT 0,
        windows integer NOT NULL DEFAULT 0,
        last_error text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        finished_at timestamptz
    )
    """,
    """
    CREATE UNIQUE INDEX beds24_sync_jobs_one_running ON beds24_sync_jobs ((true))
    WHERE status = 'RUNNING'
    """,
    "CREATE INDEX beds24_sync_jobs_by_creation ON beds24_sync_jobs (created_at DESC)",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE beds24_sync_jobs")
    op.execute("DROP TABLE beds24_property_sync")
