"""Volumes as numeric(38,0): an account's running totals never reach a ceiling.

``world`` (and any busy account) accumulates every amount ever moved through it. As
``bigint`` its volume could be filled — by one accepted /v2 posting of 2^63-1 — after
which every later payment or collection in that asset failed to add to it: the books
could no longer take money. Formance keeps volumes as arbitrary-precision integers;
numeric(38,0) holds the sum of 10^19 maximal (bigint) postings. Single amounts
(moves, postings) stay bigint.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE volumes ALTER COLUMN input TYPE numeric(38,0),"
        " ALTER COLUMN output TYPE numeric(38,0)"
    )


def downgrade() -> None:
    # Refused by PostgreSQL (numeric out of range for bigint) if a volume has grown
    # past bigint since: then the older release cannot hold these books.
    op.execute(
        "ALTER TABLE volumes ALTER COLUMN input TYPE bigint, ALTER COLUMN output TYPE bigint"
    )
