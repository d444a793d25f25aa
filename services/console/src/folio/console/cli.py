"""python -m folio.console.cli add-user --email E --role R [--name N] [--password P]

Talks to the console's own schema (``DATABASE_URL``; by default the local stack's,
as ``make run`` set it up). Without ``--password`` a strong one is generated and
printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

from folio.console.adapters.uow import ConsoleUnitOfWork
from folio.console.domain.users import Role, UserError
from folio.console.service import accounts
from folio.shared.db import create_engine, create_sessionmaker

SCHEMA = "console"
LOCAL_ADMIN_EMAIL = "admin@folio.local"


def generated_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, ~120 bits


async def add_user(database_url: str, email: str, role: Role, password: str, name: str = ""):
    engine = create_engine(database_url, SCHEMA)
    sessionmaker = create_sessionmaker(engine)
    try:
        return await accounts.create_user(
            lambda: ConsoleUnitOfWork(sessionmaker, producer="console"),
            "cli", email, password, role, name,
        )  # fmt: skip
    finally:
        await engine.dispose()


def ensure_local_admin(database_url: str, state_dir: Path) -> tuple[str, str, bool]:
    """The local stack's admin, created once: (e-mail, password, created now). The
    password is kept under .local/secrets so that every banner can print it."""
    email = LOCAL_ADMIN_EMAIL
    path = state_dir / "secrets" / "console-admin-password"
    kept = path.read_text().strip() if path.exists() else None
    password = kept or generated_password()
    try:
        asyncio.run(add_user(database_url, email, Role.ADMIN, password, "Local admin"))
    except UserError as exc:
        if kept is not None:  # the usual restart: the user and its kept password exist
            return email, kept, False
        # created by a run whose secret file was removed
        raise SystemExit(f"console admin: {exc.message}; remove .local to start afresh") from None
    # new, also when the database was removed but the secret kept: same password again
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password)
    path.chmod(0o600)
    return email, password, True


def _local_database_url() -> str:
    from folio.devstack import stack
    from folio.devstack.services import service
    from folio.shared.migrations import role_url

    spec = service("console")
    admin_url = f"postgresql://postgres@127.0.0.1:{stack.PG_PORT}/{stack.DATABASE}"
    return role_url(admin_url, spec.role, stack.secret_file(f"db-{spec.role}"))


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="folio.console.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="add a console user")
    add.add_argument("--email", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name", default="")
    add.add_argument("--password", help="at least 12 characters (default: generated)")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or _local_database_url()
    password = args.password or generated_password()
    try:
        user = asyncio.run(add_user(database_url, args.email, Role(args.role), password, args.name))
    except UserError as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot reach the console's database ({exc}); is `make run` running?",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"added {user.email} ({user.role.value})")
    if not args.password:
        print(f"password: {password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
