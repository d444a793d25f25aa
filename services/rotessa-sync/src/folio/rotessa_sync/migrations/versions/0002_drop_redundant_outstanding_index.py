"""Drop ``ledger_commands_outstanding``: ``ledger_commands_by_backfill`` already serves it.

The partial index on ``(backfill_id) WHERE state = 'PUBLISHED'`` answers "does this
backfill still wait for the ledger?", and so does a range scan of
``(backfill_id, state)`` at ``state = 'PUBLISHED'``. Every command insert and every
confirmation (which changes ``state``, so it is never a HOT update) paid for both.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ledger_commands_outstanding")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX ledger_commands_outstanding ON ledger_commands (backfill_id)"
        " WHERE state = 'PUBLISHED'"
    )
