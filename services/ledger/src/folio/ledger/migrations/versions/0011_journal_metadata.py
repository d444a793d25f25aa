"""Metadata changes as journal facts; metadata filters backed by indexes.

* ``metadata_changes``: every SET_METADATA / DELETE_METADATA on a transaction or an
  account, append-only. Its ids come from ``transaction_ids`` (taken after the
  transaction has an id of its own, like the journal's), so the sealer's frontier
  (0006) covers it unchanged and the hash chain seals transactions and metadata
  changes in one order; ``journal_seals.transaction_id`` holds either kind of id.
* ``transactions.current_metadata``: the metadata as changed since creation (NULL:
  never changed). ``metadata`` keeps what the transaction was created with, so the
  sealed row hash stays true; the guard lets only ``current_metadata`` change.
* ``ledgers.metadata`` may change (``PUT /v2/{ledger}/metadata``); nothing else there.
* GIN indexes on the effective metadata of transactions and accounts: ``@>`` ($match)
  and ``?`` ($exists) read the matches, not the ledger.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE transactions ADD COLUMN current_metadata jsonb")
    op.execute(
        """
        CREATE FUNCTION only_column_changes() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- TG_ARGV[0]: the one column an UPDATE may change; everything else is final
            IF TG_OP = 'DELETE' OR (to_jsonb(NEW) - TG_ARGV[0])
                    IS DISTINCT FROM (to_jsonb(OLD) - TG_ARGV[0]) THEN
                RAISE EXCEPTION '% on %.% is not allowed: rows are append-only',
                    TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute("DROP TRIGGER transactions_append_only ON transactions")
    op.execute(
        "CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions "
        "FOR EACH ROW EXECUTE FUNCTION only_column_changes('current_metadata')"
    )
    op.execute("DROP TRIGGER ledgers_append_only ON ledgers")
    op.execute(
        "CREATE TRIGGER ledgers_append_only BEFORE UPDATE OR DELETE ON ledgers "
        "FOR EACH ROW EXECUTE FUNCTION only_column_changes('metadata')"
    )
    op.execute(
        """
        CREATE TABLE metadata_changes (
            ledger text NOT NULL,
            id bigint NOT NULL,
            kind text NOT NULL CHECK (kind IN ('SET_METADATA', 'DELETE_METADATA')),
            target_type text NOT NULL CHECK (target_type IN ('TRANSACTION', 'ACCOUNT')),
            target_id text NOT NULL,
            metadata jsonb,
            key text,
            inserted_at timestamptz NOT NULL,
            PRIMARY KEY (ledger, id),
            CHECK ((kind = 'SET_METADATA') = (metadata IS NOT NULL AND key IS NULL))
        )
        """
    )
    op.execute(
        "CREATE TRIGGER metadata_changes_append_only BEFORE UPDATE OR DELETE ON metadata_changes "
        "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER metadata_changes_no_truncate BEFORE TRUNCATE ON metadata_changes "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate()"
    )
    # A small pending list (256 kB): the journal's writes append to it and it is merged
    # in bulk (with fastupdate off every row's keys went into the tree one by one: about
    # a fifth of the consumer path's tx/s), while a search scans at most 256 kB of it
    # (with the default 4 MB, the planner priced the index above a sequential scan)
    op.execute(
        "CREATE INDEX transactions_metadata ON transactions "
        "USING gin ((coalesce(current_metadata, metadata))) WITH (gin_pending_list_limit = 256)"
    )
    op.execute(
        "CREATE INDEX accounts_metadata ON accounts USING gin (metadata) "
        "WITH (gin_pending_list_limit = 256)"
    )


def downgrade() -> None:
    # the older release has no place for changed metadata: it is dropped with the log
    op.execute("DROP INDEX accounts_metadata")
    op.execute("DROP INDEX transactions_metadata")
    op.execute("DROP TABLE metadata_changes")
    op.execute("DROP TRIGGER ledgers_append_only ON ledgers")
    op.execute(
        "CREATE TRIGGER ledgers_append_only BEFORE UPDATE OR DELETE ON ledgers "
        "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute("DROP TRIGGER transactions_append_only ON transactions")
    op.execute(
        "CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions "
        "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
    )
    op.execute("DROP FUNCTION only_column_changes()")
    op.execute("ALTER TABLE transactions DROP COLUMN current_metadata")
