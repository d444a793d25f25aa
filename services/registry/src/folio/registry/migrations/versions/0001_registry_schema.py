"""Registry schema: messaging tables, buildings, units, Beds24, bookings, renewals,
daily status, mortgages and the KPI read model.

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

REGISTRY_DDL = (
    """
    CREATE TABLE buildings (
        id uuid PRIMARY KEY,
        code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{1,31}$'),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        timezone text NOT NULL DEFAULT 'Asia/Riyadh',
        currency char(3) NOT NULL DEFAULT 'SAR',
        city text,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX buildings_listing ON buildings (created_at, id)",
    """
    CREATE TABLE units (
        id uuid PRIMARY KEY,
        building_id uuid NOT NULL REFERENCES buildings (id),
        code text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
        name text,
        status text NOT NULL DEFAULT 'AVAILABLE'
            CHECK (status IN ('AVAILABLE','BLOCKED','MAINTENANCE')),
        monthly_base_rent_minor bigint NOT NULL CHECK (monthly_base_rent_minor >= 0),
        currency char(3) NOT NULL,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (building_id, code)
    )
    """,
    "CREATE INDEX units_listing ON units (created_at, id)",
    "CREATE INDEX units_by_building ON units (building_id, status)",
    # One mapping per unit, and one unit per Beds24 property/room/unit slot.
    """
    CREATE TABLE beds24_map (
        id uuid PRIMARY KEY,
        unit_id uuid NOT NULL UNIQUE REFERENCES units (id),
        beds24_property_id bigint NOT NULL CHECK (beds24_property_id > 0),
        beds24_room_id bigint NOT NULL CHECK (beds24_room_id > 0),
        beds24_unit_number text NOT NULL DEFAULT '1',
        source_of_truth text NOT NULL CHECK (source_of_truth IN ('BEDS24','LOCAL')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (beds24_property_id, beds24_room_id, beds24_unit_number)
    )
    """,
    # Latest Beds24 answer per unit and night, with when we asked (freshness).
    """
    CREATE TABLE beds24_observations (
        unit_id uuid NOT NULL REFERENCES units (id),
        stay_date date NOT NULL,
        occupied boolean NOT NULL,
        observed_at timestamptz NOT NULL,
        PRIMARY KEY (unit_id, stay_date)
    )
    """,
    """
    CREATE TABLE bookings (
        id uuid PRIMARY KEY,
        building_id uuid NOT NULL REFERENCES buildings (id),
        unit_id uuid NOT NULL REFERENCES units (id),
        guest_name text NOT NULL CHECK (length(guest_name) BETWEEN 1 AND 200),
        start_date date NOT NULL,
        end_date date NOT NULL,
        status text NOT NULL DEFAULT 'CONFIRMED' CHECK (status IN ('CONFIRMED','CANCELLED')),
        source text NOT NULL DEFAULT 'LOCAL' CHECK (source IN ('LOCAL','BEDS24')),
        beds24_booking_id bigint UNIQUE,
        renewals_used integer NOT NULL DEFAULT 0 CHECK (renewals_used >= 0),
        max_renewals integer NOT NULL DEFAULT 0 CHECK (max_renewals >= 0),
        renewal_window_days integer NOT NULL DEFAULT 14 CHECK (renewal_window_days >= 0),
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (end_date > start_date)
    )
    """,
    "CREATE INDEX bookings_listing ON bookings (created_at, id)",
    "CREATE INDEX bookings_by_unit ON bookings (unit_id, start_date, end_date)",
    """
    CREATE TABLE booking_extensions (
        id uuid PRIMARY KEY,
        booking_id uuid NOT NULL REFERENCES bookings (id),
        unit_id uuid NOT NULL REFERENCES units (id),
        status text NOT NULL CHECK (status IN
            ('PENDING_APPROVAL','PAYMENT_PENDING','ACTIVE','REJECTED','CANCELLED')),
        requires_beds24_update boolean NOT NULL,
        previous_end_date date NOT NULL,
        new_end_date date NOT NULL,
        amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
        currency char(3) NOT NULL,
        ledger_entry_id text UNIQUE,
        beds24_change_note text,
        decision_reason text,
        requested_by text NOT NULL,
        decided_by text,
        paid_after_cancellation boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (new_end_date > previous_end_date),
        -- The database itself refuses an approved Beds24 extension without a note.
        CHECK (NOT (requires_beds24_update AND status = 'ACTIVE')
               OR length(btrim(coalesce(beds24_change_note, ''))) > 0),
        CHECK (requires_beds24_update OR status <> 'PENDING_APPROVAL')
    )
    """,
    # At most one open extension per booking.
    """
    CREATE UNIQUE INDEX booking_extensions_one_open ON booking_extensions (booking_id)
        WHERE status IN ('PENDING_APPROVAL','PAYMENT_PENDING')
    """,
    "CREATE INDEX booking_extensions_listing ON booking_extensions (created_at, id)",
    """
    CREATE TABLE unit_daily_status (
        unit_id uuid NOT NULL REFERENCES units (id),
        status_date date NOT NULL,
        building_id uuid NOT NULL REFERENCES buildings (id),
        status text NOT NULL
            CHECK (status IN ('OCCUPIED','VACANT','UNKNOWN','BLOCKED','MAINTENANCE')),
        source text NOT NULL CHECK (source IN ('BEDS24','LOCAL')),
        computed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (unit_id, status_date)
    )
    """,
    "CREATE INDEX unit_daily_status_by_building ON unit_daily_status (building_id, status_date)",
    """
    CREATE TABLE mortgages (
        id uuid PRIMARY KEY,
        borrower_name text NOT NULL CHECK (length(borrower_name) BETWEEN 1 AND 200),
        principal_minor bigint NOT NULL CHECK (principal_minor >= 0),
        currency char(3) NOT NULL,
        status text NOT NULL CHECK (status IN ('ACTIVE','PAID_OFF','DEFAULTED','CLOSED')),
        rotessa_schedule_id bigint UNIQUE,
        building_id uuid REFERENCES buildings (id),
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX mortgages_listing ON mortgages (created_at, id)",
    # --- KPI read model, fed only by ledger.entry.changed --------------------
    """
    CREATE TABLE kpi_entries (
        entry_id text PRIMARY KEY,
        invoice_number text NOT NULL,
        building_ref text,
        building_id uuid,
        unit_id text,
        booking_id text,
        extension_id text,
        entry_type text NOT NULL,
        status text NOT NULL,
        amount_minor bigint NOT NULL,
        paid_minor bigint NOT NULL DEFAULT 0,
        currency char(3) NOT NULL,
        due_date date,
        paid_at timestamptz,
        paid_local_date date,
        version integer NOT NULL,
        changed_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX kpi_entries_by_unit ON kpi_entries (unit_id, due_date)",
    "CREATE INDEX kpi_entries_by_building ON kpi_entries (building_id, status)",
    # Occupied units per building and night, refreshed by the snapshot job.
    """
    CREATE TABLE kpi_daily_occupancy (
        building_id uuid NOT NULL REFERENCES buildings (id),
        status_date date NOT NULL,
        occupied_units integer NOT NULL,
        PRIMARY KEY (building_id, status_date)
    )
    """,
    # Pre-aggregated so KPI reads do not grow with the number of entries.
    """
    CREATE TABLE kpi_daily_collections (
        building_id uuid NOT NULL,
        currency char(3) NOT NULL,
        local_date date NOT NULL,
        collected_minor bigint NOT NULL,
        entry_count integer NOT NULL,
        PRIMARY KEY (building_id, currency, local_date)
    )
    """,
    """
    CREATE TABLE kpi_open_receivables (
        building_id uuid NOT NULL,
        currency char(3) NOT NULL,
        status text NOT NULL,
        due_date date NOT NULL,
        amount_minor bigint NOT NULL,
        entry_count integer NOT NULL,
        PRIMARY KEY (building_id, currency, status, due_date)
    )
    """,
)


def upgrade() -> None:
    for statement in (*MESSAGING_DDL, *REGISTRY_DDL):
        op.execute(statement)


def downgrade() -> None:
    # to base: the service's schema is emptied (see DROP_SCHEMA_OBJECTS)
    op.execute(DROP_SCHEMA_OBJECTS)
