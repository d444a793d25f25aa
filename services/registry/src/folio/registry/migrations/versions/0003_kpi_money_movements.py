"""KPI read model: one definition of collected and outstanding (issue 11 item 5).

* ``kpi_entries.refunded_minor``: what the ledger reports refunded from the entry.
* ``kpi_money_movements``: every payment (+) and refund (-) on an entry with the
  instant it happened. "Collected" sums them by the building's local date, so a
  partial payment counts when it arrives and a refund lowers the period it
  happens in (before, only entries *currently* PAID counted, on their paid date).
* ``kpi_daily_collections.entry_count`` becomes ``movement_count``.
* Open receivables hold what is still owed (amount - paid + refunded), not amounts.

Rows stored before this revision are carried over as well as they can be: their
payments are dated by ``paid_at`` (else the row's ``changed_at``) and a REFUNDED
row is taken as refunded in full at its ``changed_at``; partial refunds were not
recorded before and are learnt from the entry's next version. Both aggregates are
rebuilt from scratch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = (
    "ALTER TABLE kpi_entries ADD COLUMN refunded_minor bigint NOT NULL DEFAULT 0",
    "UPDATE kpi_entries SET refunded_minor = paid_minor WHERE status = 'REFUNDED'",
    """
    CREATE TABLE kpi_money_movements (
        entry_id text NOT NULL,
        version integer NOT NULL,
        kind text NOT NULL CHECK (kind IN ('PAYMENT','REFUND')),
        building_id uuid,
        currency char(3) NOT NULL,
        amount_minor bigint NOT NULL CHECK (amount_minor <> 0),
        moved_at timestamptz NOT NULL,
        PRIMARY KEY (entry_id, version, kind)
    )
    """,
    "CREATE INDEX kpi_money_movements_by_building ON kpi_money_movements (building_id)",
    """
    INSERT INTO kpi_money_movements
        (entry_id, version, kind, building_id, currency, amount_minor, moved_at)
    SELECT entry_id, version, 'PAYMENT', building_id, currency, paid_minor,
           coalesce(paid_at, changed_at)
    FROM kpi_entries WHERE paid_minor <> 0
    """,
    """
    INSERT INTO kpi_money_movements
        (entry_id, version, kind, building_id, currency, amount_minor, moved_at)
    SELECT entry_id, version, 'REFUND', building_id, currency, -refunded_minor, changed_at
    FROM kpi_entries WHERE refunded_minor <> 0
    """,
    "ALTER TABLE kpi_daily_collections RENAME COLUMN entry_count TO movement_count",
    "DELETE FROM kpi_daily_collections",
    """
    INSERT INTO kpi_daily_collections
        (building_id, currency, local_date, collected_minor, movement_count)
    SELECT m.building_id, m.currency, (m.moved_at AT TIME ZONE b.timezone)::date,
           sum(m.amount_minor), count(*)
    FROM kpi_money_movements m JOIN buildings b ON b.id = m.building_id
    GROUP BY 1, 2, 3
    """,
    "DELETE FROM kpi_open_receivables",
    """
    INSERT INTO kpi_open_receivables
        (building_id, currency, status, due_date, amount_minor, entry_count)
    SELECT building_id, currency, status, coalesce(due_date, DATE '9999-12-31'),
           sum(amount_minor - paid_minor + refunded_minor), count(*)
    FROM kpi_entries
    WHERE building_id IS NOT NULL AND status IN ('DUE', 'PENDING')
    GROUP BY 1, 2, 3, 4
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


#: Back to 0002's read model: collected = entries currently PAID, on their paid date
#: (paid_minor, else the amount); open receivables hold amounts. Movements go.
DOWNGRADE = (
    "DELETE FROM kpi_daily_collections",
    "ALTER TABLE kpi_daily_collections RENAME COLUMN movement_count TO entry_count",
    """
    INSERT INTO kpi_daily_collections
        (building_id, currency, local_date, collected_minor, entry_count)
    SELECT e.building_id, e.currency, (e.paid_at AT TIME ZONE b.timezone)::date,
           sum(CASE WHEN e.paid_minor <> 0 THEN e.paid_minor ELSE e.amount_minor END), count(*)
    FROM kpi_entries e JOIN buildings b ON b.id = e.building_id
    WHERE e.status = 'PAID' AND e.paid_at IS NOT NULL
    GROUP BY 1, 2, 3
    """,
    "DELETE FROM kpi_open_receivables",
    """
    INSERT INTO kpi_open_receivables
        (building_id, currency, status, due_date, amount_minor, entry_count)
    SELECT building_id, currency, status, coalesce(due_date, DATE '9999-12-31'),
           sum(amount_minor), count(*)
    FROM kpi_entries
    WHERE building_id IS NOT NULL AND status IN ('DUE', 'PENDING')
    GROUP BY 1, 2, 3, 4
    """,
    "DROP TABLE kpi_money_movements",
    "ALTER TABLE kpi_entries DROP COLUMN refunded_minor",
)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
