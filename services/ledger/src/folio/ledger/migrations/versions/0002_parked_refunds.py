"""Refunds that arrive before the payment they refund wait here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE parked_refunds (
            id bigserial PRIMARY KEY,
            provider text NOT NULL,
            provider_payment_id text NOT NULL,
            refund_id text NOT NULL,
            invoice_number text NOT NULL,
            amount_minor bigint NOT NULL,
            currency char(3) NOT NULL,
            reason text,
            source_event_id uuid,
            parked_at timestamptz NOT NULL DEFAULT now(),
            released_at timestamptz,
            UNIQUE (provider, refund_id)
        )
        """
    )
    op.execute(
        "CREATE INDEX parked_refunds_waiting ON parked_refunds (provider, provider_payment_id)"
        " WHERE released_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE parked_refunds")
