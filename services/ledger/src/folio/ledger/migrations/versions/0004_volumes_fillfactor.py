"""Volumes leave room on each page for their next version.

Every journal write updates its accounts' volume rows (``world`` on every
collection). With full pages an update cannot stay on the row's page, so it
also inserts a new primary-key entry and the index bloats; with free space it
is a HOT update (no index write). Applies to pages written from now on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE volumes SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE volumes RESET (fillfactor)")
