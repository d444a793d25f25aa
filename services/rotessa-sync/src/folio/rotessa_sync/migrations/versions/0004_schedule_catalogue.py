"""A local catalogue of Rotessa's schedules, for the admin's unlinked-schedule listing.

The listing read every customer from Rotessa on each view (1 + N requests); it now
reads this table, which a background refresh replaces as a whole from Rotessa (its
age is in ``sync_cursor`` under the name ``schedule-catalogue``). Linking still
checks the schedule with Rotessa itself. The partial index serves the lookups of
schedules claimed by a mortgage through the registry (linking's check, the listing).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE schedule_catalogue (
            schedule_id bigint PRIMARY KEY,
            customer_id bigint NOT NULL,
            customer_name text NOT NULL,
            amount_minor bigint NOT NULL,
            currency varchar(3) NOT NULL,
            frequency text NOT NULL,
            process_date date,
            next_process_date date,
            installments integer,
            comment text,
            refreshed_at timestamptz NOT NULL
        )
        """
    )
    # The refresh deletes what Rotessa no longer lists: rows it did not touch.
    op.execute("CREATE INDEX schedule_catalogue_refreshed_at ON schedule_catalogue (refreshed_at)")
    op.execute(
        "CREATE INDEX mortgages_rotessa_schedule_id ON mortgages (rotessa_schedule_id)"
        " WHERE rotessa_schedule_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX mortgages_rotessa_schedule_id")
    op.execute("DROP TABLE schedule_catalogue")
