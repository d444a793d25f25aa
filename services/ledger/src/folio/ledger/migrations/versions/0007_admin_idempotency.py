"""Idempotency keys of the admin API, and the provider payments that failed.

``admin_idempotency_keys`` (the shape ``folio.shared.idempotency`` expects): one row
per (route scope, key), claimed by the first statement of the request's transaction
and completed with the answer in that same transaction. The primary key is what
makes concurrent duplicates wait and then replay; a request that fails rolls its
claim back, so a refused request does not use the key up.

``payment_failures``: each provider payment whose failure the ledger has seen, so an
authorization that arrives after the failure of the same payment (another topic, so
another order) is recognised as stale.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op

revision = "0007"
down_revision = "0006"
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
    op.execute(
        """
        CREATE TABLE payment_failures (
            provider text NOT NULL,
            provider_payment_id text NOT NULL,
            invoice_number text NOT NULL,
            source_event_id uuid,
            reason text,
            failed_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (provider, provider_payment_id)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE payment_failures")
    op.execute("DROP TABLE admin_idempotency_keys")
