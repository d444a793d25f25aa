"""beds24_map: one mapping per Beds24 property (seed 003 §5).

The seed's unique constraints are ``beds24_map.unitId`` (one mapping per unit, kept
from 0001) and ``beds24_map.beds24PropertyId`` (one mapping per Beds24 property).
0001 only made (property, room, unit number) unique, so two units could share a
property; that weaker constraint is replaced (it is implied by the new one).

Existing rows that break the rule are not resolved here: which unit keeps the
property is an admin's decision (it changes where that unit's occupancy is read
from). The migration refuses, naming every duplicated property and its units;
remove the extra mappings (``DELETE /api/registry/units/{id}/beds24-map``) and run
it again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NEW_CONSTRAINT = "beds24_map_one_per_property"


class DuplicateBeds24Mappings(RuntimeError):
    """Existing mappings share a Beds24 property; an admin must choose which stays."""


def _triple_constraint(bind) -> str | None:
    """The name Postgres gave 0001's UNIQUE (property, room, unit number)."""
    return bind.execute(
        sa.text(
            """
            SELECT conname FROM pg_constraint
            WHERE conrelid = 'beds24_map'::regclass AND contype = 'u'
              AND cardinality(conkey) = 3
            """
        )
    ).scalar_one_or_none()


def upgrade() -> None:
    bind = op.get_bind()
    # No concurrent mapping may slip in between the check and the constraint.
    op.execute("LOCK TABLE beds24_map IN SHARE ROW EXCLUSIVE MODE")
    duplicates = bind.execute(
        sa.text(
            """
            SELECT beds24_property_id, array_agg(unit_id::text ORDER BY created_at, unit_id)
            FROM beds24_map GROUP BY beds24_property_id HAVING count(*) > 1
            ORDER BY beds24_property_id
            """
        )
    ).all()
    if duplicates:
        listing = "; ".join(
            f"property {prop}: units {', '.join(unit_ids)}" for prop, unit_ids in duplicates
        )
        raise DuplicateBeds24Mappings(
            "cannot make beds24_map.beds24_property_id unique (seed 003 §5: one mapping "
            f"per Beds24 property): {len(duplicates)} properties are mapped to several "
            f"units ({listing}). Keep one mapping per property (DELETE "
            "/api/registry/units/{id}/beds24-map for the others) and migrate again."
        )
    triple = _triple_constraint(bind)
    if triple:
        op.execute(f'ALTER TABLE beds24_map DROP CONSTRAINT "{triple}"')
    op.execute(
        f"ALTER TABLE beds24_map ADD CONSTRAINT {NEW_CONSTRAINT} UNIQUE (beds24_property_id)"
    )


def downgrade() -> None:
    op.execute(f"ALTER TABLE beds24_map DROP CONSTRAINT {NEW_CONSTRAINT}")
    op.execute(
        "ALTER TABLE beds24_map ADD UNIQUE (beds24_property_id, beds24_room_id, beds24_unit_number)"
    )
