"""Journal sealing: a settled frontier, so the sealer reads recent transactions only.

The sealer used to find unsealed transactions with an anti-join of all transactions
against all seals, every run: its cost grew with the journal. Transaction ids are
handed out by a sequence and committed out of order, so "above the highest sealed
id" alone would miss a late commit. The frontier records how far ids are settled:
every transaction at or below ``settled_id`` is committed and sealed, or will never
exist. A candidate (the sequence's value, read before a snapshot whose ``xmax`` is
kept) becomes settled once every transaction running at that snapshot has ended,
because an id is only taken by a transaction that already has an id of its own
(the journal's id statement makes sure of it). The sequence hands out ids one at a
time (``CACHE 1``), so no session holds ids taken earlier for later use.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER SEQUENCE transaction_ids CACHE 1")
    op.execute(
        """
        CREATE TABLE journal_seal_frontier (
            single boolean PRIMARY KEY DEFAULT true CHECK (single),
            settled_id bigint NOT NULL DEFAULT 0,
            candidate_id bigint,
            candidate_xmax xid8
        )
        """
    )
    op.execute("INSERT INTO journal_seal_frontier DEFAULT VALUES")


def downgrade() -> None:
    op.execute("DROP TABLE journal_seal_frontier")
