"""Journal write path: the ledger check per statement instead of per row.

The foreign key ``transactions.ledger → ledgers.name`` ran one lookup with a
row lock per inserted transaction, about a third of a batch insert's time. The
same rule now holds with one check per statement: an AFTER INSERT statement
trigger refuses a batch naming a missing ledger, and ledgers are append-only
(no UPDATE, DELETE or TRUNCATE — the application never changes or removes
one), so a ledger seen by that check cannot disappear later.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE transactions DROP CONSTRAINT transactions_ledger_fkey")
    op.execute(
        """
        CREATE FUNCTION transactions_ledger_exists() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            missing text;
        BEGIN
            SELECT n.ledger INTO missing
            FROM (SELECT DISTINCT ledger FROM inserted) AS n
            WHERE NOT EXISTS (SELECT 1 FROM ledgers l WHERE l.name = n.ledger)
            LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'ledger % does not exist', missing
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER transactions_ledger_exists AFTER INSERT ON transactions
            REFERENCING NEW TABLE AS inserted
            FOR EACH STATEMENT EXECUTE FUNCTION transactions_ledger_exists()
        """
    )
    op.execute(
        """
        CREATE TRIGGER ledgers_append_only BEFORE UPDATE OR DELETE ON ledgers
            FOR EACH ROW EXECUTE FUNCTION refuse_change()
        """
    )
    op.execute(
        """
        CREATE TRIGGER ledgers_no_truncate BEFORE TRUNCATE ON ledgers
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ledgers_no_truncate ON ledgers")
    op.execute("DROP TRIGGER ledgers_append_only ON ledgers")
    op.execute("DROP TRIGGER transactions_ledger_exists ON transactions")
    op.execute("DROP FUNCTION transactions_ledger_exists()")
    op.execute(
        "ALTER TABLE transactions ADD CONSTRAINT transactions_ledger_fkey"
        " FOREIGN KEY (ledger) REFERENCES ledgers (name)"
    )
