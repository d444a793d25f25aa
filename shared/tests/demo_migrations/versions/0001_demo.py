"""Demo schema for the messaging tests: the messaging tables plus two small tables."""

from alembic import op

from folio.shared.db import MESSAGING_DDL

revision = "0001"
down_revision = None


def upgrade() -> None:
    for statement in MESSAGING_DDL:
        op.execute(statement)
    op.execute("CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL)")
    op.execute(
        "CREATE TABLE effects (event_id uuid NOT NULL, mortgage_id text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
