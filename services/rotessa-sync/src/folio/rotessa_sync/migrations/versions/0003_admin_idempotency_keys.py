"""``Idempotency-Key`` of the money-changing admin routes (link, backfill start/retry).

One row per (scope, key), inserted in the same transaction as the route's effect
and before it: a concurrent duplicate waits on the primary key and then finds the
committed answer, so one key has at most one effect whatever the timing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE admin_idempotency_keys (
            scope text NOT NULL,
            key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
            request_hash text NOT NULL,
            status_code integer,
            response jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, key)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE admin_idempotency_keys")
