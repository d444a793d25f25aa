"""Stored deliveries are evidence: their raw content can never change or disappear.

Admin replays may update a delivery's interpretation (state, reason, invoice) but a
trigger refuses any change to what was received, and any DELETE.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GUARD_DDL = (
    """
    CREATE FUNCTION deliveries_keep_evidence() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'deliveries are never deleted' USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF (NEW.id, NEW.channel, NEW.dedupe_key, NEW.duplicate_of, NEW.received_at,
            NEW.headers, NEW.query, NEW.body, NEW.body_sha256)
           IS DISTINCT FROM
           (OLD.id, OLD.channel, OLD.dedupe_key, OLD.duplicate_of, OLD.received_at,
            OLD.headers, OLD.query, OLD.body, OLD.body_sha256) THEN
            RAISE EXCEPTION 'what a delivery received cannot be changed'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER deliveries_keep_evidence BEFORE UPDATE OR DELETE ON deliveries
        FOR EACH ROW EXECUTE FUNCTION deliveries_keep_evidence()
    """,
)


def upgrade() -> None:
    for statement in GUARD_DDL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER deliveries_keep_evidence ON deliveries")
    op.execute("DROP FUNCTION deliveries_keep_evidence()")
