"""One parking place for facts that overtook the fact they depend on.

``parked_refunds`` (0002) becomes ``parked_events``: a provider refund waiting for
its payment and a Rotessa reversal (chargeback) waiting for its collection are the
same problem, solved once. ``kind`` says which handler applies the row, ``key`` is
the parked fact's own identity (one row per fact), ``awaits`` the fact it waits
for, ``payload`` what the handler needs to apply it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE parked_events (
            id bigserial PRIMARY KEY,
            kind text NOT NULL CHECK (kind IN ('payment.refunded', 'payment.reversed')),
            key text NOT NULL,
            awaits text NOT NULL,
            payload jsonb NOT NULL,
            source_event_id uuid,
            parked_at timestamptz NOT NULL DEFAULT now(),
            released_at timestamptz,
            UNIQUE (kind, key)
        )
        """
    )
    op.execute(
        "CREATE INDEX parked_events_waiting ON parked_events (kind, awaits)"
        " WHERE released_at IS NULL"
    )
    op.execute(
        """
        INSERT INTO parked_events (kind, key, awaits, payload, source_event_id, parked_at,
                                   released_at)
        SELECT 'payment.refunded', provider || ':' || refund_id,
               provider || ':' || provider_payment_id,
               jsonb_build_object('provider', provider,
                                  'provider_payment_id', provider_payment_id,
                                  'refund_id', refund_id, 'invoice_number', invoice_number,
                                  'amount_minor', amount_minor, 'currency', currency,
                                  'reason', reason),
               source_event_id, parked_at, released_at
        FROM parked_refunds ORDER BY id
        """
    )
    op.execute("DROP TABLE parked_refunds")


def downgrade() -> None:
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
    op.execute(
        """
        INSERT INTO parked_refunds (provider, provider_payment_id, refund_id, invoice_number,
                                    amount_minor, currency, reason, source_event_id, parked_at,
                                    released_at)
        SELECT payload->>'provider', payload->>'provider_payment_id', payload->>'refund_id',
               payload->>'invoice_number', (payload->>'amount_minor')::bigint,
               payload->>'currency', payload->>'reason', source_event_id, parked_at, released_at
        FROM parked_events WHERE kind = 'payment.refunded' ORDER BY id
        """
    )
    op.execute("DROP TABLE parked_events")
