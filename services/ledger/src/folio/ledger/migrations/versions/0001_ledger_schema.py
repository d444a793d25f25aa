"""Ledger schema: messaging tables, receivables, journal, guards.

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

ENTRY_TYPES = "'RENT','RENEWAL_RENT','PROTECTION_FEE','DEPOSIT','CLEANING','PENALTY','REFUND','ADJUSTMENT'"
ENTRY_STATUSES = "'DUE','PENDING','PAID','FAILED','REFUNDED','VOID'"

LEDGER_DDL = (
    # --- receivables -------------------------------------------------------
    f"""
    CREATE TABLE entries (
        id uuid PRIMARY KEY,
        seq bigserial NOT NULL UNIQUE,
        invoice_number text NOT NULL UNIQUE CHECK (invoice_number ~ '^INV-[0-9]{{4}}-[0-9]{{6}}$'),
        entry_type text NOT NULL CHECK (entry_type IN ({ENTRY_TYPES})),
        status text NOT NULL CHECK (status IN ({ENTRY_STATUSES})),
        amount_minor bigint NOT NULL,
        currency char(3) NOT NULL,
        due_date date,
        building_id text,
        unit_id text,
        booking_id text,
        extension_id text UNIQUE,
        parent_entry_id uuid REFERENCES entries (id),
        external_ref text UNIQUE,
        description text,
        paid_minor bigint NOT NULL DEFAULT 0 CHECK (paid_minor >= 0),
        overpaid_minor bigint NOT NULL DEFAULT 0 CHECK (overpaid_minor >= 0),
        paid_at timestamptz,
        metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((entry_type IN ('REFUND','ADJUSTMENT')) = (parent_entry_id IS NOT NULL)),
        CHECK (entry_type = 'ADJUSTMENT' OR amount_minor > 0)
    )
    """,
    "CREATE INDEX entries_status ON entries (status, seq)",
    "CREATE INDEX entries_building ON entries (building_id, seq)",
    "CREATE INDEX entries_unit ON entries (unit_id, seq)",
    "CREATE INDEX entries_booking ON entries (booking_id, seq)",
    "CREATE INDEX entries_due ON entries (due_date, seq)",
    "CREATE INDEX entries_parent ON entries (parent_entry_id)",
    # Gap-free per-year counter: the row lock taken by the increment is held
    # until commit, so a rolled-back creation gives its number back.
    """
    CREATE TABLE invoice_counters (
        year integer PRIMARY KEY,
        last_value integer NOT NULL CHECK (last_value BETWEEN 0 AND 999999)
    )
    """,
    # The database refuses edits of PAID/REFUNDED entries whatever the
    # application does; the one permitted change is PAID -> REFUNDED (refund path).
    f"""
    CREATE FUNCTION entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.status IN ('PAID', 'REFUNDED') THEN
                RAISE EXCEPTION 'entry % is % and cannot be deleted', OLD.invoice_number, OLD.status
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN OLD;
        END IF;
        IF OLD.status = 'REFUNDED'
           OR (OLD.status = 'PAID' AND (
                NEW.status <> 'REFUNDED'
                OR (to_jsonb(NEW) - 'status' - 'version' - 'updated_at')
                   IS DISTINCT FROM (to_jsonb(OLD) - 'status' - 'version' - 'updated_at'))) THEN
            RAISE EXCEPTION 'entry % is % and immutable', OLD.invoice_number, OLD.status
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.status <> OLD.status AND NOT (
               (OLD.status = 'DUE' AND NEW.status IN ('PENDING', 'PAID', 'VOID'))
            OR (OLD.status = 'PENDING' AND NEW.status IN ('PAID', 'FAILED', 'VOID'))
            OR (OLD.status = 'PAID' AND NEW.status = 'REFUNDED')
            OR (OLD.status = 'FAILED' AND NEW.status IN ('PENDING', 'DUE', 'VOID'))) THEN
            RAISE EXCEPTION 'transition % -> % is not allowed', OLD.status, NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER entries_guard BEFORE UPDATE OR DELETE ON entries
        FOR EACH ROW EXECUTE FUNCTION entries_guard()
    """,
    # Every verified payment received, applied or not (kept with its reason).
    """
    CREATE TABLE payments (
        id bigserial PRIMARY KEY,
        provider text NOT NULL,
        provider_payment_id text NOT NULL,
        capture_key text NOT NULL DEFAULT '',
        provider_event_id text NOT NULL,
        source_event_id uuid NOT NULL,
        invoice_number text NOT NULL,
        entry_id uuid REFERENCES entries (id),
        amount_minor bigint NOT NULL,
        currency char(3) NOT NULL,
        applied boolean NOT NULL,
        overpaid_minor bigint NOT NULL DEFAULT 0,
        reason_code text,
        reason text,
        method text,
        verified_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (provider, provider_payment_id, capture_key)
    )
    """,
    "CREATE INDEX payments_invoice ON payments (invoice_number)",
    """
    CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON payments
        FOR EACH ROW EXECUTE FUNCTION refuse_change()
    """,
    # Commands the ledger refused (events), with the reason, for admins.
    """
    CREATE TABLE command_rejections (
        id bigserial PRIMARY KEY,
        source_event_id uuid,
        source_event_type text NOT NULL,
        reference text,
        invoice_number text,
        code text NOT NULL,
        reason text NOT NULL,
        duplicate boolean NOT NULL DEFAULT false,
        payload jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # --- journal ---------------------------------------------------------------
    """
    CREATE TABLE ledgers (
        id serial UNIQUE,
        name text PRIMARY KEY CHECK (name ~ '^[0-9A-Za-z_-]{1,63}$'),
        bucket text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
        features jsonb NOT NULL DEFAULT '{}'::jsonb,
        added_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE SEQUENCE transaction_ids START 1",
    """
    CREATE TABLE transactions (
        ledger text NOT NULL REFERENCES ledgers (name),
        id bigint NOT NULL,
        reference text,
        timestamp timestamptz NOT NULL,
        inserted_at timestamptz NOT NULL,
        postings jsonb NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
        reverts_id bigint,
        source_event_id uuid,
        PRIMARY KEY (ledger, id),
        UNIQUE (ledger, reference)
    )
    """,
    # One row per account side of each posting: point-in-time volumes by
    # effective date or by insertion date are sums over these.
    """
    CREATE TABLE moves (
        ledger text NOT NULL,
        transaction_id bigint NOT NULL,
        address text NOT NULL,
        asset text NOT NULL,
        input bigint NOT NULL,
        output bigint NOT NULL,
        effective_at timestamptz NOT NULL,
        inserted_at timestamptz NOT NULL
    )
    """,
    # One index serves point-in-time sums by effective date, by insertion date (a
    # filter within one account's moves) and the account filter of transaction lists;
    # every extra index here is paid on each journal write.
    "CREATE INDEX moves_account ON moves (ledger, address, asset, effective_at)",
    """
    CREATE TABLE reversions (
        ledger text NOT NULL,
        reverted_id bigint NOT NULL,
        reverting_id bigint NOT NULL,
        reverted_at timestamptz NOT NULL,
        PRIMARY KEY (ledger, reverted_id)
    )
    """,
    """
    CREATE TABLE accounts (
        ledger text NOT NULL,
        address text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
        first_usage timestamptz NOT NULL,
        insertion_date timestamptz NOT NULL,
        PRIMARY KEY (ledger, address)
    )
    """,
    # Current volumes (an aggregate, updated under ordered row locks).
    """
    CREATE TABLE volumes (
        ledger text NOT NULL,
        address text NOT NULL,
        asset text NOT NULL,
        input bigint NOT NULL DEFAULT 0,
        output bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (ledger, address, asset)
    )
    """,
    """
    CREATE TABLE idempotency_keys (
        ledger text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        status_code integer NOT NULL,
        response jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (ledger, key)
    )
    """,
    # Tamper evidence: a hash chain appended by one sealer after commits, so
    # writers never wait on a global lock.
    """
    CREATE TABLE journal_seals (
        seal_seq bigint PRIMARY KEY,
        ledger text NOT NULL,
        transaction_id bigint NOT NULL,
        row_hash text NOT NULL,
        chain_hash text NOT NULL,
        sealed_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (ledger, transaction_id)
    )
    """,
    """
    CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
        FOR EACH ROW EXECUTE FUNCTION refuse_change()
    """,
    """
    CREATE TRIGGER moves_append_only BEFORE UPDATE OR DELETE ON moves
        FOR EACH ROW EXECUTE FUNCTION refuse_change()
    """,
    """
    CREATE TRIGGER reversions_append_only BEFORE UPDATE OR DELETE ON reversions
        FOR EACH ROW EXECUTE FUNCTION refuse_change()
    """,
    """
    CREATE TRIGGER journal_seals_append_only BEFORE UPDATE OR DELETE ON journal_seals
        FOR EACH ROW EXECUTE FUNCTION refuse_change()
    """,
    """
    CREATE FUNCTION refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'TRUNCATE of %.% is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate()
    """,
    """
    CREATE TRIGGER moves_no_truncate BEFORE TRUNCATE ON moves
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate()
    """,
    """
    CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate()
    """,
)


def upgrade() -> None:
    for statement in (*MESSAGING_DDL, *LEDGER_DDL):
        op.execute(statement)


def downgrade() -> None:
    # to base: the service's schema is emptied (see DROP_SCHEMA_OBJECTS)
    op.execute(DROP_SCHEMA_OBJECTS)
