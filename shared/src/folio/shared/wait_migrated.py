"""``python -m folio.shared.wait_migrated <package> <schema>``: wait until the service's
schema is at the head revision its own package ships, then exit 0.

A Kubernetes initContainer of every service Deployment (deploy/k8s): the init Job creates
topics and then migrates, so a pod of release N starts only once its schema is at release
N's head — never against a schema it was not built for (a rollback downgrades first, see
the README). Reads DATABASE_URL (the service's own role); FOLIO_MIGRATION_WAIT_SECONDS
bounds the wait (default 600).
"""

import asyncio
import os
import sys
import time
from importlib import resources

import asyncpg
from alembic.script import ScriptDirectory

from folio.shared.migrations import alembic_config
from folio.shared.settings import to_plain_url


async def current_revisions(database_url: str, schema: str) -> set[str]:
    conn = await asyncpg.connect(to_plain_url(database_url))
    try:
        table = await conn.fetchval("SELECT to_regclass($1)", f'"{schema}".alembic_version')
        if table is None:
            return set()
        rows = await conn.fetch(f'SELECT version_num FROM "{schema}".alembic_version')
        return {row["version_num"] for row in rows}
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    package, schema = argv if argv is not None else sys.argv[1:]
    location = str(resources.files(package) / "migrations")
    heads = set(ScriptDirectory.from_config(alembic_config(location, "", schema)).get_heads())
    deadline = time.monotonic() + float(os.environ.get("FOLIO_MIGRATION_WAIT_SECONDS", "600"))
    current: set[str] = set()
    while True:  # at least one look, however short the wait
        try:
            current = asyncio.run(current_revisions(os.environ["DATABASE_URL"], schema))
        except (OSError, asyncpg.PostgresError) as error:
            print(f"waiting for the database: {error}", flush=True)
        if current == heads:
            print(f"{schema} is at {', '.join(sorted(heads))}", flush=True)
            return 0
        if time.monotonic() >= deadline:
            break
        time.sleep(2)
    print(
        f"{schema} is at {sorted(current) or 'nothing'}, this image needs {sorted(heads)}: "
        "has the init Job run (or, for a rollback, the downgrade)?",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
