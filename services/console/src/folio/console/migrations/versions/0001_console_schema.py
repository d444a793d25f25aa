"""Console schema: users, server-side sessions, sign-in failures, audit (append-only).

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from alembic import op

from folio.shared.db import MESSAGING_DDL
from folio.shared.migrations import DROP_SCHEMA_OBJECTS

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CONSOLE_DDL = (
    # One row per console user; the e-mail is unique whatever its case (the database
    # says so, never a read before the write).
    """
    CREATE TABLE users (
        id uuid PRIMARY KEY,
        email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
        display_name text NOT NULL DEFAULT '',
        password_hash text NOT NULL,
        role text NOT NULL CHECK (role IN ('admin', 'finance', 'viewer')),
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        version integer NOT NULL DEFAULT 1,
        CONSTRAINT users_email_unique UNIQUE (email)
    )
    """,
    # A session is known by the SHA-256 of its cookie value: a leaked table row cannot
    # be replayed as a cookie. Ended sessions are kept (ended_at) for the audit trail.
    """
    CREATE TABLE sessions (
        token_hash text PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id),
        csrf_token text NOT NULL,
        created_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        ended_at timestamptz,
        client_address text,
        user_agent text
    )
    """,
    "CREATE INDEX sessions_user ON sessions (user_id) WHERE ended_at IS NULL",
    # Failed sign-ins, one row each, keyed by the normalized e-mail and by the client
    # address: the throttle counts them in a sliding window.
    """
    CREATE TABLE sign_in_failures (
        id bigserial PRIMARY KEY,
        throttle_key text NOT NULL,
        failed_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX sign_in_failures_key ON sign_in_failures (throttle_key, failed_at)",
)


def upgrade() -> None:
    for statement in (*MESSAGING_DDL, *CONSOLE_DDL):
        op.execute(statement)


def downgrade() -> None:
    # to base: the service's schema is emptied (see DROP_SCHEMA_OBJECTS)
    op.execute(DROP_SCHEMA_OBJECTS)
